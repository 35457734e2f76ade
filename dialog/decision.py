"""What the policy decides before any text is spoken, and what it remembers between a visitor's turns."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from dialog.events import Answer, AnswerMode, Choice
from knowledge.retrieval import Candidate, Passage


@dataclass
class Conversation:
    """What a visitor's session remembers between turns (follow-ups, pending choices)."""

    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    last_query: str = ""
    last_faq_id: str | None = None
    last_time: float = 0.0
    pending_choices: tuple[Choice, ...] = ()
    language: str = ""  # the visitor's choice on a multilingual knowledge base; "" = the main language

    def remember(self, answer: Answer) -> None:
        self.last_time = time.monotonic()
        if answer.mode in (AnswerMode.FAQ, AnswerMode.GENERATED) and answer.faq_id:
            self.last_query, self.last_faq_id = answer.query, answer.faq_id
        self.pending_choices = answer.choices if answer.mode == AnswerMode.CLARIFY else ()


@dataclass(frozen=True)
class Decision:
    """What to answer, before any text is generated (what ``kiosk eval`` measures)."""

    mode: AnswerMode
    faq_id: str | None
    score: float | None
    candidates: tuple[Candidate, ...]
    choices: tuple[Choice, ...] = ()
    passages: tuple[Passage, ...] = ()
    related: tuple[str, ...] = ()  # further entries to ground a generated answer on
    reason: str = ""
    query: str = ""
    fixed_text: str = ""  # refusal / small talk / fallback / clarify text
    timings_ms: dict[str, float] = field(default_factory=dict)
