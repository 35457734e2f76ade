"""Lips follow the audio clock: the frame to show is chosen from the playback position, never from wall time.

The speaker's clock is the truth: ``samples_played / sample_rate`` is what the
visitor hears now. :func:`frame_for_position` turns that into a frame index;
:class:`AudioClockSync` does it for a live player, adding the output latency
(the samples handed to the device but not yet heard) and, for video, the
presentation delay of the display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def frame_for_position(samples_played: int, sample_rate: int, fps: float) -> int:
    """The video frame whose time span contains the audio position (frame ``i`` covers [i/fps, (i+1)/fps))."""
    if sample_rate <= 0 or fps <= 0:
        raise ValueError("sample_rate and fps must be positive")
    seconds = max(samples_played, 0) / sample_rate
    return math.floor(seconds * fps + 1e-9)


def frame_time(frame: int, fps: float) -> float:
    """Time in seconds at which frame ``frame`` is shown (its start)."""
    return frame / fps


@dataclass(frozen=True)
class AudioClockSync:
    """Chooses the mouth time and frame from a player's sample counter.

    ``output_latency_s``: time from handing samples to the device until they are
    heard (from the audio backend); ``display_latency_s``: time from drawing a
    frame until it is on screen. The mouth is drawn for the audio that will be
    heard when the frame appears.
    """

    sample_rate: int
    fps: float = 30.0
    output_latency_s: float = 0.0
    display_latency_s: float = 0.0

    def heard_position(self, samples_written: int) -> float:
        """Seconds of audio the listener has heard, from the samples written to the device."""
        return max(samples_written / self.sample_rate - self.output_latency_s, 0.0)

    def mouth_time(self, samples_written: int) -> float:
        """The audio time whose mouth shape to draw now."""
        return self.heard_position(samples_written) + self.display_latency_s

    def frame(self, samples_written: int) -> int:
        return math.floor(self.mouth_time(samples_written) * self.fps + 1e-9)


def av_offsets(mouth_times: np.ndarray, audio_times: np.ndarray) -> np.ndarray:
    """Per-frame offset (seconds) between the time a mouth shape was drawn for and the audio heard."""
    return np.asarray(mouth_times, dtype=np.float64) - np.asarray(audio_times, dtype=np.float64)


def simulate_playback_offsets(
    duration_s: float,
    *,
    sample_rate: int = 22050,
    fps: float = 30.0,
    block: int = 512,
    jitter_s: float = 0.004,
    seed: int = 0,
) -> np.ndarray:
    """|audio - mouth| offsets of a simulated player: audio written in blocks, frames drawn on a jittery timer.

    Each frame reads the sample counter and draws the mouth for that position,
    as the kiosk does; the offset is what remains: the block granularity of the
    counter plus nothing from wall-clock drift (the timer jitter does not matter).
    """
    rng = np.random.default_rng(seed)
    n_frames = int(duration_s * fps)
    wall = np.arange(n_frames) / fps + rng.uniform(-jitter_s, jitter_s, n_frames)
    wall = np.clip(wall, 0, None)
    true_samples = wall * sample_rate
    counter = np.floor(true_samples / block) * block  # what the device reports
    sync = AudioClockSync(sample_rate, fps)
    mouth = np.array([sync.mouth_time(int(c)) for c in counter])
    return np.abs(av_offsets(mouth, wall))
