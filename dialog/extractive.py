"""Answers taken from a document's passages: the sentence or two that answer the question.

Without the language model (or when its answer is not grounded) a question that a document
passage answers ("When was the Harbor Gallery built?" over an exhibit text) is answered with the
passage's own words: every sentence of the best passages is scored against the question (shared
content words, weighted by how rare they are in the passages, with light stemming), the best
sentence is said, and the next one too when it carries on from it ("It was ...") and the two stay
short. A yes/no question ("Is the vase for sale?") is answered "Yes," or "No," only when one clause of the
best sentence holds every content word of the question ("No" when that clause is negated); otherwise
the sentence is said as it is, without guessing.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.text import GROUNDING_STOPWORDS, split_sentences

_LOGGER = logging.getLogger(__name__)

MAX_WORDS = 45  # two sentences said together stay this short
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_YES_NO = re.compile(
    r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|must)\b", re.IGNORECASE
)
_NEGATION = re.compile(r"\b(not|no|never|none|nobody|nothing|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
_CLAUSES = re.compile(r",?\s+(?:and|but|while|although|whereas)\s+|;\s*|,\s+(?=which\b)", re.IGNORECASE)
_LOWER_FIRST = {"the", "a", "an", "it", "its", "this", "that", "these", "those", "they", "there", "we", "you", "our"}
_CARRIES_ON = re.compile(r"^(it|its|this|these|they|their|he|she|his|her|there|then|later|today)\b", re.IGNORECASE)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in GROUNDING_STOPWORDS and len(w) > 1}


@dataclass(frozen=True)
class Extract:
    passage: str  # the passage the sentences come from (shown on screen)
    sentences: tuple[str, ...]  # what is said
    score: float  # share of the question's content words the said sentences hold, weighted by rarity


def extract(question: str, passages: Sequence[str]) -> Extract | None:
    """The sentence or two of ``passages`` that answer ``question`` best; ``None`` when none shares a word."""
    asked = _content(question)
    by_passage = [split_sentences(p) for p in passages]
    every = [s for sentences in by_passage for s in sentences]
    if not asked or not every:
        return None
    counts = {w: sum(w in _content(s) for s in every) for w in asked}
    weight = {w: math.log(1 + len(every) / (1 + counts[w])) for w in asked}
    total = sum(weight.values())
    best: tuple[float, int, int] | None = None
    for p, sentences in enumerate(by_passage):
        for i, sentence in enumerate(sentences):
            score = sum(weight[w] for w in asked & _content(sentence)) / total
            if score > 0 and (best is None or score > best[0]):
                best = (score, p, i)
    if best is None:
        return None
    score, p, i = best
    sentences = by_passage[p]
    said = [sentences[i]]
    if (
        i + 1 < len(sentences)
        and _CARRIES_ON.match(sentences[i + 1])
        and len(f"{sentences[i]} {sentences[i + 1]}".split()) <= MAX_WORDS
    ):
        said.append(sentences[i + 1])
    said[0] = _yes_no(question, said[0], asked)
    return Extract(passages[p], tuple(said), round(score, 3))


def _yes_no(question: str, sentence: str, asked: set[str]) -> str:
    """``sentence`` with "Yes, " or "No, " in front when it settles the yes/no ``question`` for sure."""
    if not _YES_NO.match(question.strip()) or _NEGATION.search(question):
        return sentence
    clause = next((c for c in _CLAUSES.split(sentence) if asked <= _content(c)), None)
    if clause is None:  # the words asked about are not all in one clause: said as it is
        return sentence
    lead = "No" if _NEGATION.search(clause) else "Yes"
    first = sentence.split(" ", 1)[0]
    if first.lower() in _LOWER_FIRST:
        sentence = f"{first.lower()}{sentence[len(first) :]}"
    return f"{lead}, {sentence}"
