"""Visemes from piper/espeak phoneme timings: mapping, stress/length marks, coarticulation, sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from avatar.visemes import (
    MOUTH_PARAMS,
    TARGETS,
    VISEMES,
    VisemeTrack,
    phoneme_viseme,
    segments_from_phonemes,
    viseme_labels,
)

# "Hello, welcome to the bank." as piper aligns it (from `kiosk say --timings`)
HELLO = [
    ("^", 0.0, 0.0348), ("h", 0.0348, 0.058), ("ə", 0.058, 0.1277), ("l", 0.1277, 0.1858), ("ˈ", 0.1858, 0.267),
    ("o", 0.267, 0.3367), ("ʊ", 0.3367, 0.3947), (",", 0.3947, 0.4412), (" ", 0.4412, 0.6966), ("w", 0.6966, 0.7314),
    ("ˈ", 0.7314, 0.7895), ("ɛ", 0.7895, 0.8127), ("l", 0.8127, 0.8824), ("k", 0.8824, 0.9056), ("ʌ", 0.9056, 0.9636),
    ("m", 0.9636, 1.0101), (" ", 1.0101, 1.0565), ("t", 1.0565, 1.0913), ("ə", 1.0913, 1.1262), (" ", 1.1262, 1.1842),
    ("ð", 1.1842, 1.2074), ("ə", 1.2074, 1.2771), (" ", 1.2771, 1.3119), ("b", 1.3119, 1.3468), ("ˈ", 1.3468, 1.4396),
    ("æ", 1.4396, 1.4861), ("ŋ", 1.4861, 1.5209), ("k", 1.5209, 1.6254), (".", 1.6254, 1.7067), ("$", 1.7067, 1.7531),
]  # fmt: skip


@pytest.mark.parametrize(
    ("phoneme", "viseme"),
    [
        ("m", "MBP"), ("b", "MBP"), ("p", "MBP"), ("f", "FV"), ("v", "FV"), ("æ", "AA"), ("ɑ", "AA"), ("i", "I"),
        ("ɪ", "I"), ("u", "U"), ("o", "O"), ("w", "W"), ("ʃ", "SH"), ("s", "SZ"), ("θ", "TH"), ("ð", "TH"),
        ("l", "LTDN"), ("t", "LTDN"), ("ɹ", "R"), ("ɚ", "R"), ("k", "KG"), ("ɛ", "E"), ("^", "rest"), ("$", "rest"),
        (".", "rest"), ("ʘ", "rest"),
    ],
)  # fmt: skip
def test_phonemes_map_to_visemes(phoneme: str, viseme: str) -> None:
    assert phoneme_viseme(phoneme) == viseme


def test_every_viseme_has_a_target_in_range() -> None:
    assert set(TARGETS) == set(VISEMES)
    for shape in TARGETS.values():
        values = shape.as_array()
        assert np.all(values <= 1.0) and np.all(values >= -1.0)


def test_stress_marks_give_their_time_to_the_next_phoneme_and_short_gaps_vanish() -> None:
    segs = segments_from_phonemes(HELLO)
    phones = [s.phoneme for s in segs]
    assert "ˈ" not in phones
    o = next(s for s in segs if s.phoneme == "o")
    assert o.start == pytest.approx(0.1858)  # started at the stress mark
    # the 46 ms gap between "welcome" and "to" is absorbed, the 255 ms pause after the comma rests
    assert not any(s.viseme == "rest" and 1.0 < s.start < 1.1 for s in segs)
    assert any(s.viseme == "rest" and s.start <= 0.45 and s.end >= 0.69 for s in segs)
    # segments are ordered and do not overlap
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(segs))


def test_length_marks_extend_the_previous_phoneme() -> None:
    segs = segments_from_phonemes([("ɜ", 0.0, 0.1), ("ː", 0.1, 0.2), ("m", 0.2, 0.3)])
    assert [(s.viseme, s.end) for s in segs] == [("E", 0.2), ("MBP", 0.3)]


def test_accepts_timing_objects_dicts_and_tuples() -> None:
    from speech.events import PhonemeTiming

    a = segments_from_phonemes([PhonemeTiming("m", 0.0, 0.1)])
    b = segments_from_phonemes([{"phoneme": "m", "start": 0.0, "end": 0.1}])
    c = segments_from_phonemes([("m", 0.0, 0.1)])
    assert a == b == c


def test_bilabials_close_the_lips_even_when_short() -> None:
    track = VisemeTrack.from_phonemes(HELLO, lead_s=0.0)
    press = MOUTH_PARAMS.index("press")
    jaw = MOUTH_PARAMS.index("jaw")
    # /m/ of "welcome" (0.9636-1.0101) and /b/ of "bank" (0.3 s later)
    for start, end in ((0.9636, 1.0101), (1.3119, 1.3468)):
        mid = track.sample_array((start + end) / 2)
        assert mid[press] > 0.7, mid
        # what the renderer opens: jaw * (1 - 1.1 * press)
        assert mid[jaw] * max(0.0, 1 - 1.1 * mid[press]) < 0.05, mid
    # the open /æ/ of "bank" opens the jaw
    assert track.sample(1.46).jaw > 0.45


def test_coarticulation_blends_weak_sounds_towards_neighbours() -> None:
    # schwa between two rounded vowels keeps some rounding (anticipation + carry-over)
    timings = [("u", 0.0, 0.15), ("h", 0.15, 0.2), ("u", 0.2, 0.35)]
    track = VisemeTrack.from_phonemes(timings, lead_s=0.0)
    assert track.sample(0.175).round > 0.6
    # a vowel starts opening before its onset (anticipation) but a closure is kept to its end
    track2 = VisemeTrack.from_phonemes([("m", 0.0, 0.2), ("ɑ", 0.2, 0.5)], lead_s=0.0)
    assert track2.sample(0.19).jaw < track2.sample(0.3).jaw
    assert track2.sample(0.1).press > 0.8


def test_track_is_smooth_and_sampled_anywhere() -> None:
    track = VisemeTrack.from_phonemes(HELLO)
    times = np.arange(-0.5, 2.5, 1 / 120)
    values = track.sample_many(times)
    assert values.shape == (len(times), len(MOUTH_PARAMS))
    assert np.abs(np.diff(values, axis=0)).max() < 0.25  # no jumps between 120 Hz frames
    assert track.sample(-1.0).jaw == pytest.approx(0.0)
    assert track.sample(100.0).jaw == pytest.approx(0.0, abs=0.05)  # rests after the speech
    assert track.viseme_at(1.42) == "AA"  # the track leads the timings by LEAD_S
    assert track.viseme_at(50.0) == "rest"


def test_offset_shifts_the_track() -> None:
    a = VisemeTrack.from_phonemes(HELLO, lead_s=0.0)
    b = VisemeTrack.from_phonemes(HELLO, offset=2.0, lead_s=0.0)
    assert b.sample(3.46).jaw == pytest.approx(a.sample(1.46).jaw, abs=1e-4)


def test_frame_labels_follow_segments() -> None:
    segs = segments_from_phonemes(HELLO)
    times = np.arange(0, 1.8, 0.01)
    labels = viseme_labels(segs, times)
    assert VISEMES[labels[146]] == "AA"
    assert VISEMES[labels[98]] == "MBP"
