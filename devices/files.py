"""WAV files as microphone and speaker, for headless runs and tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from devices.base import BLOCK, SAMPLE_RATE, AudioSink, AudioSource, resample, to_blocks
from devices.wav import read_wav, write_wav


class WavFileSource(AudioSource):
    """Feeds a WAV file as if it were the microphone: in real time, or as fast as possible."""

    def __init__(self, path: Path, *, realtime: bool = False, tail_silence_s: float = 1.0) -> None:
        samples, rate = read_wav(Path(path))
        self.path = Path(path)
        silence = np.zeros(int(tail_silence_s * SAMPLE_RATE), dtype=np.float32)
        self.samples = np.concatenate([resample(samples, rate), silence])  # let end-of-turn detection finish
        self.realtime = realtime
        self._closed = threading.Event()

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def blocks(self) -> Iterator[np.ndarray]:
        start = time.monotonic()
        for n, block in enumerate(to_blocks(self.samples)):
            if self._closed.is_set():
                return
            if self.realtime:
                delay = start + n * BLOCK / SAMPLE_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield block

    def close(self) -> None:
        self._closed.set()


class WavFileSink(AudioSink):
    """Collects what the kiosk says; the clock advances as audio is 'played' (instantly)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.sample_rate: int | None = None
        self._chunks: list[np.ndarray] = []
        self._played = 0

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        if self.sample_rate is None:
            self.sample_rate = sample_rate
        self._chunks.append(resample(samples, sample_rate, self.sample_rate))
        self._played += len(samples)

    def played_samples(self) -> int:
        return self._played

    def stop(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> bool:
        return True

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        if self.path is not None and self.sample_rate is not None:
            write_wav(self.path, self.audio, self.sample_rate)
