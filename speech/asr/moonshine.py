"""Moonshine tiny (English) through the moonshine-voice library: an encoder-decoder ASR that runs on ONNX Runtime.

The ``moonshine-voice`` wheel pinned in pyproject.toml ships the model itself
(``assets/tiny-en``: encoder, merged decoder, tokenizer; about 44 MB), so it
works offline. Moonshine transcribes a whole utterance at once rather than
streaming: a session keeps the utterance's audio and gives a partial transcript
every :data:`PARTIAL_EVERY_S` of new speech by transcribing what it has so far
(about 25 ms per second of audio on 2 cores). When the listener reports a pause
(:meth:`_Session.pause`, about 0.1 s into the silence) the words so far are
transcribed on a background thread; if the visitor does not resume, that
transcript is the final one, ready by the time the end of turn is decided.

The model takes no vocabulary bias (``set_vocabulary`` is a no-op); its word
error rate on kiosk questions is in bench/voice.py and the README.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from core.errors import SpeechError
from core.models import MOONSHINE_FILES, looks_like_moonshine_model
from devices.base import SAMPLE_RATE
from speech.asr.base import AsrEngine, AsrSession

_LOGGER = logging.getLogger(__name__)

PARTIAL_EVERY_S = 1.0
MIN_AUDIO_S = 0.3  # shorter than this is never a word; moonshine would hallucinate one
# Moonshine was trained on pieces of speech up to about 30 s and repeats itself on longer ones (a 47 s
# recording came out with 256 words for 150), so longer audio is cut at its quietest 50 ms between
# SEGMENT_MIN_S and SEGMENT_MAX_S (the listener's default utterance cap is 15 s; it allows up to 120 s).
SEGMENT_MIN_S, SEGMENT_MAX_S = 12.0, 20.0
# The library would cut its input with its own voice-activity detector and transcribe the pieces apart
# ("Where can I find the … cash machine?" came out as "Where can I find that? Cass machine."); the
# listener has already cut the utterance, so a zero threshold keeps it whole.
OPTIONS = {"vad_threshold": "0.0"}


# It sometimes wraps a question in quotation marks ("'Are you going to be open?'"); a visitor's words are
# never a quotation, and the answer policy and captions are better without them.
_DOUBLE_QUOTES = re.compile(r"[\"\u201c\u201d]")
_SINGLE_QUOTED = re.compile(r"^['\u2018](.*?)['\u2019]?([?.!]?)['\u2019]?$")


def unquote(text: str) -> str:
    text = _DOUBLE_QUOTES.sub("", text).strip()
    quoted = _SINGLE_QUOTED.match(text)
    return "".join(quoted.groups()).strip() if quoted else text


def segments(audio: np.ndarray) -> list[np.ndarray]:
    """``audio`` in pieces of at most :data:`SEGMENT_MAX_S`, each cut in the quietest 50 ms it can be cut."""
    frame = SAMPLE_RATE // 20
    lo, hi = int(SEGMENT_MIN_S * SAMPLE_RATE), int(SEGMENT_MAX_S * SAMPLE_RATE)
    pieces = []
    while len(audio) > hi:
        window = audio[lo:hi]
        n = len(window) // frame
        energy = np.square(window[: n * frame].reshape(n, frame)).mean(axis=1)
        cut = lo + int(np.argmin(energy)) * frame + frame // 2
        pieces.append(audio[:cut])
        audio = audio[cut:]
    return [*pieces, audio]


class _Session(AsrSession):
    def __init__(self, engine: MoonshineAsr) -> None:
        self._engine = engine
        self._blocks: list[np.ndarray] = []
        self._samples = 0
        self._since_partial = 0
        self._cached: tuple[int, str] = (-1, "")
        self._paused: Future[str] | None = None  # transcript of the audio up to the pause
        self._last = ""

    def accept(self, block: np.ndarray) -> str | None:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        self._blocks.append(block)
        self._samples += len(block)
        self._since_partial += len(block)
        if self._since_partial < PARTIAL_EVERY_S * SAMPLE_RATE:
            return None
        self._since_partial = 0
        text = self.partial()
        if text and text != self._last:
            self._last = text
            return text
        return None

    def _audio(self) -> np.ndarray:
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0] if self._blocks else np.zeros(0, dtype=np.float32)

    def partial(self) -> str:
        if self._cached[0] != self._samples:
            # only silence since a pause: the transcript of the audio up to it stands
            paused = self._paused
            text = paused.result() if paused is not None else self._engine.transcribe(self._audio())
            self._cached = (self._samples, text)
        return self._cached[1]

    def pause(self) -> None:
        if self._paused is not None:
            return
        if self._cached[0] == self._samples:
            self._paused = Future()
            self._paused.set_result(self._cached[1])
        else:
            self._paused = self._engine.submit(self._audio())

    def resume(self) -> None:
        self._paused = None  # a running transcription finishes in the background and is dropped

    def finish(self) -> str:
        return self.partial()

    def cancel(self) -> None:
        self._paused = None
        self._blocks = []


class MoonshineAsr(AsrEngine):
    name = "moonshine"

    def __init__(self, *, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)
        if not looks_like_moonshine_model(self.model_dir):
            raise SpeechError(
                f"no moonshine model in {self.model_dir} (expected {', '.join(MOONSHINE_FILES)})",
                code="model-not-found",
            )
        try:
            from moonshine_voice.moonshine_api import ModelArch
            from moonshine_voice.transcriber import Transcriber

            self._transcriber = Transcriber(str(self.model_dir), model_arch=ModelArch.TINY, options=dict(OPTIONS))
        except Exception as exc:  # the library raises its own error types, or OSError for a broken .so
            raise SpeechError(
                f"cannot load the moonshine model from {self.model_dir}: {exc}", code="model-not-found"
            ) from exc
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moonshine")

    def submit(self, audio: np.ndarray) -> Future[str]:
        """Transcribe on the engine's background thread."""
        return self._worker.submit(self.transcribe, audio)

    def transcribe(self, audio: np.ndarray) -> str:
        """The transcript of one utterance (16 kHz float samples), punctuated and cased as moonshine writes it."""
        audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
        texts = []
        for piece in segments(audio):
            if len(piece) < MIN_AUDIO_S * SAMPLE_RATE:
                continue
            with self._lock:
                try:
                    transcript = self._transcriber.transcribe_without_streaming(piece.tolist(), SAMPLE_RATE)
                except Exception as exc:
                    raise SpeechError(f"moonshine failed on {len(piece) / SAMPLE_RATE:.1f} s of speech: {exc}") from exc
            texts += [unquote(line.text) for line in transcript.lines if line.text.strip()]
        return " ".join(t for t in texts if t)

    def session(self) -> AsrSession:
        return _Session(self)
