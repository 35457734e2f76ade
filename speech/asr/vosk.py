"""vosk (Kaldi) with streaming partial results, biased toward the knowledge base's words when the model allows."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.errors import SpeechError
from devices.wav import pcm16
from speech.asr.base import AsrEngine, AsrSession, normalize_phrase

_LOGGER = logging.getLogger(__name__)


class _Session(AsrSession):
    def __init__(self, recognizer) -> None:
        self._rec = recognizer
        self._final_parts: list[str] = []
        self._last = ""

    def accept(self, block: np.ndarray) -> str | None:
        if self._rec.AcceptWaveform(pcm16(block)):
            text = json.loads(self._rec.Result()).get("text", "")
            if text:
                self._final_parts.append(text)
            partial = " ".join(self._final_parts)
        else:
            partial = self.partial()
        if partial and partial != self._last:
            self._last = partial
            return partial
        return None

    def partial(self) -> str:
        current = json.loads(self._rec.PartialResult()).get("partial", "")
        return " ".join([*self._final_parts, current]).strip()

    def finish(self) -> str:
        text = json.loads(self._rec.FinalResult()).get("text", "")
        return " ".join([*self._final_parts, text]).strip()


class VoskAsr(AsrEngine):
    name = "vosk"

    def __init__(self, *, model_dir: Path) -> None:
        try:
            import vosk

            vosk.SetLogLevel(-1)
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:
            raise SpeechError(f"cannot load vosk model from {model_dir}: {exc}", code="model-not-found") from exc
        self.model_dir = Path(model_dir)
        self._grammar: str | None = None
        self._lock = threading.Lock()

    def set_vocabulary(self, phrases: Iterable[str]) -> None:
        words = sorted({w for p in phrases for w in normalize_phrase(p).split()})
        if not words:
            self._grammar = None
            return
        grammar = json.dumps([" ".join(words), "[unk]"])
        try:
            import vosk

            vosk.KaldiRecognizer(self._model, 16000, grammar)
        except Exception as exc:
            _LOGGER.info(
                "vosk model %s does not take a vocabulary (%s); decoding without bias", self.model_dir.name, exc
            )
            self._grammar = None
            return
        self._grammar = grammar

    def session(self) -> AsrSession:
        import vosk

        with self._lock:
            if self._grammar:
                recognizer = vosk.KaldiRecognizer(self._model, 16000, self._grammar)
            else:
                recognizer = vosk.KaldiRecognizer(self._model, 16000)
        recognizer.SetWords(False)
        return _Session(recognizer)
