"""What the listener hears and what the voice says: the speech stages' events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.events import Event


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
class Transcript(Event):
    """What the visitor said: partial while speaking, final at the end of the turn."""

    text: str
    final: bool
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme of synthesized speech, in seconds from the start of its audio chunk."""

    phoneme: str
    start: float
    end: float


@dataclass(frozen=True)
class TTSAudio(Event):
    """One sentence of synthesized speech with the phoneme timings that drive the mouth."""

    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    text: str
    phonemes: tuple[PhonemeTiming, ...] = ()
    index: int = 0

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate
