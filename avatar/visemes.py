"""Visemes from TTS phoneme timings: a small mouth-shape vocabulary with coarticulation.

Piper (espeak-ng IPA) phonemes map to 15 visemes. Each viseme has a target
:class:`MouthShape`; a :class:`VisemeTrack` blends the targets of neighbouring
segments with Cohen-Massaro dominance functions, so a schwa or an /h/ takes the
shape of its neighbours while /m b p/ always close the lips and /f v/ always
touch teeth to lip. The track is sampled at any time ``t`` (seconds from the
start of its audio).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np

_LOGGER = logging.getLogger(__name__)

VISEMES: tuple[str, ...] = (
    "rest",  # silence, mouth relaxed
    "AA",  # open: a ɑ æ ʌ
    "E",  # mid, wide: ɛ e ə
    "I",  # spread: i ɪ
    "O",  # round open: o ɔ ɒ
    "U",  # pucker: u ʊ
    "MBP",  # lips pressed
    "FV",  # lower lip to upper teeth
    "TH",  # tongue between teeth
    "LTDN",  # tongue tip up
    "SZ",  # teeth together, spread
    "SH",  # protruded, teeth close
    "R",  # slightly rounded
    "W",  # tight round
    "KG",  # back consonants: jaw follows neighbours
)
VISEME_INDEX = {name: i for i, name in enumerate(VISEMES)}

LEAD_S = 0.035
"""The mouth moves this much ahead of the phoneme timings: people shape the mouth before the sound, and a
mouth slightly early is far less noticeable than a mouth late (measured with ``bench/avatar.py``)."""

STEP_S = 0.005
"""Resolution of a track's precomputed curves (200 Hz)."""


@dataclass(frozen=True)
class MouthShape:
    """Mouth parameters, each in [0, 1] except ``width`` in [-1, 1] (negative: narrow)."""

    jaw: float = 0.0  # jaw opening
    width: float = 0.0  # lip corners apart (+) or together (-)
    round: float = 0.0  # lip rounding / protrusion
    press: float = 0.0  # lips closed and pressed
    teeth_lip: float = 0.0  # lower lip tucked under the upper teeth (f, v)
    tongue: float = 0.0  # tongue tip visible (th, l, t, d, n)

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float32)

    @classmethod
    def from_array(cls, values: Sequence[float]) -> MouthShape:
        return cls(*(float(v) for v in values))


MOUTH_PARAMS: tuple[str, ...] = tuple(f.name for f in fields(MouthShape))

TARGETS: dict[str, MouthShape] = {
    "rest": MouthShape(),
    "AA": MouthShape(jaw=0.85, width=0.15),
    "E": MouthShape(jaw=0.5, width=0.45),
    "I": MouthShape(jaw=0.28, width=0.8),
    "O": MouthShape(jaw=0.6, width=-0.35, round=0.75),
    "U": MouthShape(jaw=0.25, width=-0.65, round=1.0),
    "MBP": MouthShape(jaw=0.0, width=0.0, press=1.0),
    "FV": MouthShape(jaw=0.12, width=0.2, teeth_lip=1.0),
    "TH": MouthShape(jaw=0.22, width=0.25, tongue=0.9),
    "LTDN": MouthShape(jaw=0.3, width=0.25, tongue=0.45),
    "SZ": MouthShape(jaw=0.1, width=0.55),
    "SH": MouthShape(jaw=0.18, width=-0.3, round=0.6),
    "R": MouthShape(jaw=0.25, width=-0.15, round=0.45),
    "W": MouthShape(jaw=0.1, width=-0.8, round=1.0),
    "KG": MouthShape(jaw=0.38, width=0.2),
}

# Dominance (strength) of each viseme per mouth parameter: high where the sound
# cannot be made without that articulation, low where the mouth is free to
# anticipate the next sound or keep the last one.
_DEFAULT_DOMINANCE = 1.0
DOMINANCE: dict[str, dict[str, float]] = {
    "rest": {"*": 0.6},
    "AA": {"jaw": 1.6, "*": 0.9},
    "E": {"jaw": 1.0, "*": 0.7},
    "I": {"width": 1.3, "*": 0.8},
    "O": {"round": 1.6, "jaw": 1.1, "*": 0.9},
    "U": {"round": 1.8, "width": 1.4, "*": 0.8},
    "MBP": {"press": 8.0, "jaw": 6.0, "*": 0.6},
    "FV": {"teeth_lip": 6.0, "jaw": 3.0, "*": 0.5},
    "TH": {"tongue": 4.0, "*": 0.4},
    "LTDN": {"tongue": 1.5, "*": 0.25},
    "SZ": {"jaw": 2.0, "width": 1.0, "*": 0.5},
    "SH": {"round": 2.0, "jaw": 1.5, "*": 0.6},
    "R": {"round": 1.0, "*": 0.4},
    "W": {"round": 3.0, "width": 2.5, "*": 0.6},
    "KG": {"*": 0.2},
}

# How far a viseme's influence reaches beyond its own span (relative): strong, quick gestures
# (lip closure, lip-teeth contact) are fully reached but let go fast.
REACH: dict[str, float] = {"MBP": 0.5, "FV": 0.55, "TH": 0.7, "SZ": 0.8, "rest": 1.2}

PHONEME_VISEMES: dict[str, str] = {}
for _viseme, _phones in {
    "AA": "a ɑ æ ʌ ɐ ä",
    "E": "ɛ e ə ɜ ɘ ᵻ",
    "I": "i ɪ j y ɨ",
    "O": "o ɔ ɒ ɔ̃",
    "U": "u ʊ ɯ ɵ ʉ",
    "MBP": "m b p ɱ",
    "FV": "f v",
    "TH": "θ ð",
    "LTDN": "l t d n ɾ ɫ ɬ ʔ",
    "SZ": "s z",
    "SH": "ʃ ʒ ç ʝ",
    "R": "ɹ ɚ ɝ r ɻ",
    "W": "w ʍ",
    "KG": "k ɡ g ŋ h x ɣ χ ɦ",
}.items():
    for _phone in _phones.split():
        PHONEME_VISEMES[_phone] = _viseme

PAUSES = frozenset({"^", "$", "_", ",", ".", "?", "!", ";", ":", "—", "-", "…"})
PREFIX_MARKS = frozenset({"ˈ", "ˌ"})  # stress: their time belongs to the next phoneme
SUFFIX_MARKS = frozenset({"ː", "ˑ", "̃", "̩", "̯"})  # length and diacritics: time belongs to the previous one
WORD_GAP_REST_S = 0.12
"""A word gap (" ") longer than this closes the mouth; a shorter one is absorbed by its neighbours."""


def phoneme_viseme(phoneme: str) -> str:
    """The viseme of one espeak-ng IPA phoneme; unknown symbols rest (and are logged once)."""
    if phoneme in PAUSES or phoneme == " ":
        return "rest"
    viseme = PHONEME_VISEMES.get(phoneme)
    if viseme is None and phoneme:
        viseme = PHONEME_VISEMES.get(phoneme[0])
    if viseme is None:
        if phoneme not in _UNKNOWN:
            _UNKNOWN.add(phoneme)
            _LOGGER.debug("no viseme for phoneme %r; using rest", phoneme)
        return "rest"
    return viseme


_UNKNOWN: set[str] = set()


@dataclass(frozen=True)
class VisemeSegment:
    """One viseme from ``start`` to ``end`` seconds."""

    viseme: str
    start: float
    end: float
    phoneme: str = ""

    @property
    def center(self) -> float:
        return 0.5 * (self.start + self.end)

    @property
    def duration(self) -> float:
        return self.end - self.start


def segments_from_phonemes(phonemes: Iterable[object], offset: float = 0.0) -> list[VisemeSegment]:
    """Viseme segments from ``PhonemeTiming``-like objects (``phoneme``, ``start``, ``end``) or tuples.

    Stress marks give their time to the next phoneme, length marks to the
    previous one; short word gaps are absorbed, long ones and punctuation rest.
    """
    items: list[tuple[str, float, float]] = []
    for item in phonemes:
        if isinstance(item, (tuple, list)):
            phone, start, end = item[0], float(item[1]), float(item[2])
        elif isinstance(item, dict):
            phone, start, end = item["phoneme"], float(item["start"]), float(item["end"])
        else:
            phone, start, end = item.phoneme, float(item.start), float(item.end)
        items.append((str(phone), start + offset, end + offset))

    out: list[list] = []  # [viseme, start, end, phoneme]
    pending_start: float | None = None
    for phone, raw_start, raw_end in items:
        start, end = min(raw_start, raw_end), max(raw_start, raw_end)
        if phone in PREFIX_MARKS:
            pending_start = start if pending_start is None else pending_start
            continue
        if phone in SUFFIX_MARKS:
            if out:
                out[-1][2] = max(out[-1][2], end)
            continue
        if pending_start is not None:
            start, pending_start = pending_start, None
        if phone == " ":
            if end - start < WORD_GAP_REST_S:
                if out:
                    # split the short gap between the neighbours
                    out[-1][2] = 0.5 * (start + end)
                    pending_start = 0.5 * (start + end)
                continue
            viseme = "rest"
        else:
            viseme = phoneme_viseme(phone)
        if out and out[-1][0] == viseme == "rest":
            out[-1][2] = end
            continue
        out.append([viseme, start, end, phone])
    if pending_start is not None and out:
        out[-1][2] = max(out[-1][2], pending_start)
    return [VisemeSegment(v, s, e, p) for v, s, e, p in out]


def _dominance_matrix() -> tuple[np.ndarray, np.ndarray]:
    targets = np.stack([TARGETS[v].as_array() for v in VISEMES])  # (V, P)
    dom = np.empty_like(targets)
    for i, v in enumerate(VISEMES):
        table = DOMINANCE[v]
        for j, p in enumerate(MOUTH_PARAMS):
            dom[i, j] = table.get(p, table.get("*", _DEFAULT_DOMINANCE))
    return targets, dom


_TARGETS, _DOM = _dominance_matrix()


def blend_segments(
    segments: Sequence[VisemeSegment], times: np.ndarray, *, spread: float = 1.0, sharpness: float = 1.4
) -> np.ndarray:
    """Mouth parameters (len(times), P) by Cohen-Massaro blending of segment targets.

    Each segment's influence decays as ``exp(-(|t - center| / width) ** sharpness)``
    with ``width`` growing with its duration; ``spread`` scales all widths
    (more: smoother, more coarticulation). A segment is fully dominant inside
    itself, so short strong consonants (/p/, /f/) still reach their target.
    """
    times = np.asarray(times, dtype=np.float64)
    out = np.zeros((len(times), len(MOUTH_PARAMS)), dtype=np.float32)
    if not segments or len(times) == 0:
        return out
    idx = np.array([VISEME_INDEX[s.viseme] for s in segments])
    centers = np.array([s.center for s in segments])
    half = np.array([max(s.duration, 0.01) / 2 for s in segments])
    reach = np.array([REACH.get(s.viseme, 1.0) for s in segments])
    width = spread * reach * (0.045 + 0.6 * half)
    # distance outside the segment (inside: 0), so each segment holds its target over its own span
    dist = np.maximum(np.abs(times[:, None] - centers[None, :]) - 0.85 * half[None, :], 0.0)
    base = np.exp(-((dist / width[None, :]) ** sharpness))  # (T, N)
    weights = base[:, :, None] * _DOM[idx][None, :, :]  # (T, N, P)
    total = weights.sum(axis=1) + 1e-6
    blended = (weights * _TARGETS[idx][None, :, :]).sum(axis=1) / total
    # far from any segment: relax to rest
    presence = np.clip(base.max(axis=1), 0.0, 1.0)[:, None]
    out[:] = blended * presence
    return out


def smooth_attack_release(
    values: np.ndarray, step: float, attack_s: float = 0.03, release_s: float = 0.06
) -> np.ndarray:
    """First-order smoothing with a faster time constant when a parameter rises than when it falls."""
    out = np.empty_like(values)
    a_up = 1.0 - np.exp(-step / max(attack_s, 1e-4))
    a_down = 1.0 - np.exp(-step / max(release_s, 1e-4))
    state = values[0].copy()
    for i in range(len(values)):
        target = values[i]
        alpha = np.where(target > state, a_up, a_down)
        state = state + alpha * (target - state)
        out[i] = state
    return out


class VisemeTrack:
    """Mouth shapes over time for one chunk of speech; ``sample(t)`` at any time in seconds.

    Build it from TTS phoneme timings (:meth:`from_phonemes`) or from a curve
    predicted by the audio-to-mouth model (:meth:`from_curve`).
    """

    def __init__(self, times: np.ndarray, values: np.ndarray, segments: Sequence[VisemeSegment] = ()) -> None:
        self.times = np.asarray(times, dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float32)
        self.segments = tuple(segments)
        self._starts = np.array([s.start for s in self.segments]) if self.segments else np.zeros(0)

    @classmethod
    def from_phonemes(
        cls,
        phonemes: Iterable[object],
        *,
        offset: float = 0.0,
        duration: float | None = None,
        lead_s: float = LEAD_S,
        spread: float = 1.0,
        smoothing: bool = True,
    ) -> VisemeTrack:
        """A track from phoneme timings; ``lead_s`` moves the mouth slightly ahead of the sound, as people do."""
        segments = segments_from_phonemes(phonemes, offset=offset - lead_s)
        end = max([s.end for s in segments] + [duration or 0.0, offset]) + 0.25
        times = np.arange(0.0, end + STEP_S, STEP_S)
        values = blend_segments(segments, times, spread=spread)
        if smoothing and len(values):
            values = smooth_attack_release(values, STEP_S)
        return cls(times, values, segments)

    @classmethod
    def from_curve(cls, times: np.ndarray, values: np.ndarray) -> VisemeTrack:
        return cls(times, values)

    @property
    def duration(self) -> float:
        return float(self.times[-1]) if len(self.times) else 0.0

    def sample_array(self, t: float) -> np.ndarray:
        if len(self.times) == 0 or (t <= self.times[0] and t < 0):
            return np.zeros(len(MOUTH_PARAMS), dtype=np.float32)
        if t >= self.times[-1]:
            return self.values[-1].copy()
        pos = (t - self.times[0]) / (self.times[1] - self.times[0]) if len(self.times) > 1 else 0.0
        i = int(np.clip(np.floor(pos), 0, len(self.times) - 2))
        frac = float(np.clip(pos - i, 0.0, 1.0))
        return (1.0 - frac) * self.values[i] + frac * self.values[i + 1]

    def sample(self, t: float) -> MouthShape:
        """The mouth shape at ``t`` seconds (rest before the start, the last shape after the end)."""
        return MouthShape.from_array(self.sample_array(t))

    def sample_many(self, times: np.ndarray) -> np.ndarray:
        """Mouth parameters (len(times), P) by linear interpolation."""
        times = np.asarray(times, dtype=np.float64)
        return np.stack([np.interp(times, self.times, self.values[:, j]) for j in range(self.values.shape[1])], axis=1)

    def viseme_at(self, t: float) -> str:
        """The viseme whose segment covers ``t`` (rest outside every segment)."""
        if not self.segments:
            return "rest"
        i = int(np.searchsorted(self._starts, t, side="right")) - 1
        if i >= 0 and t < self.segments[i].end:
            return self.segments[i].viseme
        return "rest"


def viseme_labels(segments: Sequence[VisemeSegment], times: np.ndarray) -> np.ndarray:
    """Viseme index per time (rest outside segments): frame-level truth for the audio model."""
    labels = np.zeros(len(times), dtype=np.int64)
    for seg in segments:
        mask = (times >= seg.start) & (times < seg.end)
        labels[mask] = VISEME_INDEX[seg.viseme]
    return labels
