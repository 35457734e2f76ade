"""Small engines for fast tests of the turn loop and the answer policy: no model, each records what it got.

The real engines are tested elsewhere with real models; these stand in where a test is about the
logic around them (states, barge-in, follow-ups, clarify, hand-off, errors).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from devices.base import BLOCK, AudioSink
from dialog.llm.base import ChatMessage, GenerationLimits, LlmEngine, LlmError
from knowledge.retrieval import Candidate, MatchResult
from speech.asr.base import AsrEngine, AsrSession
from speech.events import TTSAudio
from speech.tts.base import TtsEngine
from speech.vad import EndOfTurnDetector

VOICE_RATE = 16000
SPEECH = 0.2  # a block at this amplitude is speech for EnergyProbability
WAKE_MARK = 0.7  # ... and a block at this one is the wake phrase for MarkedWake


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Wait for another thread to get somewhere; the timeout is a hang guard, never a speed bound."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def block(value: float = 0.0) -> np.ndarray:
    return np.full(BLOCK, value, dtype=np.float32)


def speech(seconds: float) -> list[np.ndarray]:
    return [block(SPEECH)] * max(1, round(seconds * VOICE_RATE / BLOCK))


def silence(seconds: float) -> list[np.ndarray]:
    return [block(0.0)] * max(1, round(seconds * VOICE_RATE / BLOCK))


class EnergyProbability:
    """Speech probability from the block's level (Silero's place in EndOfTurnDetector)."""

    def __call__(self, samples: np.ndarray) -> float:
        return 1.0 if float(np.abs(samples).max(initial=0.0)) >= SPEECH / 2 else 0.0

    def reset(self) -> None:
        pass


def end_of_turn(end_silence_s: float = 0.6) -> EndOfTurnDetector:
    return EndOfTurnDetector(end_silence_s=end_silence_s, max_utterance_s=15.0, probability=EnergyProbability())


class MarkedWake:
    """The wake phrase is any block at WAKE_MARK."""

    phrase = "hey kiosk"

    def __init__(self) -> None:
        self.heard = 0

    def process(self, samples: np.ndarray) -> bool:
        woke = bool(np.isclose(samples[0], WAKE_MARK))
        self.heard += woke
        return woke


class ScriptedAsr(AsrEngine):
    """Recognizes each utterance as the next text of its script; records how many sessions opened."""

    name = "scripted"

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.sessions = 0
        self.hold: threading.Event | None = None  # set: accept() waits for it (a recognizer busy on a long partial)
        self.holding = threading.Event()

    def session(self) -> AsrSession:
        self.sessions += 1
        return _ScriptedSession(self)


class _ScriptedSession(AsrSession):
    def __init__(self, engine: ScriptedAsr) -> None:
        self._engine = engine
        self.blocks = 0

    def accept(self, samples: np.ndarray) -> str | None:
        self.blocks += 1
        if self._engine.hold is not None:
            self._engine.holding.set()
            self._engine.hold.wait(30)
        return None

    def partial(self) -> str:
        return self._engine.texts[0] if self._engine.texts else ""

    def finish(self) -> str:
        return self._engine.texts.pop(0) if self._engine.texts else ""

    def cancel(self) -> None:
        pass


class FakeVoice(TtsEngine):
    """10 ms of tone per character; records every sentence it said."""

    name = "fake-voice"

    def __init__(self, *, fail_on: str = "", slow_on: str = "") -> None:
        self.said: list[str] = []
        self.fail_on = fail_on
        self.slow_on = slow_on  # a sentence with this text waits for ``go`` (synthesis still running)
        self.slow = threading.Event()
        self.go = threading.Event()

    def synthesize_sentence(self, sentence: str, index: int = 0) -> TTSAudio:
        if self.fail_on and self.fail_on in sentence:
            raise RuntimeError(f"cannot say {sentence!r}")
        if self.slow_on and self.slow_on in sentence:
            self.slow.set()
            self.go.wait(30)
        self.said.append(sentence)
        samples = np.full(max(1, len(sentence)) * VOICE_RATE // 100, 0.1, dtype=np.float32)
        return TTSAudio(samples, VOICE_RATE, sentence, (), index)


class HeldSink(AudioSink):
    """A speaker that plays only when told: ``release()`` lets everything queued play out at once."""

    def __init__(self, *, hold: bool = False) -> None:
        self.hold = hold
        self.written = 0
        self.played = 0
        self.stops = 0
        self.closed = False
        self.chunks: list[int] = []
        self._released = threading.Condition()

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        with self._released:
            self.chunks.append(len(samples))
            self.written += len(samples)
            if not self.hold:
                self.played = self.written

    def release(self) -> None:
        with self._released:
            self.hold = False
            self.played = self.written
            self._released.notify_all()

    def played_samples(self) -> int:
        return self.played

    def written_samples(self) -> int:
        return self.written

    def stop(self) -> None:
        with self._released:
            self.stops += 1
            self.written = self.played
            self._released.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        with self._released:
            return self._released.wait_for(lambda: self.played >= self.written, timeout)

    @property
    def playing(self) -> bool:
        return self.played < self.written

    def close(self) -> None:
        self.closed = True


def candidate(faq_id: str, score: float, question: str = "") -> Candidate:
    return Candidate(faq_id, score, question or faq_id, question or faq_id, score, score, score)


class ScriptedRetriever:
    """Matching by a table: question text → [(entry id, calibrated score), ...]; records what was asked."""

    def __init__(self, table: dict[str, list[tuple[str, float]]], *, ready: bool = True) -> None:
        self.table = {key.lower(): value for key, value in table.items()}
        self.asked: list[str] = []
        self._ready = ready
        self.gate: threading.Event | None = None  # set: match() waits for it (a slow decision)

    def prepare(self, kb: str) -> None:
        pass

    def ensure_prepared(self, kb: str) -> bool:
        return self._ready

    def ready(self, kb: str) -> bool:
        return self._ready

    def match(self, kb: str, text: str, k: int = 5) -> MatchResult:
        if self.gate is not None:
            self.gate.wait(30)
        self.asked.append(text)
        rows = self.table.get(text.lower().strip(" ?!."), [])
        return MatchResult([candidate(faq_id, score) for faq_id, score in rows][:k], [], {"match_total": 0.1})


class ScriptedLlm(LlmEngine):
    """Streams its reply word by word, or raises LlmError; records the prompts."""

    def __init__(self, reply: str = "", *, error: str = "") -> None:
        self.reply = reply
        self.error = error
        self.prompts: list[Sequence[ChatMessage]] = []

    def stream(
        self, messages: Sequence[ChatMessage], *, limits: GenerationLimits, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        self.prompts.append(messages)
        if self.error:
            raise LlmError(self.error)
        for word in self.reply.split(" "):
            if cancel is not None and cancel.is_set():
                return
            yield word + " "


class CountingLlm(LlmEngine):
    """A real engine, with the pieces it streamed counted (did it really generate?)."""

    def __init__(self, engine: LlmEngine) -> None:
        self.engine = engine
        self.calls = 0
        self.pieces: list[str] = []

    def stream(
        self, messages: Sequence[ChatMessage], *, limits: GenerationLimits, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        self.calls += 1
        for piece in self.engine.stream(messages, limits=limits, cancel=cancel):
            self.pieces.append(piece)
            yield piece
