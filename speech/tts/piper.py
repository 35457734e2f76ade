"""Piper TTS with phoneme alignments (``include_alignments=True``) and an on-disk audio cache.

Each sentence becomes one :class:`core.events.TTSAudio` carrying its phonemes
with start/end times in seconds, which the avatar turns into mouth shapes. FAQ
answers repeat, so their audio is cached under ``$KIOSK_HOME/cache/tts``: a
repeated answer starts without synthesis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import numpy as np

from core.errors import TTSError
from speech.events import PhonemeTiming, TTSAudio
from speech.tts.base import TtsEngine

_LOGGER = logging.getLogger(__name__)

CACHE_VERSION = 1


class PiperTts(TtsEngine):
    name = "piper"

    def __init__(
        self,
        *,
        model_path: Path | str,
        speed: float = 1.0,
        volume: float = 1.0,
        cache_dir: Path | None = None,
        variation: float | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.variation = variation  # None: the voice's own; 0: the same audio every time (tests, benchmarks)
        self.speed = speed
        self.volume = volume
        self.cache_dir = cache_dir
        self._voice = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._voice is None:
                if not self.model_path.is_file():
                    raise TTSError(f"piper voice not found: {self.model_path}", code="model-not-found")
                try:
                    from piper import PiperVoice

                    start = time.perf_counter()
                    self._voice = PiperVoice.load(self.model_path, include_alignments=True)
                except Exception as exc:
                    raise TTSError(f"cannot load piper voice {self.model_path.name}: {exc}") from exc
                _LOGGER.info("piper voice %s loaded in %.2f s", self.model_path.name, time.perf_counter() - start)
                self.sample_rate = self._voice.config.sample_rate
        return self._voice

    def warm(self) -> None:
        self._load()

    @property
    def language(self) -> str:
        """The voice's language family from its config (``en`` for en_US), read without loading the voice."""
        try:
            config = json.loads(Path(f"{self.model_path}.json").read_text(encoding="utf-8"))
            return str(config["language"]["family"])
        except (OSError, KeyError, TypeError, ValueError):
            return "en"

    def _cache_path(self, sentence: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = f"v{CACHE_VERSION}|{self.model_path.name}|{self.speed}|{self.volume}|{self.variation}|{sentence}"
        return self.cache_dir / "tts" / f"{hashlib.sha1(key.encode()).hexdigest()}.npz"

    def _from_cache(self, path: Path | None, sentence: str, index: int) -> TTSAudio | None:
        if path is None or not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                timings = json.loads(str(data["phonemes"]))
                return TTSAudio(
                    samples=data["samples"],
                    sample_rate=int(data["rate"]),
                    text=sentence,
                    phonemes=tuple(PhonemeTiming(p, s, e) for p, s, e in timings),
                    index=index,
                )
        except (OSError, KeyError, ValueError) as exc:
            _LOGGER.warning("ignoring unreadable TTS cache entry %s: %s", path.name, exc)
            return None

    def _to_cache(self, path: Path | None, audio: TTSAudio) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            samples=audio.samples,
            rate=np.array(audio.sample_rate),
            phonemes=np.array(json.dumps([[p.phoneme, p.start, p.end] for p in audio.phonemes])),
        )
        tmp.replace(path)

    def synthesize_sentence(self, sentence: str, index: int = 0) -> TTSAudio:
        """One sentence as one audio chunk (cached)."""
        path = self._cache_path(sentence)
        cached = self._from_cache(path, sentence, index)
        if cached is not None:
            return cached
        voice = self._load()
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=1.0 / self.speed,
            volume=self.volume,
            normalize_audio=True,
            noise_scale=self.variation,
            noise_w_scale=self.variation,
        )
        pieces, timings, offset = [], [], 0
        try:
            for chunk in voice.synthesize(sentence, config, include_alignments=True):
                rate = chunk.sample_rate
                for alignment in chunk.phoneme_alignments or []:
                    start = offset / rate
                    offset += int(alignment.num_samples)
                    timings.append(PhonemeTiming(alignment.phoneme, round(start, 4), round(offset / rate, 4)))
                if not chunk.phoneme_alignments:
                    offset += len(chunk.audio_float_array)
                pieces.append(chunk.audio_float_array)
        except Exception as exc:
            raise TTSError(f"synthesis failed for {sentence[:40]!r}: {exc}") from exc
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        audio = TTSAudio(samples.astype(np.float32), voice.config.sample_rate, sentence, tuple(timings), index)
        self._to_cache(path, audio)
        return audio
