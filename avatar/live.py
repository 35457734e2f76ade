"""The avatar on the kiosk screen: turn state, queued speech and frames chosen from the audio clock.

The turn loop queues sentences on the speaker and tells :class:`LiveAvatar`
where each one starts on the speaker's clock (``speak``); on every display
tick the window passes the clock (samples played so far) to ``frame``. The mouth is sampled at that audio position, so
it cannot drift from the sound; idle motion uses the tick's wall time, which
only drives blinks and sway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avatar-mouth")  # tracks, in order
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
        """A sentence (``core.events.TTSAudio``) was queued on the speaker at clock ``start_sample``.

        Its mouth track is made on the avatar's worker thread, never on the display thread: from the
        phoneme timings that takes 7 ms for a 3 s sentence but 90 ms for a 15 s one, and the audio-to-mouth
        network about 20 ms per second of audio. Until it is ready (long before the sentence is heard,
        unless it is the first) the mouth stays closed.
        """
        rate = int(tts_audio.sample_rate)
        duration = len(tts_audio.samples) / rate
        sync = AudioClockSync(rate, self.fps, self.output_latency_s)
        speech = _Speech(None, start_sample, start_sample + len(tts_audio.samples), sync, duration)
        self._queue = [*self._queue[-8:], speech]
        self.animator.set_state("speaking", now)
        self._worker.submit(self._make_track, speech, tts_audio)

    def _make_track(self, speech: _Speech, tts_audio) -> None:
        try:
            if tts_audio.phonemes or self._audio_mouth is None:
                speech.track = VisemeTrack.from_phonemes(tts_audio.phonemes, duration=speech.duration)
                return
            if self._mouth_model is None:
                self._mouth_model = self._audio_mouth()
            speech.track = self._mouth_model.track(tts_audio.samples, int(tts_audio.sample_rate))
        except Exception as exc:  # the mouth stays closed; the voice and captions go on
            _LOGGER.warning("no mouth track for the sentence: %s", exc)

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Until every queued sentence has its mouth track (for tests and offline rendering); False on timeout."""
        try:
            self._worker.submit(lambda: None).result(timeout_s)
        except TimeoutError:
            return False
        return True

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
