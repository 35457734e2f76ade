"""The avatar on the kiosk screen: turn state, queued speech and frames chosen from the audio clock.

The turn loop queues sentences on the speaker and tells :class:`LiveAvatar`
where each one starts on the speaker's clock (``speak``); on every display
tick the window passes the clock (samples played so far) to ``frame``. The mouth is sampled at that audio position, so
it cannot drift from the sound; idle motion uses the tick's wall time, which
only drives blinks and sway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from avatar.pack import AvatarPack
from avatar.rig import AvatarAnimator, RigParams
from avatar.sync import AudioClockSync
from avatar.visemes import VisemeTrack

_LOGGER = logging.getLogger(__name__)


@dataclass
class _Speech:
    track: VisemeTrack | None  # None while the audio-to-mouth network works on audio without timings
    start: int  # speaker clock (samples) where the sentence begins
    end: int
    sync: AudioClockSync
    duration: float


class LiveAvatar:
    """Poses (and, with a renderer, frames) for the live kiosk."""

    def __init__(
        self,
        pack: AvatarPack,
        *,
        fps: int = 30,
        seed: int = 0,
        output_latency_s: float = 0.0,
        audio_mouth: Callable[[], object] | None = None,
    ) -> None:
        """``audio_mouth`` loads the audio-to-mouth network (``avatar.audio2mouth.AudioToMouth``) on first use."""
        self.pack = pack
        self._audio_mouth = audio_mouth
        self._mouth_model = None
        self._mouth_lock = threading.Lock()
        self.fps = fps
        self.animator = AvatarAnimator(pack, seed=seed)
        self.output_latency_s = output_latency_s
        self._queue: list[_Speech] = []
        self._renderer = None
        if pack.style == "photo":  # read its canvas and warp fields now, off the display thread
            from avatar.render.photoreal import load_layout

            load_layout(pack, landscape=False)

    def set_state(self, state: str, now: float) -> None:
        """Turn state: idle, greeting, listening, thinking, speaking (blended over a short transition)."""
        self.animator.set_state(state, now)

    def speak(self, tts_audio: object, now: float, start_sample: int = 0) -> None:
        """A sentence (``core.events.TTSAudio``) was queued on the speaker at clock ``start_sample``."""
        rate = int(tts_audio.sample_rate)
        duration = len(tts_audio.samples) / rate
        from_audio = not tts_audio.phonemes and self._audio_mouth is not None
        track = None if from_audio else VisemeTrack.from_phonemes(tts_audio.phonemes, duration=duration)
        sync = AudioClockSync(rate, self.fps, self.output_latency_s)
        speech = _Speech(track, start_sample, start_sample + len(tts_audio.samples), sync, duration)
        self._queue = [*self._queue[-8:], speech]
        self.animator.set_state("speaking", now)
        if from_audio:  # about 20 ms per second of audio: kept off the display thread
            threading.Thread(
                target=self._track_from_audio, args=(speech, tts_audio.samples, rate), name="avatar-mouth", daemon=True
            ).start()

    def _track_from_audio(self, speech: _Speech, samples, rate: int) -> None:
        try:
            with self._mouth_lock:
                if self._mouth_model is None:
                    self._mouth_model = self._audio_mouth()
            speech.track = self._mouth_model.track(samples, rate)
        except Exception as exc:  # the mouth stays closed; the voice and captions go on
            _LOGGER.warning("no mouth track from the audio: %s", exc)

    def stop(self, now: float) -> None:
        """Barge-in or end of the answer: drop the mouth tracks at once."""
        self._queue = []
        if self.animator.state == "speaking":
            self.animator.set_state("idle", now)

    def pose(self, now: float, samples_played: int | None = None) -> RigParams:
        """The pose for this tick; ``samples_played`` is the speaker's clock."""
        mouth = None
        if samples_played is not None:
            for speech in reversed(self._queue):
                if samples_played < speech.start:
                    continue
                t = speech.sync.mouth_time(samples_played - speech.start)
                if t <= speech.duration + 0.3 and speech.track is not None:
                    mouth = speech.track.sample(t)
                break
        return self.animator.pose(now, mouth)

    def frame(self, now: float, samples_played: int | None, width: int, height: int):
        """The QImage for this tick at ``width`` x ``height`` (the renderer is created on first use)."""
        if self._renderer is None or (self._renderer.width, self._renderer.height) != (width, height):
            from avatar.render import AvatarRenderer

            self._renderer = AvatarRenderer(self.pack, width, height)
        return self._renderer.render(self.pose(now, samples_played))
