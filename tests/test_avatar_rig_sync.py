"""Idle life, expressions and the audio-clock sync rule."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.pack import load_pack
from avatar.rig import AvatarAnimator, RigParams
from avatar.sync import AudioClockSync, frame_for_position, simulate_playback_offsets
from avatar.visemes import TARGETS


@pytest.fixture(scope="module")
def pack():
    return load_pack("presenter")


def test_idle_is_deterministic_for_a_seed(pack) -> None:
    a, b, c = AvatarAnimator(pack, seed=3), AvatarAnimator(pack, seed=3), AvatarAnimator(pack, seed=4)
    times = np.arange(0, 20, 1 / 30)
    pa = [a.pose(t) for t in times]
    assert pa == [b.pose(t) for t in times]
    assert pa != [c.pose(t) for t in times]


def test_blinks_come_at_natural_intervals(pack) -> None:
    anim = AvatarAnimator(pack, seed=1)
    times = np.arange(0, 120, 1 / 60)
    blink = np.array([anim.blink_amount(t) for t in times])
    closed = blink > 0.9
    onsets = times[1:][closed[1:] & ~closed[:-1]]
    gaps = np.diff(onsets)
    assert 15 <= len(onsets) <= 70  # 2..6 s apart, some double blinks
    assert gaps.min() > 0.15 and np.median(gaps) < 6.5
    # a blink is short: the eye is closed for well under half a second
    assert closed.mean() < 0.08


def test_breathing_and_sway_stay_small(pack) -> None:
    anim = AvatarAnimator(pack, seed=0)
    poses = [anim.pose(t) for t in np.arange(0, 30, 0.1)]
    tilts = [p.head_tilt for p in poses]
    assert 0.5 < max(tilts) - min(tilts) < 8
    assert 0.5 < max(p.breathing for p in poses) <= 1.0


def test_expressions_per_state_blend_in(pack) -> None:
    anim = AvatarAnimator(pack, seed=0)
    idle = anim.pose(1.0)
    anim.set_state("greeting", 1.0)
    assert anim.pose(1.0).smile == pytest.approx(idle.smile, abs=1e-6)  # no jump
    greeting = anim.pose(2.0)
    assert greeting.smile > idle.smile + 0.3 and greeting.brow_raise > idle.brow_raise
    anim.set_state("thinking", 2.0)
    thinking = anim.pose(3.0)
    assert thinking.brow_furrow > 0.3 and thinking.gaze_y < -0.2
    anim.set_state("listening", 3.0)
    assert anim.pose(4.0).head_tilt < greeting.head_tilt
    with pytest.raises(ValueError):
        anim.set_state("dancing", 5.0)


def test_mouth_from_track_and_clamping(pack) -> None:
    anim = AvatarAnimator(pack, seed=0)
    anim.set_state("speaking", 0.0)
    pose = anim.pose(1.0, TARGETS["AA"])
    assert pose.jaw == pytest.approx(TARGETS["AA"].jaw)
    wild = RigParams(jaw=5, smile=9, head_tilt=90).clamped(pack)
    assert wild.jaw == 1.0 and wild.smile == 1.0 and wild.head_tilt == pack.rig["head_tilt_deg"][1]


def test_frame_is_chosen_from_the_audio_position() -> None:
    assert frame_for_position(0, 22050, 30) == 0
    assert frame_for_position(22050, 22050, 30) == 30
    assert frame_for_position(22050 // 30 - 1, 22050, 30) == 0
    assert frame_for_position(735, 22050, 30) == 1  # 735 samples = exactly 1/30 s
    sync = AudioClockSync(22050, 30, output_latency_s=0.1)
    # samples written but not heard yet do not move the mouth
    assert sync.heard_position(22050) == pytest.approx(0.9)
    assert sync.frame(22050) == 27
    assert sync.frame(0) == 0


def test_playback_offset_stays_within_a_block() -> None:
    offsets = simulate_playback_offsets(60.0, block=512, jitter_s=0.01)
    assert offsets.max() <= 512 / 22050 + 1e-9  # no drift over a minute, whatever the timer jitter


def test_live_avatar_takes_the_mouth_from_the_samples_played(pack) -> None:
    from avatar.live import LiveAvatar
    from speech.events import PhonemeTiming, TTSAudio

    live = LiveAvatar(pack, seed=0)
    phonemes = (PhonemeTiming("m", 0.0, 0.3), PhonemeTiming("ɑ", 0.3, 0.8), PhonemeTiming("$", 0.8, 1.0))
    audio = TTSAudio(np.zeros(22050, dtype=np.float32), 22050, "ma", phonemes, 0)
    live.speak(audio, now=10.0)
    assert live.wait_idle()  # the track is made off the display thread
    # the wall clock says 10.5 s, but only 0.15 s have been played: the lips are still closed for /m/
    assert live.pose(10.5, samples_played=int(0.15 * 22050)).lip_press > 0.7
    assert live.pose(10.5, samples_played=int(0.55 * 22050)).jaw > 0.6
    live.stop(now=10.6)
    assert live.pose(10.7, samples_played=int(0.55 * 22050)).jaw < 0.3


def test_wait_idle_says_when_the_mouth_track_is_not_ready(pack) -> None:
    import threading

    from avatar.live import LiveAvatar
    from speech.events import TTSAudio

    release = threading.Event()

    def stuck_model():  # the audio-to-mouth network still loading
        release.wait(30)
        raise RuntimeError("no model")

    live = LiveAvatar(pack, seed=0, audio_mouth=stuck_model)
    live.speak(TTSAudio(np.zeros(22050, dtype=np.float32), 22050, "ma", (), 0), now=0.0)  # no timings: the network
    assert live.wait_idle(0.05) is False
    release.set()
    assert live.wait_idle(10) is True
    assert live._queue[-1].track is None  # the model failed: the mouth stays closed, nothing raised
