"""The audio-to-mouth model: log-mel frames to viseme probabilities and mouth parameters (torch, CPU).

Features: 16 kHz audio, 25 ms windows every 10 ms, 40 log-mel bands (numpy,
no torchaudio). The network is a stack of causal dilated 1-D convolutions; its
output at frame ``n`` describes the mouth at frame ``n - LOOKAHEAD`` (60 ms),
so it never needs more than 60 ms of future audio. A weights file holds the
state dict, the feature normalisation and the configuration.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from avatar.visemes import MOUTH_PARAMS, VISEMES, VisemeTrack
from core.errors import AvatarError
from speech.features import (  # noqa: F401 (re-exported for the training and evaluation scripts)
    FEATURE_RATE,
    FRAME_S,
    HOP,
    N_FFT,
    N_MELS,
    SILENCE_LOG,
    WINDOW,
    log_mel,
    resample,
)

_LOGGER = logging.getLogger(__name__)

LOOKAHEAD = 6  # frames (60 ms)


@dataclass(frozen=True)
class ModelConfig:
    channels: int = 96
    layers: int = 5
    lookahead: int = LOOKAHEAD
    n_mels: int = N_MELS


def build_network(config: ModelConfig):
    """The torch module: causal dilated convolutions with two heads (visemes, mouth parameters)."""
    import torch
    from torch import nn

    class CausalConv(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1) -> None:
            super().__init__()
            self.pad = (kernel - 1) * dilation
            self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(nn.functional.pad(x, (self.pad, 0)))

    class FrameNorm(nn.Module):
        """Layer norm over the channels of each frame on its own (a norm over time would see the future)."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(channels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(x.transpose(1, 2)).transpose(1, 2)

    class Block(nn.Module):
        def __init__(self, channels: int, dilation: int) -> None:
            super().__init__()
            self.conv = CausalConv(channels, channels, 3, dilation)
            self.norm = FrameNorm(channels)
            self.act = nn.GELU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.act(self.norm(self.conv(x)))

    class AudioToMouthNet(nn.Module):
        def __init__(self, cfg: ModelConfig) -> None:
            super().__init__()
            self.cfg = cfg
            self.inp = nn.Sequential(CausalConv(cfg.n_mels, cfg.channels, 5), nn.GELU())
            self.blocks = nn.Sequential(*[Block(cfg.channels, 2 ** (i % 4)) for i in range(cfg.layers)])
            self.visemes = nn.Conv1d(cfg.channels, len(VISEMES), 1)
            self.params = nn.Conv1d(cfg.channels, len(MOUTH_PARAMS), 1)

        def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """feats (B, n_mels, T) normalised -> logits (B, V, T), params (B, P, T); frame n is the mouth at n - lookahead."""
            h = self.blocks(self.inp(feats))
            return self.visemes(h), self.params(h)

    return AudioToMouthNet(config)


class AudioToMouth:
    """Loads the weights and turns audio into a :class:`VisemeTrack` (offline) or frame-by-frame predictions."""

    def __init__(self, net, mean: np.ndarray, std: np.ndarray, config: ModelConfig, meta: dict | None = None) -> None:
        self.net = net.eval()
        self.mean = mean.astype(np.float32)
        self.std = std.astype(np.float32)
        self.config = config
        self.meta = meta or {}

    @classmethod
    def load(cls, path: Path | str) -> AudioToMouth:
        path = Path(path)
        if not path.is_file():
            raise AvatarError(
                f"audio-to-mouth weights not found: {path}",
                code="model-not-found",
                hint="train them with `python -m avatar.train`, or set models.avatar",
            )
        import torch

        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            config = ModelConfig(**blob["config"])
            net = build_network(config)
            net.load_state_dict(blob["state_dict"])
        except Exception as exc:  # a broken or foreign file
            raise AvatarError(f"cannot load audio-to-mouth weights {path}: {exc}", code="avatar-model-invalid") from exc
        torch.set_num_threads(1)  # small convolutions: one thread is fastest and leaves a core to the renderer
        return cls(net, np.asarray(blob["mean"]), np.asarray(blob["std"]), config, blob.get("meta", {}))

    def save(self, path: Path, meta: dict | None = None) -> None:
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {
            "config": asdict(self.config),
            "state_dict": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "meta": meta or self.meta,
        }
        tmp = path.with_suffix(".tmp")
        torch.save(blob, tmp)
        tmp.replace(path)

    def predict_features(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Viseme probabilities (T, V) and mouth parameters (T, P), aligned with the feature frames."""
        import torch

        look = self.config.lookahead
        x = (feats - self.mean) / self.std
        # silence-like padding at the end stands in for the future of the last frames
        silence = (SILENCE_LOG - self.mean) / self.std
        x = np.concatenate([x, np.repeat(silence[None, :], look, axis=0)], axis=0).astype(np.float32)
        with torch.inference_mode():
            logits, params = self.net(torch.from_numpy(x.T[None].copy()))
        probs = torch.softmax(logits[0], dim=0).numpy().T[look:]
        values = params[0].numpy().T[look:]
        return probs, values

    def predict(self, samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, probs, params) for audio samples; times in seconds at 10 ms steps."""
        start = time.perf_counter()
        feats = log_mel(samples, rate)
        probs, values = self.predict_features(feats)
        times = np.arange(len(values)) * FRAME_S
        _LOGGER.debug("audio-to-mouth: %.2f s of audio in %.3f s", len(samples) / rate, time.perf_counter() - start)
        return times, probs, values

    def track(self, samples: np.ndarray, rate: int) -> VisemeTrack:
        """A mouth track for a recording (clipped to the valid parameter ranges, lightly smoothed)."""
        times, _, values = self.predict(samples, rate)
        values = _postprocess(values)
        return VisemeTrack.from_curve(times, values)


def _postprocess(values: np.ndarray) -> np.ndarray:
    low = np.array([0.0 if p != "width" else -1.0 for p in MOUTH_PARAMS], dtype=np.float32)
    out = np.clip(values, low, 1.0)
    if len(out) >= 3:
        kernel = np.array([0.25, 0.5, 0.25], dtype=np.float32)
        padded = np.pad(out, ((1, 1), (0, 0)), mode="edge")
        out = kernel[0] * padded[:-2] + kernel[1] * padded[1:-1] + kernel[2] * padded[2:]
    return out.astype(np.float32)
