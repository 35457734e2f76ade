"""Typed, frozen events passed between pipeline stages.

Every stage reads events from one queue and writes the next; control events
(:class:`Interrupt`, :class:`Shutdown`) overtake data events. Later stages
(audio, wake, ASR, TTS, avatar) add their events here, so the whole pipeline's
vocabulary stays in one module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base of all pipeline events."""

    control = False


@dataclass(frozen=True)
class Interrupt(Event):
    """Barge-in: cancel the current turn now."""

    reason: str = ""
    control = True


@dataclass(frozen=True)
class Shutdown(Event):
    control = True


@dataclass(frozen=True)
class Error(Event):
    code: str
    message: str


@dataclass(frozen=True)
class AnswerStarted(Event):
    """The dialog decided how to answer; sentences follow."""

    mode: str
    faq_id: str | None
    score: float | None
    choices: tuple[tuple[str, str], ...] = ()  # (faq_id, question) for clarify


@dataclass(frozen=True)
class AnswerSentence(Event):
    """One sentence to speak and caption, as soon as it is ready."""

    text: str
    index: int


@dataclass(frozen=True)
class AnswerFinished(Event):
    """The whole answer, with everything the turn log records."""

    answer: Any  # dialog.policy.Answer
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme of synthesized speech, in seconds from the start of its audio chunk."""

    phoneme: str
    start: float
    end: float


@dataclass(frozen=True)
class TTSAudio(Event):
    """One sentence of synthesized speech with the phoneme timings that drive the mouth."""

    samples: Any  # numpy float32 mono in [-1, 1]
    sample_rate: int
    text: str
    phonemes: tuple[PhonemeTiming, ...] = ()
    index: int = 0

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class WakeDetected(Event):
    t: float  # seconds from the start of the audio stream


@dataclass(frozen=True)
class SpeechStarted(Event):
    t: float


@dataclass(frozen=True)
class SpeechEnded(Event):
    """End of turn detected: ``t`` ends the utterance kept, ``voiced_end`` its last speech, ``detected`` the stream time of the decision.

    ``confident``: the turn ended after the shorter silence because the words so far were a confident question.
    """

    t: float
    truncated: bool = False
    voiced_end: float = 0.0
    detected: float = 0.0
    confident: bool = False


@dataclass(frozen=True)
class StateChanged(Event):
    """The kiosk's turn state (attract, listening, thinking, speaking, follow_up, clarify, handoff, warning)."""

    state: str
    previous: str
    reason: str = ""


@dataclass(frozen=True)
class PlaybackStarted(Event):
    """A sentence was handed to the speaker; ``start_sample`` is the speaker clock where it begins."""

    audio: TTSAudio
    start_sample: int


@dataclass(frozen=True)
class PlaybackFinished(Event):
    """The answer finished playing (``interrupted``: stopped by barge-in)."""

    interrupted: bool = False


@dataclass(frozen=True)
class DeviceChanged(Event):
    """A microphone or speaker changed state (ok, unavailable, closed)."""

    kind: str  # "microphone" | "speaker"
    state: str
    detail: str = ""


@dataclass(frozen=True)
class Transcript(Event):
    """What the visitor said: partial while speaking, final at the end of the turn."""

    text: str
    final: bool
    start: float = 0.0
    end: float = 0.0
