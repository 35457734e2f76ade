"""From microphone blocks to what the visitor asked: wake word → end of turn → ASR.

The wake detector and the end-of-turn detector both see every block. A
question is the speech that follows a wake (in the same breath, "hey kiosk,
where is...", or after a pause, within ``listen_window_s``); with
``require_wake=False`` (tap-to-talk, follow-ups, ``kiosk listen --no-wake``)
every utterance is a question. ``suppress_wake`` lets the turn loop ignore
wakes that are the kiosk's own voice (for example while it says the phrase
itself).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from core.events import Event, SpeechEnded, SpeechStarted, Transcript, WakeDetected
from devices.base import BLOCK, SAMPLE_RATE
from speech.asr.base import AsrEngine
from speech.vad import EndOfTurnDetector, Segment
from speech.wake import WakeWordDetector

_LOGGER = logging.getLogger(__name__)

MIN_QUESTION_S = 0.35


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
    ) -> None:
        if require_wake and wake is None:
            raise ValueError("require_wake needs a wake word detector")
        self.endpoint = endpoint
        self.asr = asr
        self.wake = wake
        self.require_wake = require_wake
        self.listen_window_s = listen_window_s
        self.suppress_wake = suppress_wake
        phrase = wake.phrase if wake else "hey kiosk"
        self._wake_text = re.compile(r"^\s*(" + r"\s+".join(map(re.escape, phrase.split())) + r")\b[\s,.!]*", re.I)
        self.asr_ms: list[float] = []

    def run(self, blocks: Iterable[np.ndarray]) -> Iterator[Event]:
        t = 0.0
        wake_t: float | None = None
        armed_until = -1.0
        for block in blocks:
            t += BLOCK / SAMPLE_RATE
            if self.wake is not None and self.wake.process(block):
                if self.suppress_wake is not None and self.suppress_wake():
                    _LOGGER.debug("wake at %.2f s ignored: the kiosk's own voice", t)
                else:
                    wake_t, armed_until = t, t + self.listen_window_s
                    yield WakeDetected(round(t, 3))
            was_speaking = self.endpoint.in_speech
            segment = self.endpoint.process(block)
            if self.endpoint.in_speech and not was_speaking:
                yield SpeechStarted(round(t, 3))
            if segment is not None:
                yield SpeechEnded(round(segment.end, 3), segment.truncated)
                transcript, consumed = self._question(segment, wake_t, armed_until)
                if transcript is not None:
                    yield transcript
                if consumed:
                    wake_t, armed_until = None, -1.0
        segment = self.endpoint.flush()
        if segment is not None:
            yield SpeechEnded(round(segment.end, 3), segment.truncated)
            transcript, _ = self._question(segment, wake_t, armed_until)
            if transcript is not None:
                yield transcript

    def _question(self, segment: Segment, wake_t: float | None, armed_until: float) -> tuple[Transcript | None, bool]:
        """Transcribe a finished utterance if it is a question; (transcript, whether the wake was used)."""
        samples, start = segment.samples, segment.start
        if self.require_wake:
            if wake_t is None or segment.end <= wake_t or segment.start > armed_until:
                return None, False
            if wake_t > segment.start:  # "hey kiosk, where is ..." in one breath: keep what follows the phrase
                cut = int((wake_t - segment.start) * SAMPLE_RATE)
                samples, start = samples[cut:], wake_t
            if len(samples) / SAMPLE_RATE < MIN_QUESTION_S:
                return None, False  # only the wake phrase so far: keep listening
        began = time.perf_counter()
        text = self.asr.transcribe(samples)
        self.asr_ms.append((time.perf_counter() - began) * 1000)
        text = self._wake_text.sub("", text).strip()
        if not text:
            return None, self.require_wake
        return Transcript(text, True, round(start, 3), round(segment.end, 3)), True
