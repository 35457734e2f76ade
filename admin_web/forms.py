"""What an entry editor's form and an import upload become, shared by the kiosk's admin app and the fleet's pages.

Both apps edit the same :class:`~knowledge.entries.FaqEntry` with the same fields, and read import files with
``kiosk kb import``'s parsers; one place turns their requests into entries so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Form

from admin_web.security import UPLOAD_BODY_LIMIT
from knowledge.entries import FaqEntry
from knowledge.io import PARSERS, ImportFailedError, ParseResult, decode, detect_format

MAX_IMPORT_BYTES = UPLOAD_BODY_LIMIT - 64 * 1024  # the file itself, within the upload's body limit
MAX_IMPORT_MB = MAX_IMPORT_BYTES // (1 << 20)


def form_lines(text: str) -> tuple[str, ...]:
    """A textarea's non-empty lines, stripped (one alternate a line)."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _form_entry(
    question: Annotated[str, Form()] = "",
    answer: Annotated[str, Form()] = "",
    spoken_answer: Annotated[str, Form()] = "",
    alternates: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "en",
    enabled: Annotated[str, Form()] = "",
) -> FaqEntry:
    """The entry editor's fields, for creating and editing alike; the handler sets the id (a form field when
    creating, the URL's when editing)."""
    return FaqEntry(
        id="",
        question=question,
        answer=answer,
        spoken_answer=spoken_answer,
        alternates=form_lines(alternates),
        category=category,
        language=language.strip() or "en",
        enabled=enabled in ("1", "on", "true"),
    )


EntryForm = Annotated[FaqEntry, Depends(_form_entry)]


def parse_upload(data: bytes, filename: str, fmt: str) -> tuple[ParseResult, list[str]]:
    """An uploaded import file parsed (never written): the rows, and what makes the whole file unusable
    (too large, an unknown format or encoding, no entries); row problems stay in the result."""
    problems: list[str] = []
    result = ParseResult()
    if len(data) > MAX_IMPORT_BYTES:
        problems.append(f"The file is larger than {MAX_IMPORT_MB} MB.")
    else:
        try:
            kind = detect_format(Path(filename), fmt or None)
            result = PARSERS[kind](decode(data, filename))
        except ImportFailedError as exc:
            problems.append(exc.message)
    if not problems and not result.entries and not result.problems:
        problems.append("No entries found in the file.")
    return result, problems
