"""Spelling correction of typed questions against a knowledge base's own vocabulary.

A visitor typing on the kiosk's screen swaps letters ("chagres", "passoprt"). The matcher's
embedding and TF-IDF views see such a word as a different word, so the right entry still
ranks first but with too little confidence to be answered. :class:`Speller` is built at index
time from the words of the knowledge base (questions, alternates, answers, document passages)
with their frequencies, and corrects a question's out-of-vocabulary words to the nearest
knowledge-base word: Damerau-Levenshtein (optimal string alignment) distance 1, or 2 for words
of :data:`TWO_EDITS_FROM` letters and more, the most frequent word among the nearest.

It never "corrects" a word the knowledge base uses, a number, a word with digits, a stopword or a
common English word it does not know (``known``: the whole words of the embedding model's
vocabulary), nor such a word with an ending ("fainted", "skates"), so a question about something the knowledge base does not cover keeps its words
("zoo" stays "zoo") and still gets the hand-off.

Candidates are found with symmetric deletes (SymSpell): each vocabulary word is stored under
itself and its one-letter deletions; a typed word looks up itself, its one-letter deletions and,
when long enough, its two-letter deletions, and each candidate found is checked with the real
distance. A swap of two adjacent letters is a one-letter deletion on both sides ("chagres" and
"charges" both give "chares").
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.text import STOPWORDS

_LOGGER = logging.getLogger(__name__)

MIN_LENGTH = 3  # shorter words are never corrected
TWO_EDITS_FROM = 8  # words this long may be two edits away from the word meant ("fainted" is not "fined")
_SUFFIXES = ("ing", "ed", "es", "s", "er", "ers", "ly")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_LETTERS = re.compile(r"^[^\W\d_]+$", re.UNICODE)


def distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance (an adjacent swap is one edit); ``limit + 1`` once above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def words(text: str) -> list[str]:
    """The lower-case words of ``text`` (letters only) that the vocabulary is made of."""
    return [w for w in _TOKEN.findall(text.lower()) if _LETTERS.match(w)]


@functools.lru_cache(maxsize=4)
def known_words(vocab_file: Path | None) -> frozenset[str]:
    """Whole words of a WordPiece ``vocab.txt`` (the embedding model's): common English words, never corrected."""
    if vocab_file is None or not vocab_file.is_file():
        return frozenset()
    try:
        lines = vocab_file.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        _LOGGER.warning(
            "cannot read %s: %s; spelling correction knows only the knowledge base's words", vocab_file, exc
        )
        return frozenset()
    return frozenset(w for w in (line.strip() for line in lines) if len(w) >= MIN_LENGTH and _LETTERS.match(w))


@dataclass
class Speller:
    """A knowledge base's vocabulary with frequencies, and the symmetric-delete index over it."""

    counts: Counter[str]
    known: frozenset[str] = frozenset()
    _index: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, texts: Iterable[str], known: frozenset[str] = frozenset()) -> Speller:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(words(text))
        index: dict[str, list[str]] = {}
        for word in counts:
            if len(word) < MIN_LENGTH:
                continue
            for key in {word} | _deletes(word):
                index.setdefault(key, []).append(word)
        return cls(counts, known, index)

    def __len__(self) -> int:
        return len(self.counts)

    def correct_word(self, word: str) -> str:
        """The knowledge-base word meant by ``word`` (lower case), or ``word`` itself."""
        if (
            len(word) < MIN_LENGTH
            or word in self.counts
            or word in STOPWORDS
            or word in self.known
            or not _LETTERS.match(word)
            or self._inflected(word)
        ):
            return word
        limit = 2 if len(word) >= TWO_EDITS_FROM else 1
        keys = {word} | _deletes(word)
        if limit == 2:
            keys |= {d2 for d1 in _deletes(word) for d2 in _deletes(d1)}
        best: tuple[int, int, str] | None = None
        for key in keys:
            for candidate in self._index.get(key, ()):
                d = distance(word, candidate, limit)
                if d > limit:
                    continue
                rank = (d, -self.counts[candidate], candidate)
                if best is None or rank < best:
                    best = rank
        return word if best is None else best[2]

    def _inflected(self, word: str) -> bool:
        """Whether ``word`` is a known word with an ending ("fainted", "skates", "plumbers"): not a typo."""
        for suffix in _SUFFIXES:
            stem = word[: -len(suffix)]
            if word.endswith(suffix) and len(stem) >= MIN_LENGTH:
                for base in (stem, stem + "e", stem[:-1] if len(stem) > 3 and stem[-1] == stem[-2] else stem):
                    if base in self.known or base in self.counts:
                        return True
        return False

    def correct(self, text: str) -> str:
        """``text`` with its misspelt words corrected (lower-cased where corrected; the rest as typed)."""

        def fix(match: re.Match[str]) -> str:
            typed = match.group(0)
            fixed = self.correct_word(typed.lower())
            return typed if fixed == typed.lower() else fixed

        return _TOKEN.sub(fix, text)
