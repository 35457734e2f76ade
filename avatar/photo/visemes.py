"""Mouth shapes measured by their landmarks: which viseme a clip's frame shows, and which real mouths to draw.

A frame of the person speaking and a frame the renderer is about to draw are
described the same way, by a few numbers from the face mesh's lip points against
the person's own closed mouth (so a clip filmed a little closer or farther still
compares):

- ``opening``: the inner lips' gap over the closed mouth's width;
- ``width``: the mouth's width over the closed one's, minus 1 (wide "ee" +, rounded "oo", "w" -);
- ``round``: the opening's height over its width (a puckered opening is tall for its width);
- ``tuck``: the lower lip's height over the closed one's, minus 1, when it is less (drawn in under the teeth
  for f/v; a lower lip stretched taller by an open jaw counts as 0).

:func:`classify` names the viseme class of a frame. At render time
:class:`MouthBank` blends the real mouths nearest to the frame's shape (in
practice the two nearest), weighted so that the result changes smoothly as the
shape moves between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# upper and lower inner lip (middle), the outer corners, the inner corners, the lower lip's outer edge (middle)
MOUTH_POINTS = (13, 14, 61, 291, 78, 308, 17)
FEATURES = ("opening", "width", "round", "tuck")
# one unit of difference in each feature, for distances between shapes
# (the opening counts most: the face mesh measures it well; roundness least: it follows from the other two)
SCALE = np.array([0.15, 0.12, 0.6, 0.25], np.float32)
CLASSES = ("closed", "fv", "mid", "open", "wide", "rounded")
DESCRIBED = {
    "closed": "closed lips (m, b, p)",
    "fv": "lower lip under the upper teeth (f, v)",
    "mid": "half open (e, uh)",
    "open": "wide open (ah)",
    "wide": "spread (ee)",
    "rounded": "rounded (oo, w, o)",
}
MIN_TEXTURE_OPENING = 0.06  # below this the lips leave too little between them to take a texture from
SOFTNESS = 0.2  # distance (in SCALE units) over which a farther mouth's weight falls by e
TUCK_QUERY = -0.3  # the rig's teeth_lip at 1 draws no tucked lip: it asks for one this tucked


@dataclass(frozen=True)
class RestMouth:
    """The closed mouth's width and lower lip height, in the pixels its points are measured in."""

    width: float
    lower_lip: float

    @classmethod
    def of(cls, points: np.ndarray) -> RestMouth:
        """From the :data:`MOUTH_POINTS` of a closed mouth (7 x 2)."""
        p = np.asarray(points, np.float64)
        return cls(width=max(_dist(p[2], p[3]), 1.0), lower_lip=max(_dist(p[1], p[6]), 1.0))

    def scaled(self, factor: float) -> RestMouth:
        return RestMouth(self.width * factor, self.lower_lip * factor)


def features(points: np.ndarray, rest: RestMouth) -> np.ndarray:
    """The shape of a mouth from its :data:`MOUTH_POINTS` (7 x 2), in :data:`FEATURES` order."""
    p = np.asarray(points, np.float64)
    gap = _dist(p[0], p[1]) if p[1, 1] > p[0, 1] else 0.0
    inner_w = max(_dist(p[4], p[5]), 1.0)
    return np.array(
        [
            gap / rest.width,
            _dist(p[2], p[3]) / rest.width - 1.0,
            gap / inner_w,
            min(_dist(p[1], p[6]) / rest.lower_lip - 1.0, 0.0),
        ],
        np.float32,
    )


def classify(f: np.ndarray) -> str:
    """The viseme class of a shape (see :data:`DESCRIBED`)."""
    opening, width, roundness, tuck = (float(v) for v in f)
    if tuck < -0.22 and opening < 0.2:
        return "fv"
    if opening < 0.05:
        return "closed"
    if width < -0.06 or (width < -0.02 and roundness > 0.55):  # narrower, the opening tall for its width
        return "rounded"
    if opening >= 0.3:
        return "open"
    return "wide" if width > 0.08 else "mid"


def pick(shapes: list[tuple[np.ndarray, object]], per_class: int) -> list[tuple[str, np.ndarray, object]]:
    """Up to ``per_class`` of each class from (features, item) pairs, spread over the class's openings, sorted
    by class then opening. Shapes too closed to show the inside are left out."""
    by_class: dict[str, list[tuple[np.ndarray, object]]] = {}
    for f, item in shapes:
        if f[0] >= MIN_TEXTURE_OPENING:
            by_class.setdefault(classify(f), []).append((f, item))
    kept = []
    for name in CLASSES:
        members = sorted(by_class.get(name, []), key=lambda m: float(m[0][0]))
        if len(members) > per_class:
            members = [members[i] for i in np.linspace(0, len(members) - 1, per_class).round().astype(int)]
        kept.extend((name, f, item) for f, item in members)
    return kept


class MouthBank:
    """Real mouths (canonical textures, K x H x W x 3 RGB) with their shapes (K x 4): the blend nearest a shape."""

    def __init__(self, textures: np.ndarray, shapes: np.ndarray) -> None:
        if len(textures) == 0 or len(textures) != len(shapes):
            raise ValueError("a mouth bank needs one shape per texture")
        self.textures = np.asarray(textures, np.float32)
        self.shapes = np.asarray(shapes, np.float32).reshape(len(textures), -1)
        self._up = np.ones(self.shapes.shape[1], np.float32)  # query scales (see fit)
        self._down = np.ones(self.shapes.shape[1], np.float32)

    def fit(self, rig_shapes: np.ndarray) -> None:
        """Match the rig's range to the clip's: the rig's widest, narrowest and roundest mouths (measured on its
        landmark targets, rows of ``rig_shapes``) ask for the clip's widest, narrowest and roundest ones (the
        face mesh sees a mouth's corners move less than the targets say). The opening is compared as it is (the
        clip's widest opening is the person's "ah", not the rig's jaw at 1), the tuck too (the rig asks for it in
        the clip's units). A side the clip never shows is left as is."""
        rig = np.asarray(rig_shapes, np.float32)
        high, low = self.shapes.max(axis=0), self.shapes.min(axis=0)
        for d in (1, 2):
            top, bottom = float(rig[:, d].max()), float(rig[:, d].min())
            if top > 0.02 and high[d] > 0.02:
                self._up[d] = float(np.clip(high[d] / top, 0.2, 5.0))
            if bottom < -0.02 and low[d] < -0.02:
                self._down[d] = float(np.clip(low[d] / bottom, 0.2, 5.0))

    def weights(self, query: np.ndarray) -> np.ndarray:
        """How much of each mouth goes into the blend for a shape: ``exp(-(d - d_nearest) / SOFTNESS)`` of each
        one's distance, normalised. In practice the two nearest; as the shape moves, a third comes in and one
        goes out gradually: a weight never jumps, so the inside of the mouth never pops from frame to frame."""
        query = np.where(query >= 0, query * self._up, query * self._down)
        d = np.sqrt((((self.shapes - query[None, :]) / SCALE[: self.shapes.shape[1]]) ** 2).sum(axis=1))
        w = np.exp(-(d - d.min()) / SOFTNESS)
        w[w < 1e-3] = 0.0  # far ones would only cost time
        return (w / w.sum()).astype(np.float32)

    def texture(self, query: np.ndarray) -> np.ndarray:
        """The blended texture (H x W x 3, float32 RGB) for a shape in :data:`FEATURES` order."""
        w = self.weights(query)
        idx = np.flatnonzero(w)
        return np.tensordot(w[idx], self.textures[idx], axes=1)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot(*(a - b)))
