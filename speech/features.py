"""Log-mel features shared by the speech and avatar models: 16 kHz, 25 ms windows every 10 ms, 40 bands.

Pure numpy (no torchaudio), so the features are the same wherever they are
computed: in training scripts, in the kiosk, in the simulator.
"""

from __future__ import annotations

import numpy as np

FEATURE_RATE = 16000
HOP = 160  # 10 ms
WINDOW = 400  # 25 ms
N_FFT = 512
N_MELS = 40
FRAME_S = HOP / FEATURE_RATE
SILENCE_LOG = float(np.log(1e-6))


def resample(samples: np.ndarray, rate: int, target: int = FEATURE_RATE) -> np.ndarray:
    """Band-limited resampling (polyphase) to ``target`` Hz."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate == target:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


def _mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = FEATURE_RATE) -> np.ndarray:
    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    mels = np.linspace(hz_to_mel(60.0), hz_to_mel(7600.0), n_mels + 2)
    hz = mel_to_hz(mels)
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    fb = np.zeros((n_mels, len(bins)), dtype=np.float32)
    for i in range(n_mels):
        lo, mid, hi = hz[i], hz[i + 1], hz[i + 2]
        up = (bins - lo) / (mid - lo)
        down = (hi - bins) / (hi - mid)
        fb[i] = np.maximum(0.0, np.minimum(up, down))
    return fb


_FILTERS = _mel_filterbank()
_WINDOW_FN = np.hanning(WINDOW).astype(np.float32)


def log_mel(samples: np.ndarray, rate: int) -> np.ndarray:
    """(frames, N_MELS) log-mel features; frame ``i`` is centred at ``i * 10 ms``."""
    audio = resample(samples, rate)
    n_frames = max(1, int(np.ceil(len(audio) / HOP)))
    pad = WINDOW // 2
    padded = np.pad(audio, (pad, pad + n_frames * HOP - len(audio) + WINDOW))
    idx = np.arange(WINDOW)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = padded[idx] * _WINDOW_FN[None, :]
    spec = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2
    mel = spec.astype(np.float32) @ _FILTERS.T
    return np.log(mel + 1e-6, dtype=np.float32)
