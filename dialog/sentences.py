"""Cut streamed text into sentences, so speech can start on the first one."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# Never end a sentence: titles and "No. 5". May end one when a capital follows: "5 p.m. The".
_TITLES = {"mr", "mrs", "ms", "dr", "st", "no", "nr", "vs", "prof", "mt"}
_SOFT = {
    "etc",
    "e.g",
    "i.e",
    "a.m",
    "p.m",
    "approx",
    "dept",
    "min",
    "max",
    "sat",
    "sun",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
}
_BOUNDARY = re.compile(r"([.!?…]+[\"')\]]*)(\s+)")


def _is_abbreviation(text_before: str, text_after: str) -> bool:
    word = text_before.rsplit(None, 1)[-1].lower().rstrip(".") if text_before.strip() else ""
    if word in _TITLES or (len(word) == 1 and word.isalpha()):
        return True
    return word in _SOFT and not text_after[:1].isupper()


def split_sentences(text: str) -> list[str]:
    """Sentences of a complete text."""
    return list(stream_sentences([text]))


_CLAUSE = re.compile(r"[,;:]\s")


def stream_sentences(pieces: Iterable[str], *, first_clause_words: int = 0) -> Iterator[str]:
    """Yield each sentence as soon as it is complete; the remainder at the end.

    With ``first_clause_words``, the first piece may be a clause: it is cut at
    the first comma (or ; :) that follows at least that many words, so speech
    can start before a long first sentence is finished.
    """
    buffer = ""
    first = first_clause_words > 0
    for piece in pieces:
        buffer += piece
        if first:
            clause = next(
                (m for m in _CLAUSE.finditer(buffer) if len(buffer[: m.start()].split()) >= first_clause_words), None
            )
            if clause is not None and not _BOUNDARY.search(buffer[: clause.end()]):
                first = False
                yield buffer[: clause.start() + 1].strip()
                buffer = buffer[clause.end() :]
                continue
        while True:
            for match in _BOUNDARY.finditer(buffer):
                head = buffer[: match.start(1)]
                if _is_abbreviation(head, buffer[match.end(2) :]):
                    continue
                sentence = buffer[: match.end(1)].strip()
                buffer = buffer[match.end(2) :]
                if sentence:
                    first = False
                    yield sentence
                break
            else:
                break
    tail = buffer.strip()
    if tail:
        yield tail
