"""Is a generated sentence supported by the passages it was generated from?

A small model can invent a time, a price or a place. Each generated sentence is
checked before it is spoken: every number in it must occur in the passages, and
most of its content words must too. A small model also swaps true facts between
the passages it was given ("a day pass is 2 pounds 40", the single fare), so
every clause with a number must also be bound to one passage sentence: one that
holds all of the clause's numbers and most of its content words. It also turns
a "yes" into a "no" ("there are no cash machines next to the supermarket"), so a
clause must not be negated where the passage sentence it repeats is not, or the
other way round; and it loops ("the first and last trains are the first and last
trains"), so a sentence that repeats itself fails too. A sentence that fails stops generation; if it was the first one, the policy speaks the entry's
own text instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")
_CLAUSE = re.compile(r"[,;]|\b(?:and|but|while|whereas|or)\b", re.IGNORECASE)
_PASSAGE_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CONTRAST = re.compile(r"[,;]|\b(?:but|while|whereas)\b", re.IGNORECASE)  # "not between 7 and 9:30" stays whole
_NEGATION = re.compile(r"\b(?:no|not|never|none|nobody|nothing|nowhere|cannot|without)\b|n't\b", re.IGNORECASE)
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
MIN_OVERLAP = 0.5  # share of a clause's content words a passage sentence must hold to count as what it repeats
MIN_BINDING = 0.6  # share of a numbered clause's content words found in the passage sentence holding its numbers


@dataclass(frozen=True)
class Grounding:
    ok: bool
    support: float
    reason: str = ""


def _stem(word: str) -> str:
    return word[:5]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower())}


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]


def unbound_clause(sentence: str, passages: Sequence[str]) -> str | None:
    """The first clause of ``sentence`` whose numbers no single passage sentence states with its words."""
    units = []  # (numbers, word stems) per passage sentence; its passage's first sentence names what "it" is
    for passage in passages:
        parts = _PASSAGE_SENTENCE.split(passage)
        subject = _stems(parts[0])
        units += [(_numbers(part), _stems(part) | subject) for part in parts]
    for clause in _CLAUSE.split(sentence):
        numbers = _numbers(clause)
        if not numbers:
            continue
        words = _content_words(clause)
        best = -1.0
        for unit_numbers, unit_stems in units:
            if numbers <= unit_numbers:
                best = max(best, sum(_stem(w) in unit_stems for w in words) / len(words) if words else 1.0)
        if best < MIN_BINDING:
            return clause.strip()
    return None


def flipped_clause(sentence: str, passages: Sequence[str]) -> str | None:
    """The first clause negated where the passage sentences it repeats are not (or the other way round)."""
    units = [(_stems(part), bool(_NEGATION.search(part))) for p in passages for part in _PASSAGE_SENTENCE.split(p)]
    for clause in _CONTRAST.split(sentence):
        words = _content_words(clause)
        negated = bool(_NEGATION.search(clause))
        if not units or not words or (len(words) < 2 and not negated):  # "yes, the cafe": too little to compare
            continue
        overlaps = [sum(_stem(w) in stems for w in words) / len(words) for stems, _ in units]
        best = max(overlaps)
        if best < MIN_OVERLAP:
            continue  # says something the passages do not: the sentence's support decides
        polarities = {negated for (_, negated), overlap in zip(units, overlaps, strict=True) if overlap == best}
        if negated not in polarities:
            return clause.strip()
    return None


def _repeats_itself(sentence: str) -> bool:
    words = _WORD.findall(sentence.lower())
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    return len(set(trigrams)) < len(trigrams)


def check_sentence(sentence: str, passages: Sequence[str], question: str = "") -> Grounding:
    if not sentence.strip():
        return Grounding(False, 0.0, "empty")
    if _FORBIDDEN.search(sentence):
        return Grounding(False, 0.0, "talks about itself")
    source = " ".join(passages)
    missing_numbers = _numbers(sentence) - _numbers(source)
    if missing_numbers:
        return Grounding(False, 0.0, f"number(s) not in the passages: {', '.join(sorted(missing_numbers))}")
    clause = unbound_clause(sentence, passages)
    if clause is not None:
        return Grounding(False, 0.0, f"no passage sentence says {clause!r}")
    if _repeats_itself(sentence):
        return Grounding(False, 0.0, "repeats itself")
    clause = flipped_clause(sentence, passages)
    if clause is not None:
        return Grounding(False, 0.0, f"turns the passages' yes or no around in {clause!r}")
    known = _stems(source + " " + question)
    words = _content_words(sentence)
    if not words:  # "Yes, I am.": nothing in it can be checked, and nothing in it answers
        return Grounding(False, 0.0, "says nothing from the passages")
    support = sum(_stem(w) in known for w in words) / len(words)
    if support < MIN_SUPPORT:
        return Grounding(False, support, f"only {support:.0%} of its words are in the passages")
    return Grounding(True, support)
