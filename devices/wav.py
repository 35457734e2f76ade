"""Reading and writing WAV files (16-bit PCM) with the standard library."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from core.errors import AudioError


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM bytes (what the recognizers and WAV files take)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write float samples in [-1, 1] as 16-bit mono PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm16(samples))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Float32 mono samples in [-1, 1] and the sample rate; a clear error for anything else."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except FileNotFoundError as exc:
        raise AudioError(f"{path}: no such file", code="audio-file-invalid") from exc
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path.name}: not a PCM WAV file ({exc})", code="audio-file-invalid") from exc
    if width not in (1, 2, 4):
        raise AudioError(f"{path.name}: unsupported sample width {width * 8} bits", code="audio-file-invalid")
    dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}[width]
    data = np.frombuffer(frames, dtype=dtype).astype(np.float32)
    if width == 1:
        data = (data - 128.0) / 128.0
    else:
        data /= float(2 ** (8 * width - 1))
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate
