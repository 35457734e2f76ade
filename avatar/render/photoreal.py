"""The ``photo`` style: a real person's photo, moved by warp fields and given an inner mouth.

Packs made by ``kiosk avatar create --photo`` (:mod:`avatar.photo.create`) hold the
laid-out canvas (portrait and landscape) and, per rig parameter, a backward
displacement field on a coarse grid. A frame adds the fields weighted by the
rig's values (one small matrix product), scales the sum to the output's pixels
and resamples the photo once with ``cv2.remap``; where the lips part, the inner
mouth is painted in the photo's colours (:mod:`avatar.photo.mouth`).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QRectF
from PyQt6.QtGui import QImage

from avatar.pack import AvatarPack
from avatar.photo.eyes import paint_lid
from avatar.photo.mouth import MouthColours, paint_inner_mouth
from avatar.photo.visemes import MOUTH_POINTS, TUCK_QUERY, MouthBank, RestMouth, features
from avatar.photo.warp import EYES, HEAD_PARAMS, MESH_PARAMS, PARAMS
from avatar.render.base import AvatarStyle
from avatar.rig import RigParams
from core.errors import AvatarError

_LOGGER = logging.getLogger(__name__)
_RELATIVE = getattr(cv2, "WARP_RELATIVE_MAP", 0)  # OpenCV >= 4.11: the map holds offsets
SMILE_REST = 0.2  # the photo's own expression counts as this much smile
# the rig's most open, widest and most rounded mouths (matched to a clip's: MouthBank.fit)
RIG_EXTREMES = (
    {"jaw": 1.0},
    {"jaw": 0.3, "lip_width": 1.0, "smile": 0.8},
    {"jaw": 0.3, "lip_round": 1.0, "lip_width": -0.8},
)
# the largest value each parameter takes (to find where any field moves something)
REACH = {"head_tilt": 8.0, "head_nod": 8.0, "head_turn": 1.0, "smile": 0.8, "lip_width": 1.0}


def load_layout(pack: AvatarPack, landscape: bool) -> tuple[np.ndarray, dict]:
    """The canvas image (BGR) and the field data of one layout of a photo pack (read once: the window makes a
    new renderer whenever the avatar's size changes)."""
    if pack.path is None:
        raise AvatarError(f"avatar pack {pack.name!r} has no folder", code="avatar-manifest-invalid")
    name = "landscape" if landscape else "portrait"
    data_path = pack.path / f"{name}.npz"
    stamp = data_path.stat().st_mtime_ns if data_path.is_file() else 0
    return _read_layout(str(pack.path), pack.name, name, stamp)


@lru_cache(maxsize=4)
def _read_layout(folder: str, pack_name: str, name: str, stamp: int) -> tuple[np.ndarray, dict]:
    image_path, data_path = Path(folder) / f"{name}.png", Path(folder) / f"{name}.npz"
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None or not data_path.is_file():
        raise AvatarError(
            f"{folder}: the photo avatar's {name} files are missing or broken",
            code="avatar-manifest-invalid",
            hint=f"build it again: kiosk avatar create --photo FILE --name {pack_name} --replace",
        )
    with np.load(data_path) as npz:
        data = {key: npz[key] for key in npz.files}
    if tuple(str(p) for p in data["params"]) != PARAMS:
        raise AvatarError(
            f"{data_path}: made by another version", code="avatar-manifest-invalid", hint="build the avatar again"
        )
    for array in (image, *data.values()):
        array.flags.writeable = False  # shared by every renderer of the pack
    return image, data


class PhotoStyle(AvatarStyle):
    """A photoreal presenter from a photo pack."""

    style = "photo"

    def __init__(self, pack: AvatarPack, width: int, height: int) -> None:
        super().__init__(pack, width, height)
        canvas, data = load_layout(pack, landscape=self.width > self.height * 1.2)
        ch, cw = canvas.shape[:2]
        self.scale = s = min(self.width / cw, self.height / ch)
        fit_w, fit_h = round(cw * s), round(ch * s)
        self.offset = ((self.width - fit_w) // 2, (self.height - fit_h) // 2)
        ox, oy = self.offset
        small = cv2.resize(canvas, (fit_w, fit_h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        base = cv2.copyMakeBorder(
            small, oy, self.height - fit_h - oy, ox, self.width - fit_w - ox, cv2.BORDER_REPLICATE
        )
        self._base = np.ascontiguousarray(cv2.cvtColor(base, cv2.COLOR_BGR2BGRA))
        self._frame = self._base.copy()
        self._image = QImage(self._frame.data, self.width, self.height, self.width * 4, QImage.Format.Format_RGB32)
        step = int(data["step"])
        fields = data["fields"].astype(np.float32)  # P x 2 x gh x gw, canvas pixels
        reach = np.array([REACH.get(p, 1.0) for p in PARAMS], np.float32)
        moving = (np.abs(fields) * reach[:, None, None, None]).max(axis=(0, 1)) > 0.3
        rows, cols = np.nonzero(moving)
        if len(rows) == 0:
            rows, cols = np.array([0]), np.array([0])
        gy0, gy1 = max(rows.min() - 1, 0), min(rows.max() + 2, fields.shape[2])
        gx0, gx1 = max(cols.min() - 1, 0), min(cols.max() + 2, fields.shape[3])
        self._grid = (gy1 - gy0, gx1 - gx0)
        # the output box the grid covers (grid point g sits at canvas g * step)
        bx0, by0 = round(ox + gx0 * step * s), round(oy + gy0 * step * s)
        bx1 = min(round(ox + (gx1 - 1) * step * s) + 1, self.width)
        by1 = min(round(oy + (gy1 - 1) * step * s) + 1, self.height)
        self._box = (bx0, by0, bx1, by1)
        # the source with a margin above and left of it: a strip is resampled from a view that starts `margin`
        # pixels before it (so it can reach back), its offsets carrying +margin (a constant field of weight 1)
        reach_px = float((np.abs(fields).max(axis=(1, 2, 3)) * reach).sum()) * s  # all of them at once, at most
        self._margin = margin = int(np.ceil(reach_px)) + 2
        self._source = cv2.copyMakeBorder(self._base, margin, 0, margin, 0, cv2.BORDER_REPLICATE)
        # in output pixels, x and y interleaved: the blend is one (P + 1,) @ (P + 1, N) product, one 2-channel resize
        crop = fields[:, :, gy0:gy1, gx0:gx1].transpose(0, 2, 3, 1) * s
        self._fields = _with_bias(crop.reshape(len(PARAMS), -1), margin)
        self._offsets = np.empty((by1 - by0, bx1 - bx0, 2), np.float32)
        self._grid_xy = None
        if not _RELATIVE:  # absolute coordinates in a strip's view: its own pixel grid plus the offsets
            xs, ys = np.meshgrid(np.arange(bx1 - bx0, dtype=np.float32), np.arange(by1 - by0, dtype=np.float32))
            self._grid_xy = np.dstack([xs, ys])
        # the fine grid over the face replaces the coarse offsets there
        fstep = int(data["fine_step"])
        # no finer than about 2 output pixels between samples: smaller outputs blend fewer of them
        every = max(1, int(np.ceil(2.0 / (fstep * s) - 1e-6)))
        fine = data["fine"][:, :, ::every, ::every].astype(np.float32)
        fstep *= every
        fx0, fy0 = (int(v) for v in data["fine_origin"])
        rows, cols = fine.shape[2:]
        rx0 = max(round(ox + fx0 * s), bx0)
        ry0 = max(round(oy + fy0 * s), by0)
        rx1 = min(round(ox + (fx0 + (cols - 1) * fstep) * s), bx1)
        ry1 = min(round(oy + (fy0 + (rows - 1) * fstep) * s), by1)
        self._fine_rect = (rx0 - bx0, ry0 - by0, rx1 - bx0, ry1 - by0)
        self._fine_grid = (rows, cols)
        self._fine = _with_bias((fine.transpose(0, 2, 3, 1) * s).reshape(len(PARAMS), -1), margin)
        # only what can move is resampled: strips of rows, each from its first to its last moving pixel
        self._strips = _strips(moving[gy0:gy1, gx0:gx1], (bx1 - bx0, by1 - by0), self._fine_rect)
        self._mesh = data["mesh"][:, :2].astype(np.float32)
        self._inner = data["inner_loop"]
        self._moves = data["moves"].astype(np.float32)  # MESH_PARAMS x 468 x 2
        self._head_fields = {n: fields[PARAMS.index(n)] for n in HEAD_PARAMS}
        self._step = step
        self._colours = MouthColours.from_array(data["colours"])
        p = self._mesh
        self._mouth_w = float(np.linalg.norm(p[291] - p[61])) * s
        # soften the painted mouth like the photo: it was enlarged photo_scale times onto the canvas
        self._softness = float(np.clip(0.5 * float(data["photo_scale"]) * s, 0.4, 1.8))
        rest = self.points(self._inner, np.zeros(len(PARAMS), np.float32))
        # the photo's own gap between the lips: upper inner lip points 1..9 face lower ones 19..11
        self._rest_gap = max(float(np.max(rest[19:10:-1, 1] - rest[1:10, 1])), 0.0)
        self._lid_colours = [self._skin_below(lower, corners) for _, lower, corners in EYES.values()]
        self._grain = self._photo_grain()
        # from a video: the person's own mouth, inside, per viseme class (RGB, like the painted colours)
        self._mouths = _mouth_bank(data)
        self._rest_mouth = RestMouth.of(self.points(list(MOUTH_POINTS), np.zeros(len(PARAMS), np.float32)))
        if self._mouths is not None:
            extremes = [RigParams(**pose) for pose in RIG_EXTREMES]
            self._mouths.fit(np.array([self.mouth_shape(p, self.weights(p)) for p in extremes]))
        _LOGGER.debug(
            "photo avatar %s at %dx%d: warp box %s, %d strips", pack.name, width, height, self._box, len(self._strips)
        )

    def weights(self, params: RigParams) -> np.ndarray:
        values = {
            "jaw": params.jaw + 0.35 * params.teeth_lip * (1 - params.jaw),
            "lip_width": params.lip_width,
            "lip_round": params.lip_round,
            "lip_press": params.lip_press,
            "smile": params.smile - SMILE_REST,
            "blink": params.blink,
            "brow_raise": params.brow_raise,
            "head_turn": params.head_turn,
            "head_tilt": params.head_tilt,
            "head_nod": params.head_nod,
            "breathing": params.breathing,
        }
        return np.array([values[name] for name in PARAMS], np.float32)

    def render(self, params: RigParams) -> QImage:
        w = self.weights(params)
        wb = np.append(w, np.float32(1.0))  # the last field: the source margin
        gh, gw = self._grid
        # einsum, not a BLAS product: BLAS's threads would spin on the other core for the rest of the frame
        blended = np.einsum("p,pn->n", wb, self._fields).reshape(gh, gw, 2)
        bx0, by0, bx1, by1 = self._box
        offsets = self._offsets
        cv2.resize(blended, (bx1 - bx0, by1 - by0), dst=offsets, interpolation=cv2.INTER_LINEAR)
        x0, y0, x1, y1 = self._fine_rect
        if x1 > x0 and y1 > y0:
            rows, cols = self._fine_grid
            fine = np.einsum("p,pn->n", wb, self._fine).reshape(rows, cols, 2)
            offsets[y0:y1, x0:x1] = cv2.resize(fine, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        # source = pixel + offset (a relative map) from a view `margin` pixels up and left, straight into the frame
        flags = cv2.INTER_LINEAR | _RELATIVE
        for sx0, sy0, sx1, sy1 in self._strips:
            strip = offsets[sy0:sy1, sx0:sx1]
            if not _RELATIVE:  # OpenCV before 4.11: absolute coordinates in the view
                strip = strip + self._grid_xy[: sy1 - sy0, : sx1 - sx0]
            cv2.remap(
                self._source[by0 + sy0 :, bx0 + sx0 :],
                strip,
                None,
                flags,
                dst=self._frame[by0 + sy0 : by0 + sy1, bx0 + sx0 : bx0 + sx1],
                borderMode=cv2.BORDER_REPLICATE,
            )
        loop = self.points(self._inner, w)
        paint_inner_mouth(
            self._frame,
            loop,
            self._colours,
            mouth_width=self._mouth_w,
            tongue_up=params.tongue,
            softness=self._softness,
            rest_gap=self._rest_gap,
            grain=self._grain,
            texture=None if self._mouths is None else self._mouths.texture(self.mouth_shape(params, w)),
        )
        blink = PARAMS.index("blink")
        if w[blink] > 0.05:
            open_w = w.copy()
            open_w[blink] = 0.0
            for (upper, lower, corners), skin in zip(EYES.values(), self._lid_colours, strict=True):
                lid = [corners[0], *upper, corners[1]]
                paint_lid(
                    self._frame,
                    self.points(lid, open_w),
                    self.points(lid, w),
                    self.points([corners[0], *lower, corners[1]], w),
                    skin,
                    float(w[blink]),
                    softness=self._softness,
                )
        return self._image

    def mouth_shape(self, params: RigParams, w: np.ndarray) -> np.ndarray:
        """The shape of the mouth about to be drawn (:data:`avatar.photo.visemes.FEATURES`), measured on the warped
        landmarks like a clip's frames were; the warp does not tuck the lower lip in, the rig's f/v asks for it."""
        shape = features(self.points(list(MOUTH_POINTS), w), self._rest_mouth)
        shape[3] = min(float(shape[3]), TUCK_QUERY * params.teeth_lip)
        return shape

    def points(self, indices, w: np.ndarray) -> np.ndarray:
        """Mesh points in output pixels for weights ``w``: the face's targets, then the head's motion."""
        pts = self._mesh[indices].copy()
        for i in range(len(MESH_PARAMS)):
            if w[i]:
                pts += w[i] * self._moves[i][indices]
        head = np.zeros_like(pts)
        gx = np.clip(pts[:, 0] / self._step, 0, None).astype(np.float32)
        gy = np.clip(pts[:, 1] / self._step, 0, None).astype(np.float32)
        for name in HEAD_PARAMS:
            value = w[PARAMS.index(name)]
            if value:
                field = self._head_fields[name]
                for axis in (0, 1):
                    sampled = cv2.remap(field[axis], gx[None, :], gy[None, :], cv2.INTER_LINEAR)[0]
                    head[:, axis] += value * sampled
        pts -= head  # forward motion of a point ~ minus the backward field there
        ox, oy = self.offset
        return pts * self.scale + (ox, oy)

    def _photo_grain(self) -> np.ndarray:
        """A fixed noise tile as strong as the fine texture of the skin around the mouth (painted areas get it too)."""
        r = self.mouth_rect()
        x0, y0 = max(round(r.x()), 0), max(round(r.bottom()), 0)
        patch = self._base[y0 : y0 + max(round(r.height() / 2), 4), x0 : x0 + max(round(r.width()), 4), 1]
        patch = patch.astype(np.float32)
        detail = patch - cv2.GaussianBlur(patch, (0, 0), 1.5) if patch.size else np.zeros(1, np.float32)
        sigma = float(np.clip(np.median(np.abs(detail)) * 1.4, 0.0, 8.0))
        return (np.random.default_rng(7).standard_normal((64, 64)) * sigma).astype(np.float32)

    def _skin_below(self, lower: list[int], corners: tuple[int, int]) -> np.ndarray:
        """The skin just under an eye (BGR), the colour a closed lid is painted with."""
        rest = np.zeros(len(PARAMS), np.float32)
        centre = self.points(list(lower), rest).mean(axis=0)
        eye_w = float(np.linalg.norm(np.ptp(self.points(list(corners), rest), axis=0)))
        cx, cy = float(centre[0]), float(centre[1] + 0.35 * eye_w)
        r = max(2, round(0.15 * eye_w))
        patch = self._base[max(round(cy) - r, 0) : round(cy) + r, max(round(cx) - r, 0) : round(cx) + r, :3]
        return np.median(patch.reshape(-1, 3), axis=0).astype(np.float32) * 0.95

    def mouth_rect(self) -> QRectF:
        p = self._mesh
        ox, oy = self.offset
        s = self.scale
        mouth_w = float(np.linalg.norm(p[291] - p[61]))
        cx, cy = (p[61, 0] + p[291, 0]) / 2, (p[13, 1] + p[14, 1]) / 2
        # from above the upper lip to below the lower lip with the jaw open
        return QRectF(
            ox + (cx - 0.65 * mouth_w) * s, oy + (cy - 0.3 * mouth_w) * s, 1.3 * mouth_w * s, 0.85 * mouth_w * s
        )


def _mouth_bank(data: dict) -> MouthBank | None:
    """The pack's real mouths, if it was made from a video. Packs made before the shapes were measured have only
    openings: their mouths are told apart by opening alone."""
    textures = data.get("mouth_textures")
    if textures is None or len(textures) == 0 or textures.shape[1] <= 1:
        return None
    shapes = data.get("mouth_shapes")
    if shapes is None or len(shapes) != len(textures):
        shapes = np.zeros((len(textures), 4), np.float32)
        shapes[:, 0] = data["mouth_openings"]
    return MouthBank(textures, shapes)


def _with_bias(fields: np.ndarray, margin: int) -> np.ndarray:
    """The (P, N) fields (x, y interleaved) and one more row: ``margin`` everywhere (its weight is always 1)."""
    return np.ascontiguousarray(np.concatenate([fields, np.full((1, fields.shape[1]), margin, np.float32)]))


STRIP = 32  # output rows per strip
MERGE = 1.08  # strips one above the other become one if that resamples at most this many times the pixels


def _strips(moving: np.ndarray, size: tuple[int, int], fine: tuple[int, int, int, int]) -> list[tuple[int, ...]]:
    """Rectangles (x0, y0, x1, y1; box pixels) covering every pixel that may move: per band of rows, from the
    first to the last moving one (the still backdrop beside the head is left as it is), the face's always."""
    width, height = size
    cells = cv2.dilate(moving.astype(np.uint8), np.ones((3, 3), np.uint8))  # a grid cell's pixels lie on its edges
    mask = cv2.resize(cells, (width, height), interpolation=cv2.INTER_LINEAR) > 0
    fx0, fy0, fx1, fy1 = fine
    mask[fy0:fy1, fx0:fx1] = True
    strips = []
    for y0 in range(0, height, STRIP):
        y1 = min(y0 + STRIP, height)
        cols = np.flatnonzero(mask[y0:y1].any(axis=0))
        if len(cols):
            x0, x1 = int(cols[0]), int(cols[-1]) + 1
            strips.append((x0, y0, x1, y1))
    # fewer, larger calls where that resamples few more pixels (each call has its cost: threads, a view)
    merged: list[tuple[int, int, int, int]] = []
    for strip in strips:
        if merged and merged[-1][3] == strip[1]:
            last = merged[-1]
            union = (min(last[0], strip[0]), last[1], max(last[2], strip[2]), strip[3])
            if _area(union) <= MERGE * (_area(last) + _area(strip)):
                merged[-1] = union
                continue
        merged.append(strip)
    return merged


def _area(rect: tuple[int, int, int, int]) -> int:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])
