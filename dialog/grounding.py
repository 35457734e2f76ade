"""Is a generated sentence supported by the passages it was generated from?

A small model can invent a time, a price or a place. Each generated sentence is
checked before it is spoken: every number in it must occur in the passages, and
most of its content words must too. A sentence that fails stops generation;
if it was the first one, the policy speaks the entry's own text instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")
_WORD = re.compile(r"[a-z]+")
_STOP = set(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "than",
        "so",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "having",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "not",
        "no",
        "yes",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "ours",
        "us",
        "i",
        "me",
        "my",
        "mine",
        "he",
        "she",
        "they",
        "them",
        "their",
        "his",
        "her",
        "him",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "some",
        "each",
        "every",
        "more",
        "most",
        "other",
        "such",
        "only",
        "own",
        "same",
        "too",
        "very",
        "just",
        "also",
        "please",
        "thank",
        "thanks",
        "sure",
        "okay",
        "ok",
        "well",
        "like",
        "get",
        "got",
        "make",
        "made",
        "go",
        "going",
        "come",
        "one",
        "ask",
        "visit",
        "visitors",
        "help",
        "available",
        "find",
        "need",
        "want",
        "let",
        "know",
        "information",
        "service",
        "services",
        "time",
        "today",
        "open",
    ]
)
_FORBIDDEN = re.compile(r"\b(as an ai|language model|system prompt|my instructions|i am an ai|openai|chatgpt)\b", re.I)

MIN_SUPPORT = 0.75


@dataclass(frozen=True)
class Grounding:
    ok: bool
    support: float
    reason: str = ""


def _stem(word: str) -> str:
    return word[:5]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def check_sentence(sentence: str, passages: Sequence[str], question: str = "") -> Grounding:
    if not sentence.strip():
        return Grounding(False, 0.0, "empty")
    if _FORBIDDEN.search(sentence):
        return Grounding(False, 0.0, "talks about itself")
    source = " ".join(passages)
    missing_numbers = _numbers(sentence) - _numbers(source)
    if missing_numbers:
        return Grounding(False, 0.0, f"number(s) not in the passages: {', '.join(sorted(missing_numbers))}")
    known = {_stem(w) for w in _WORD.findall((source + " " + question).lower())}
    words = [w for w in _WORD.findall(sentence.lower()) if w not in _STOP and len(w) > 2]
    if not words:
        return Grounding(True, 1.0)
    support = sum(_stem(w) in known for w in words) / len(words)
    if support < MIN_SUPPORT:
        return Grounding(False, support, f"only {support:.0%} of its words are in the passages")
    return Grounding(True, support)
