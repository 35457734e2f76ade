"""What a knowledge base holds: FAQ entries and longer documents (typed, frozen)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

from knowledge.spoken import spoken_version

MAX_ID = 80
MAX_QUESTION = 500
MAX_ANSWER = 50_000  # a whole web page; what is spoken is short (knowledge.spoken)
MAX_SPOKEN_ANSWER = 5000
MAX_ALTERNATE = 500
MAX_ALTERNATES = 2000

_SLUG = re.compile(r"[^a-z0-9]+")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


def slugify(text: str, limit: int = 60) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _SLUG.sub("-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "entry"


def clean_text(text: str) -> str:
    """Collapse whitespace; keep the words as written."""
    return " ".join(text.split())


@dataclass(frozen=True)
class FaqEntry:
    """One question the kiosk can answer, with the other ways visitors ask it."""

    id: str
    question: str
    answer: str
    spoken_answer: str = ""
    alternates: tuple[str, ...] = ()
    category: str = ""
    language: str = "en"
    enabled: bool = True
    # bookkeeping, filled by the store
    revision: int = 0
    created_at: str = ""
    updated_at: str = ""
    deleted_at: str | None = None

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The question followed by its alternates: everything matching learns from."""
        return (self.question, *self.alternates)

    @property
    def speech(self) -> str:
        """What the avatar says: the operator's ``spoken_answer``, else one made from the answer (short)."""
        return self.spoken_answer or spoken_version(self.answer, self.language)

    @property
    def speech_is_automatic(self) -> bool:
        """Whether :attr:`speech` was made from the answer (shortened or rewritten), not written by the operator."""
        return not self.spoken_answer and self.speech != self.answer.strip()

    def content(self) -> dict[str, object]:
        """The operator-editable fields (what import/export and revisions carry)."""
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "spoken_answer": self.spoken_answer,
            "alternates": list(self.alternates),
            "category": self.category,
            "language": self.language,
            "enabled": self.enabled,
        }

    def problems(self) -> list[str]:
        """Why this entry cannot be stored (empty list: it can)."""
        out = []
        if not self.id:
            out.append("id is empty")
        elif len(self.id) > MAX_ID or not ID_PATTERN.match(self.id):
            out.append(f"id {self.id!r} must be 1-{MAX_ID} letters, digits, '.', '_', ':' or '-'")
        if not self.question.strip():
            out.append("question is empty")
        elif len(self.question) > MAX_QUESTION:
            out.append(f"question is longer than {MAX_QUESTION} characters")
        if not self.answer.strip():
            out.append("answer is empty")
        elif len(self.answer) > MAX_ANSWER:
            out.append(f"answer is longer than {MAX_ANSWER} characters")
        if len(self.spoken_answer) > MAX_SPOKEN_ANSWER:
            out.append(f"spoken_answer is longer than {MAX_SPOKEN_ANSWER} characters")
        if len(self.alternates) > MAX_ALTERNATES:
            out.append(f"more than {MAX_ALTERNATES} alternates")
        long_alts = [a for a in self.alternates if len(a) > MAX_ALTERNATE]
        if long_alts:
            out.append(f"an alternate is longer than {MAX_ALTERNATE} characters")
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", self.language):
            out.append(f"language {self.language!r} is not a language code like 'en'")
        return out

    def normalized(self) -> FaqEntry:
        """Whitespace cleaned, empty and duplicate alternates dropped (first kept)."""
        question = clean_text(self.question)
        seen = {question.casefold()}
        alternates = []
        for raw in self.alternates:
            alt = clean_text(raw)
            if alt and alt.casefold() not in seen:
                seen.add(alt.casefold())
                alternates.append(alt)
        return replace(
            self,
            id=self.id.strip(),
            question=question,
            answer=self.answer.strip(),
            spoken_answer=self.spoken_answer.strip(),
            alternates=tuple(alternates),
            category=clean_text(self.category).lower(),
            language=(self.language or "en").strip(),
        )


@dataclass(frozen=True)
class Document:
    """Longer material that is not Q&A (a house guide, an exhibition text), answered from by chunks."""

    id: str
    title: str
    body: str
    language: str = "en"
    chunks: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class KnowledgeBaseInfo:
    name: str
    title: str
    language: str
    version: int
    faq_count: int
    alternate_count: int
    document_count: int
