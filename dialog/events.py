"""How the kiosk answers: the answer modes, the answer itself and the events that stream it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.events import Event
from knowledge.retrieval import Candidate


class AnswerMode(StrEnum):
    FAQ = "faq"  # an entry's own answer (or several entries', one after the other)
    GENERATED = "generated"  # composed by the LLM from entries or document passages, each sentence grounded
    CLARIFY = "clarify"  # "did you mean ...?" with two or three choices
    FALLBACK = "fallback"  # the polite hand-off (out of scope, refused, not understood)
    SMALLTALK = "smalltalk"  # greetings, thanks, "what can you do"


@dataclass(frozen=True)
class Choice:
    faq_id: str
    question: str


@dataclass(frozen=True)
class Answer:
    text: str  # what the kiosk shows and says (full answer for faq)
    mode: AnswerMode
    faq_id: str | None = None
    score: float | None = None
    candidates: tuple[Candidate, ...] = ()
    choices: tuple[Choice, ...] = ()
    sentences: tuple[str, ...] = ()  # what is spoken, sentence by sentence
    timings_ms: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    query: str = ""  # the text that was matched (after follow-up resolution)

    def to_dict(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "mode": str(self.mode),
            "faq_id": self.faq_id,
            "score": None if self.score is None else round(self.score, 4),
            "candidates": [c.to_dict() for c in self.candidates],
            "choices": [{"faq_id": c.faq_id, "question": c.question} for c in self.choices],
            "sentences": list(self.sentences),
            "reason": self.reason,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class AnswerStarted(Event):
    """The dialog decided how to answer; sentences follow."""

    mode: AnswerMode
    faq_id: str | None
    score: float | None
    choices: tuple[Choice, ...] = ()  # the entries a clarify question offers


@dataclass(frozen=True)
class AnswerSentence(Event):
    """One sentence to speak and caption, as soon as it is ready."""

    text: str
    index: int


@dataclass(frozen=True)
class AnswerFinished(Event):
    """The whole answer, with everything the turn log records."""

    answer: Answer
    timings_ms: dict[str, float] = field(default_factory=dict)
