"""From microphone blocks to what the visitor asked: wake word → end of turn → streaming ASR.

:meth:`Listener.feed` takes one block and returns the events it caused. The
wake detector and the end-of-turn detector see every block; what happens to an
utterance depends on :attr:`Listener.mode`:

- ``wake``: only speech after a wake detection is a question (in the same
  breath, "hey kiosk, where is...", or after a pause within ``listen_window_s``);
- ``open``: every utterance is a question (tap-to-talk, follow-ups,
  ``kiosk listen --no-wake``);
- ``muted``: the kiosk is speaking: utterances are its own voice and are
  dropped; only the wake phrase gets through (barge-in), unless
  ``suppress_wake`` says the kiosk is saying the phrase itself.

Recognition streams: an ASR session opens when a question's speech starts and
gets every block as it arrives (partial transcripts on the way), so the final
transcript costs only the decoder's last step after the end of turn.

A turn ends after the end-of-turn detector's silence (``vad.end_silence_s``),
or sooner: after ``confident_end_silence_s`` of silence the words heard so far
go to ``confident_end``, which returns a future (the turn loop has the answer
policy decide them on a worker thread, never on this one); the listener looks at
the future with every block, and if it says yes while the silence lasts the turn
ends there. A visitor who pauses mid-question ("where is the ... toilet") is not
cut off, because half a question rarely scores that high.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from enum import StrEnum

import numpy as np

from core.errors import SpeechError
from core.events import Event
from devices.base import BLOCK, SAMPLE_RATE
from speech.asr.base import AsrEngine, AsrSession
from speech.events import SpeechEnded, SpeechStarted, Transcript, WakeDetected
from speech.vad import EndOfTurnDetector, Segment
from speech.wake import WakeWordDetector

_LOGGER = logging.getLogger(__name__)

MIN_QUESTION_S = 0.35
BLOCK_S = BLOCK / SAMPLE_RATE
# After this much silence (3 blocks, 96 ms) the ASR session hears that the visitor paused; an engine that
# transcribes whole utterances (moonshine) starts on the words so far while the end of turn is still open.
PAUSE_BLOCKS = 3


class ListenMode(StrEnum):
    WAKE = "wake"  # only speech after the wake phrase is a question
    OPEN = "open"  # every utterance is a question
    MUTED = "muted"  # the kiosk is speaking: only the wake phrase gets through


class Listener:
    def __init__(
        self,
        *,
        endpoint: EndOfTurnDetector,
        asr: AsrEngine,
        wake: WakeWordDetector | None = None,
        require_wake: bool = True,
        listen_window_s: float = 6.0,
        suppress_wake: Callable[[], bool] | None = None,
        confident_end: Callable[[str], Future[bool]] | None = None,
        confident_end_silence_s: float = 0.25,
    ) -> None:
        if require_wake and wake is None:
            raise ValueError("require_wake needs a wake word detector")
        self.endpoint = endpoint
        self.asr = asr
        self.wake = wake
        self.listen_window_s = listen_window_s
        self.suppress_wake = suppress_wake
        self.confident_end = confident_end
        self.confident_end_blocks = max(1, round(confident_end_silence_s / BLOCK_S))
        phrase = wake.phrase if wake else "hey kiosk"
        self._wake_text = re.compile(r"^\s*(" + r"[\s,.!]+".join(map(re.escape, phrase.split())) + r")\b[\s,.!]*", re.I)
        self.t = 0.0  # stream time (seconds) after the last block
        self.level = 0.0  # RMS of the last block, for an input meter
        self.mode = ListenMode.WAKE if require_wake else ListenMode.OPEN
        self._verdict: Future[bool] | None = None  # confident_end's answer on the words at the pause
        self._wake_t: float | None = None
        self._armed_until = -1.0
        self._session: AsrSession | None = None
        self._session_start = 0.0

    # -- control --------------------------------------------------------------
    def set_mode(self, mode: ListenMode | str) -> None:
        """Switch between ``wake``, ``open`` and ``muted`` (the turn loop does this as the kiosk's state changes)."""
        try:
            mode = ListenMode(mode)
        except ValueError:
            raise ValueError(f"unknown listening mode {mode!r}") from None
        if mode == self.mode:
            return
        if mode == ListenMode.MUTED:
            self._abort()
        if self.mode == ListenMode.MUTED:  # what was heard while the kiosk spoke is its own voice: start clean
            self._abort()
            self.endpoint.reset()
        self.mode = mode
        if mode != ListenMode.WAKE:
            self._wake_t, self._armed_until = None, -1.0

    def arm(self) -> None:
        """Treat the next utterance as a question, as if the wake phrase had just been said."""
        self._wake_t, self._armed_until = self.t, self.t + self.listen_window_s

    @property
    def armed(self) -> bool:
        return self.mode == ListenMode.OPEN or (self.mode == ListenMode.WAKE and self._armed_until >= self.t)

    # -- audio ----------------------------------------------------------------
    def feed(self, block: np.ndarray) -> list[Event]:
        """Process one block of :data:`BLOCK` samples; returns the events it caused, in order."""
        events: list[Event] = []
        self.t += BLOCK_S
        self.level = float(np.sqrt(np.mean(np.square(block, dtype=np.float32))))
        woke = False
        if self.wake is not None and self.wake.process(block):
            if self.suppress_wake is not None and self.suppress_wake():
                _LOGGER.debug("wake at %.2f s ignored: the kiosk's own voice", self.t)
            else:
                woke = True
                events.append(WakeDetected(round(self.t, 3)))
                if self.mode == ListenMode.WAKE:
                    self.arm()
        was_speaking = self.endpoint.in_speech
        segment = self.endpoint.process(block)
        if self.mode == ListenMode.MUTED:
            return events
        if self.endpoint.in_speech and not was_speaking:
            events.append(SpeechStarted(round(self.endpoint.start_time, 3)))
            if self.armed:
                self._begin(self.endpoint.current(), self.endpoint.start_time)
        elif self.endpoint.in_speech and self._session is None and woke and self.mode == ListenMode.WAKE:
            # "hey kiosk, where is ..." in one breath: recognize what follows the phrase
            blocks = self.endpoint.current()
            keep = max(0, round((self.t - self.endpoint.start_time) / BLOCK_S) - 1)
            self._begin(blocks[keep:], self.t)
        elif self._session is not None and self.endpoint.in_speech:
            try:
                partial = self._session.accept(block)
            except SpeechError as exc:  # no partial this time; the final transcript is tried at the end
                _LOGGER.warning("partial transcript failed: %s", exc)
                partial = None
            if partial:
                events.append(Transcript(self._strip(partial), False, round(self._session_start, 3), round(self.t, 3)))
            silent = self.endpoint.silence_blocks
            if silent == PAUSE_BLOCKS:
                self._session.pause()
            elif silent == 0:
                self._session.resume()
        confident = segment is None and self._question_complete()
        if confident:
            segment = self.endpoint.end_now()
        if segment is not None:
            events.extend(self._finish(segment, confident=confident))
        return events

    def flush(self) -> list[Event]:
        """The utterance in progress when the stream ends."""
        segment = self.endpoint.flush()
        return self._finish(segment) if segment is not None and self.mode != ListenMode.MUTED else []

    def run(self, blocks: Iterable[np.ndarray]) -> Iterator[Event]:
        """Every event for a stream of blocks (finished questions only: empty transcripts are dropped)."""
        for block in blocks:
            for event in self.feed(block):
                if not (isinstance(event, Transcript) and event.final and not event.text):
                    yield event
        for event in self.flush():
            if not (isinstance(event, Transcript) and not event.text):
                yield event

    # -- internals ------------------------------------------------------------
    def _begin(self, blocks: list[np.ndarray], start: float) -> None:
        self._session = self.asr.session()
        self._session_start = start
        if blocks:
            self._session.accept(np.concatenate(blocks))

    def _abort(self) -> None:
        self._verdict = None
        if self._session is not None:
            try:
                self._session.cancel()
            except Exception as exc:  # the session is being dropped anyway
                _LOGGER.debug("dropping an ASR session: %s", exc)
            self._session = None

    def _strip(self, text: str) -> str:
        return self._wake_text.sub("", text).strip()

    def _question_complete(self) -> bool:
        """During a silence: has ``confident_end`` accepted the words heard when the shorter silence was reached?"""
        if self.confident_end is None or self._session is None or self.mode == ListenMode.MUTED:
            return False
        silent = self.endpoint.silence_blocks
        if silent == 0:  # speaking again: the words at the pause were not the whole question
            self._verdict = None
            return False
        if silent == self.confident_end_blocks and self.t - self._session_start >= MIN_QUESTION_S:
            try:
                text = self._strip(self._session.partial())
                self._verdict = self.confident_end(text) if text else None
            except Exception:  # a failing check must not lose the visitor's question: wait for the full silence
                _LOGGER.exception("confident end-of-turn check failed")
                self._verdict = None
        verdict = self._verdict
        if verdict is None or not verdict.done():
            return False
        self._verdict = None
        try:
            return bool(verdict.result())
        except Exception:
            _LOGGER.exception("confident end-of-turn check failed")
            return False

    def _finish(self, segment: Segment, *, confident: bool = False) -> list[Event]:
        ended = SpeechEnded(
            round(segment.end, 3), segment.truncated, round(segment.voiced_end, 3), round(self.t, 3), confident
        )
        session, self._session = self._session, None
        self._verdict = None
        if session is None:
            return [ended]
        try:
            text = self._strip(session.finish())
        except SpeechError as exc:  # one failed utterance must not stop the microphone: it reads as not understood
            _LOGGER.error("speech recognition failed on an utterance: %s", exc)
            text = ""
        if self.mode == ListenMode.WAKE and segment.end - self._session_start < MIN_QUESTION_S:
            return [ended]  # only the wake phrase so far: stay armed for the question after the pause
        if self.mode == ListenMode.WAKE:
            if not text:
                return [ended]
            self._wake_t, self._armed_until = None, -1.0
        return [ended, Transcript(text, True, round(self._session_start, 3), round(segment.end, 3))]
