"""The avatar on screen and what follows the speaker's clock: the frame, the captions, the frame statistics.

The window's display timer calls :meth:`AvatarView.draw` with the samples the
speaker has played; the mouth shape and the captions are picked from that clock,
so neither can drift from the sound.
"""

from __future__ import annotations

import time
from collections import deque

from PyQt6.QtGui import QImage, QPainter
from PyQt6.QtWidgets import QSizePolicy, QWidget

from runtime.events import TurnState
from speech.events import TTSAudio

FRAME_GAP_MS = 100.0

AVATAR_STATE = {
    TurnState.ATTRACT: "idle",
    TurnState.IDLE: "idle",
    TurnState.WARNING: "idle",
    TurnState.LISTENING: "listening",
    TurnState.FOLLOW_UP: "listening",
    TurnState.CLARIFY: "listening",
    TurnState.HANDOFF: "idle",
    TurnState.THINKING: "thinking",
    TurnState.SPEAKING: "speaking",
}
QUIET_STATES = frozenset({TurnState.ATTRACT, TurnState.IDLE, TurnState.WARNING, TurnState.STARTING})


class FrameStats:
    """Display tick intervals: a gap over 100 ms is a visible stall (a bug).

    Bounded for a kiosk that runs for months: the last 3,000 render times and the
    last 200 stalls (when, monotonic seconds, and how long) are kept.
    """

    def __init__(self) -> None:
        self.last: float | None = None
        self.frames = 0
        self.max_gap_ms = 0.0
        self.gaps_over_100ms = 0
        self.render_ms: deque[float] = deque(maxlen=3000)
        self.stalls: deque[tuple[float, float]] = deque(maxlen=200)

    def tick(self, now: float) -> None:
        if self.last is not None:
            gap = (now - self.last) * 1000
            self.max_gap_ms = max(self.max_gap_ms, gap)
            if gap > FRAME_GAP_MS:
                self.gaps_over_100ms += 1
                self.stalls.append((self.last, gap))
        self.last = now
        self.frames += 1

    def as_dict(self) -> dict[str, float]:
        ordered = sorted(self.render_ms)
        p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0
        return {
            "frames": self.frames,
            "max_gap_ms": round(self.max_gap_ms, 1),
            "gaps_over_100ms": self.gaps_over_100ms,
            "render_p95_ms": round(p95, 2),
        }


class Captions:
    """The answer's sentences, each shown once the speaker's clock reaches its first sample."""

    def __init__(self) -> None:
        self._sentences: list[tuple[int, str]] = []  # (speaker clock at start, sentence)
        self._shown = 0

    def clear(self) -> None:
        self._sentences, self._shown = [], 0

    def add(self, start_sample: int, text: str) -> None:
        self._sentences.append((start_sample, text))

    def due(self, played: int) -> str | None:
        """The caption text if more sentences became due since the last call, else None."""
        if self._shown >= len(self._sentences):
            return None
        due = sum(1 for start, _ in self._sentences if start <= played)
        if due <= self._shown:
            return None
        self._shown = due
        return " ".join(text for _, text in self._sentences[:due])

    def all(self) -> str | None:
        """Every sentence (the answer finished or was stopped), or None if there is none."""
        if not self._sentences:
            return None
        self._shown = len(self._sentences)
        return " ".join(text for _, text in self._sentences)


def fit(width: float, height: float, pack_w: int, pack_h: int) -> tuple[int, int]:
    """The largest even size with the pack's aspect ratio inside ``width`` x ``height``."""
    scale = min(width / pack_w, height / pack_h)
    return max(2, int(pack_w * scale) // 2 * 2), max(2, int(pack_h * scale) // 2 * 2)


class AvatarView(QWidget):
    """Paints the avatar: a frame rendered from the speaker's clock on each display tick."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("avatar")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 160)
        self.image: QImage | None = None
        self.live = None  # avatar.live.LiveAvatar, set once the start-up worker made it
        self._pack = None

    def attach(self, pack, live) -> None:
        """The avatar pack and its live animation (made off the Qt thread: it loads models)."""
        self._pack, self.live = pack, live

    def set_state(self, state: TurnState, reason: str = "") -> None:
        if self.live is not None and state in AVATAR_STATE:
            avatar_state = "greeting" if state == TurnState.LISTENING and reason == "wake" else AVATAR_STATE[state]
            self.live.set_state(avatar_state, time.monotonic())

    def speak(self, audio: TTSAudio, start_sample: int, output_latency_s: float) -> None:
        if self.live is not None:
            self.live.output_latency_s = output_latency_s  # samples counted as played are heard this much later
            self.live.speak(audio, time.monotonic(), start_sample)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop(time.monotonic())

    def draw(self, now: float, played: int, stats: FrameStats, *, quiet: bool) -> None:
        """Render the frame for the speaker clock ``played`` (every other tick while ``quiet``: slow idle motion)."""
        if self.live is None or not self.isVisible() or (quiet and stats.frames % 2):
            return
        ratio = self.devicePixelRatioF()
        width, height = fit(self.width() * ratio, self.height() * ratio, self._pack.width, self._pack.height)
        began = time.perf_counter()
        image = self.live.frame(now, played, width, height)
        stats.render_ms.append((time.perf_counter() - began) * 1000)
        image.setDevicePixelRatio(ratio)
        self.image = image
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.image is None:
            return
        painter = QPainter(self)
        x = (self.width() - self.image.width()) // 2
        y = (self.height() - self.image.height()) // 2
        painter.drawImage(x, y, self.image)
        painter.end()
