"""Audio sources (microphones) and sinks (speakers): one small interface, several backends.

Sources yield float32 mono blocks of :data:`BLOCK` samples at :data:`SAMPLE_RATE`
(what the VAD, wake word and ASR expect). Sinks play float32 audio and expose
their clock: the number of samples actually played, which drives lip sync.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
BLOCK = 512  # 32 ms at 16 kHz: the Silero VAD window


@dataclass(frozen=True)
class DeviceState:
    """What the kiosk shows about a device: ``ok``, ``unavailable`` (retrying) or ``closed``."""

    name: str
    state: str
    detail: str = ""


class AudioSource(ABC):
    """A microphone, or something that behaves like one."""

    sample_rate = SAMPLE_RATE

    @abstractmethod
    def blocks(self) -> Iterator[np.ndarray]:
        """Float32 blocks of ``BLOCK`` samples, until :meth:`close` (or the end of a file)."""

    def state(self) -> DeviceState:
        return DeviceState(type(self).__name__, "ok")

    def close(self) -> None:
        """Stop capturing; :meth:`blocks` ends."""


class AudioSink(ABC):
    """A speaker, or something that behaves like one."""

    @abstractmethod
    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        """Queue audio for playback and return at once."""

    @abstractmethod
    def played_samples(self) -> int:
        """Samples of the queued audio actually played so far (the audio clock)."""

    def written_samples(self) -> int:
        """Samples handed to the device so far: where audio queued now starts on the clock, if nothing is pending.

        Ahead of :meth:`played_samples` by what the device still buffers.
        """
        return self.played_samples()

    @abstractmethod
    def stop(self) -> None:
        """Drop everything queued and go silent now (barge-in)."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> bool:
        """Block until the queue has played out; False on timeout."""

    @property
    def playing(self) -> bool:
        return False

    @property
    def output_latency(self) -> float:
        """Seconds from a sample being counted as played until it is heard (the device's buffering)."""
        return 0.0

    def state(self) -> DeviceState:
        return DeviceState(type(self).__name__, "ok")

    def close(self) -> None:
        """Release the device."""


def to_blocks(samples: np.ndarray, block: int = BLOCK) -> Iterator[np.ndarray]:
    """Cut audio into full blocks, padding the last one with silence."""
    for start in range(0, len(samples), block):
        piece = samples[start : start + block]
        if len(piece) < block:
            piece = np.pad(piece, (0, block - len(piece)))
        yield piece.astype(np.float32, copy=False)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (scipy) to the rate the speech models expect."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)
