"""The avatar on the kiosk screen: turn state, queued speech and frames chosen from the audio clock.

The Qt application owns playback; it tells :class:`LiveAvatar` when a sentence
starts playing (``speak``) and, on every display tick, how many samples of it
have been played (``frame``). The mouth is sampled at that audio position, so
it cannot drift from the sound; idle motion uses the tick's wall time, which
only drives blinks and sway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from avatar.pack import AvatarPack
from avatar.rig import AvatarAnimator, RigParams
from avatar.sync import AudioClockSync
from avatar.visemes import VisemeTrack

_LOGGER = logging.getLogger(__name__)


@dataclass
class _Speech:
    track: VisemeTrack
    sync: AudioClockSync
    duration: float


class LiveAvatar:
    """Poses (and, with a renderer, frames) for the live kiosk."""

    def __init__(self, pack: AvatarPack, *, fps: int = 30, seed: int = 0, output_latency_s: float = 0.0) -> None:
        self.pack = pack
        self.fps = fps
        self.animator = AvatarAnimator(pack, seed=seed)
        self.output_latency_s = output_latency_s
        self._speech: _Speech | None = None
        self._renderer = None

    def set_state(self, state: str, now: float) -> None:
        """Turn state: idle, greeting, listening, thinking, speaking (blended over a short transition)."""
        self.animator.set_state(state, now)

    def speak(self, tts_audio: object, now: float) -> None:
        """A sentence (``core.events.TTSAudio``) starts playing now."""
        rate = int(tts_audio.sample_rate)
        duration = len(tts_audio.samples) / rate
        track = VisemeTrack.from_phonemes(tts_audio.phonemes, duration=duration)
        self._speech = _Speech(track, AudioClockSync(rate, self.fps, self.output_latency_s), duration)
        self.animator.set_state("speaking", now)

    def stop(self, now: float) -> None:
        """Barge-in or end of the answer: drop the mouth track at once."""
        self._speech = None
        if self.animator.state == "speaking":
            self.animator.set_state("idle", now)

    def pose(self, now: float, samples_played: int | None = None) -> RigParams:
        """The pose for this tick; ``samples_played`` is the player's counter for the current sentence."""
        mouth = None
        if self._speech is not None and samples_played is not None:
            t = self._speech.sync.mouth_time(samples_played)
            if t <= self._speech.duration + 0.3:
                mouth = self._speech.track.sample(t)
        return self.animator.pose(now, mouth)

    def frame(self, now: float, samples_played: int | None, width: int, height: int):
        """The QImage for this tick at ``width`` x ``height`` (the renderer is created on first use)."""
        if self._renderer is None or (self._renderer.width, self._renderer.height) != (width, height):
            from avatar.render import AvatarRenderer

            self._renderer = AvatarRenderer(self.pack, width, height)
        return self._renderer.render(self.pose(now, samples_played))
