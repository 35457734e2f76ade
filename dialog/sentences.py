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


def stream_sentences(pieces: Iterable[str]) -> Iterator[str]:
    """Yield each sentence as soon as it is complete; the remainder at the end."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        while True:
            for match in _BOUNDARY.finditer(buffer):
                head = buffer[: match.start(1)]
                if _is_abbreviation(head, buffer[match.end(2) :]):
                    continue
                sentence = buffer[: match.end(1)].strip()
                buffer = buffer[match.end(2) :]
                if sentence:
                    yield sentence
                break
            else:
                break
    tail = buffer.strip()
    if tail:
        yield tail
