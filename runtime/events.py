"""The visitor's turn: its states, its timed stages and the events the turn loop adds.

The turn loop's ``emit`` carries these together with the speech, dialog and device
events it passes on (see ``core.events`` for the whole vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.events import Event
from speech.events import TTSAudio


class TurnState(StrEnum):
    """Where the kiosk is in a visitor's turn (see the diagram in ``runtime.turn_loop``)."""

    STARTING = "starting"  # models loading
    ATTRACT = "attract"  # nobody there: waiting for the wake phrase or a tap
    LISTENING = "listening"  # the visitor is asking
    THINKING = "thinking"  # the answer is being decided / composed
    SPEAKING = "speaking"
    FOLLOW_UP = "follow_up"  # answered: a further question needs no wake phrase for a while
    CLARIFY = "clarify"  # asked "did you mean ...?": listening for the choice
    HANDOFF = "handoff"  # could not help: pointed to the staff, still listening for a while
    IDLE = "idle"  # a conversation is on screen, nobody is talking
    WARNING = "warning"  # "are you still there?" before the conversation is cleared
    ERROR = "error"  # the answer engines could not start
    STOPPED = "stopped"


LISTENING_STATES = frozenset({TurnState.LISTENING, TurnState.FOLLOW_UP, TurnState.CLARIFY, TurnState.HANDOFF})
BUSY_STATES = frozenset({TurnState.THINKING, TurnState.SPEAKING})


class Stage(StrEnum):
    """A turn's latency marks, in milliseconds from the visitor's last word (the keys of ``timings_ms``)."""

    END_OF_TURN = "end_of_turn_after_speech_end"  # the configured silence, mostly
    ASR_FINAL = "asr_final_after_speech_end"
    ANSWER_READY = "answer_ready_after_speech_end"  # the policy decided
    FIRST_AUDIO = "first_audio_after_speech_end"  # the first sentence reached the speaker's queue


@dataclass(frozen=True)
class StateChanged(Event):
    """The kiosk's turn state changed (``reason``: what caused it, e.g. ``wake``, ``tap``, ``no speech``)."""

    state: TurnState
    previous: TurnState
    reason: str = ""


@dataclass(frozen=True)
class PlaybackStarted(Event):
    """A sentence was handed to the speaker; ``start_sample`` is the speaker clock where it begins."""

    audio: TTSAudio
    start_sample: int


@dataclass(frozen=True)
class PlaybackFinished(Event):
    """The answer finished playing (``interrupted``: stopped by barge-in, Stop or a new question)."""

    interrupted: bool = False


@dataclass(frozen=True)
class TurnFailed(Event):
    """Answering failed; the kiosk went back to waiting. ``code`` is stable (``answer-failed``)."""

    code: str
    message: str


@dataclass(frozen=True)
class LoopStatus:
    """A read-only snapshot of the turn loop for a front end's display timer (cheap: no I/O)."""

    state: TurnState
    language: str  # the language on screen
    voice_language: str  # the language the ASR understands
    voice_input: bool  # can the visitor ask by voice now?
    volume: float
    mic_level: float  # RMS of the last microphone block (0 with no microphone)
    played_samples: int  # the speaker's clock: samples that reached the loudspeaker
    output_latency_s: float  # samples counted as played are heard this much later
    voice: str  # the voice speaking now (piper, espeak-ng)
