"""A small trained wake-phrase detector ("hey kiosk"): log-mel window → probability that the phrase just ended.

The network sees the last :data:`WINDOW_S` seconds (40 log-mel bands every
10 ms) and is evaluated every :data:`STRIDE_BLOCKS` microphone blocks; it is
trained by ``python -m speech.train_wake`` on speech this project synthesizes
(espeak-ng voices and piper, with noise, reverberation and gain changes) and
on near misses, so it works for voices the pocketsphinx keyword spotter
misses. The weights file holds the phrase it was trained for, the feature
normalisation, and the threshold chosen on held-out voices.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.errors import SpeechError
from devices.base import BLOCK, SAMPLE_RATE
from speech.features import N_MELS, log_mel

_LOGGER = logging.getLogger(__name__)

WINDOW_S = 1.2
WINDOW_FRAMES = 120
STRIDE_BLOCKS = 2  # evaluate every 64 ms
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "wake_hey_kiosk.pt"


def build_network(channels: int = 64):
    """Conv1d over time (mel bands as channels), max over time, one logit."""
    import torch
    from torch import nn

    class WakeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv1d(N_MELS, channels, 5, padding=2),
                nn.BatchNorm1d(channels),
                nn.ReLU(),
                nn.MaxPool1d(2),
                nn.Conv1d(channels, channels, 5, padding=2),
                nn.BatchNorm1d(channels),
                nn.ReLU(),
                nn.MaxPool1d(2),
                nn.Conv1d(channels, channels, 5, padding=4, dilation=2),
                nn.BatchNorm1d(channels),
                nn.ReLU(),
            )
            self.head = nn.Linear(2 * channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N_MELS, T) → (B,)
            h = self.body(x)
            tail = h[:, :, -6:].mean(dim=2)  # the phrase must end at the window's end
            return self.head(torch.cat([h.amax(dim=2), tail], dim=1)).squeeze(1)

    return WakeNet()


def sensitivity_to_threshold(sensitivity: float, base: float) -> float:
    """0.5 → the trained threshold; 0 → stricter, 1 → more eager (logit space)."""
    return base + (0.5 - sensitivity) * 6.0


class WakeModel:
    """The trained network with its normalisation (loaded once, shared by detectors)."""

    def __init__(self, path: Path = DEFAULT_WEIGHTS) -> None:
        import torch

        if not Path(path).is_file():
            raise SpeechError(
                f"the wake model {path} is missing", code="model-not-found", hint="python -m speech.train_wake"
            )
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise SpeechError(f"cannot load the wake model {path}: {exc}", code="model-not-found") from exc
        self.phrase: str = data["phrase"]
        self.threshold: float = float(data["threshold"])
        self.mean = np.asarray(data["mean"], dtype=np.float32)[:, None]
        self.std = np.asarray(data["std"], dtype=np.float32)[:, None]
        self.net = build_network(data.get("channels", 64))
        self.net.load_state_dict(data["state"])
        self.net.eval()
        self.path = Path(path)

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """(B, WINDOW_FRAMES, N_MELS) log-mel windows → (B,) logits."""
        import torch

        if torch.get_num_threads() != 1:  # one small window: a second thread only spins (measured 10x slower)
            torch.set_num_threads(1)
        x = (np.transpose(windows, (0, 2, 1)) - self.mean) / self.std
        with torch.inference_mode():
            return self.net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


class NeuralWakeDetector:
    """Same interface as :class:`speech.wake.WakeWordDetector`: ``process(block)`` is True where the phrase ends."""

    def __init__(
        self, *, model: WakeModel, sensitivity: float = 0.5, refractory_s: float = 2.0, confirm: int = 2
    ) -> None:
        self.model = model
        self.phrase = model.phrase
        self.threshold = sensitivity_to_threshold(sensitivity, model.threshold)
        self.refractory_blocks = round(refractory_s * SAMPLE_RATE / BLOCK)
        self.confirm = confirm
        self._audio = np.zeros(int(WINDOW_S * SAMPLE_RATE) + 400, dtype=np.float32)
        self._blocks = 0
        self._since_wake = self.refractory_blocks
        self._hits = 0
        self.last_logit = -99.0

    def process(self, block: np.ndarray) -> bool:
        self._audio = np.concatenate([self._audio[len(block) :], block.astype(np.float32, copy=False)])
        self._blocks += 1
        self._since_wake += 1
        if self._blocks % STRIDE_BLOCKS:
            return False
        if float(np.abs(block).max(initial=0.0)) < 1e-4 and self._hits == 0:
            return False  # digital silence: nothing to hear
        feats = log_mel(self._audio, SAMPLE_RATE)[-WINDOW_FRAMES - 2 : -2]  # the last frames are half padding
        self.last_logit = float(self.model.logits(feats[None])[0])
        self._hits = self._hits + 1 if self.last_logit >= self.threshold else 0
        if self._hits >= self.confirm and self._since_wake >= self.refractory_blocks:
            self._hits = 0
            self._since_wake = 0
            return True
        return False

    def close(self) -> None:
        """Nothing to release (same interface as the pocketsphinx detector)."""
