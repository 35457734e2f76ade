"""Warp fields: how each rig parameter moves the photo, precomputed once per pack.

For each mouth, eye and brow parameter the landmarks get a target shape (the jaw
drops and the lower lip with it, the corners spread or pucker, the lids meet);
a piecewise-affine map over the landmark mesh (Delaunay triangles, fixed rings
around the face) turns it into a backward displacement field on a coarse grid:
``source = pixel + field``. Head tilt, nod and breathing are smooth analytic
fields over the head and the bust. At run time the renderer adds the fields
weighted by the rig's values and resamples the photo once (``cv2.remap``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from avatar.photo.landmarks import CHIN, FACE_LEFT, FACE_RIGHT, FOREHEAD

STEP = 8  # canvas pixels per field sample (whole canvas: head motion, breathing, the neck under the jaw)
FINE_STEP = 2  # over the face, where lips and lids need it
BAND = 0.35  # face widths outside the person's outline over which the head's motion fades out

LIP_OUTER_UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIP_OUTER_LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
LIP_INNER_UPPER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LIP_INNER_LOWER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
INNER_LOOP = LIP_INNER_UPPER + LIP_INNER_LOWER[-2:0:-1]  # the opening, clockwise
EYES = {  # upper lid (outer -> inner), lower lid (outer -> inner), corners
    "right": ([246, 161, 160, 159, 158, 157, 173], [7, 163, 144, 145, 153, 154, 155], (33, 133)),
    "left": ([466, 388, 387, 386, 385, 384, 398], [249, 390, 373, 374, 380, 381, 382], (263, 362)),
}
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]  # fmt: skip

MESH_PARAMS = ("jaw", "lip_width", "lip_round", "lip_press", "smile", "blink", "brow_raise", "head_turn")
HEAD_PARAMS = ("head_tilt", "head_nod", "breathing")
PARAMS = MESH_PARAMS + HEAD_PARAMS


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class FaceGeometry:
    """Named measures of a canvas mesh the targets are expressed in."""

    def __init__(self, mesh: np.ndarray, extra: np.ndarray | None = None) -> None:
        """``extra``: more points (the inner ring around the face) that move with the face's targets."""
        self.mesh = mesh.astype(np.float64)
        p = self.mesh[:, :2]
        more = np.zeros((0, 2)) if extra is None else np.asarray(extra, np.float64)
        self.p = np.concatenate([p, more])
        self.z = np.concatenate([self.mesh[:, 2], np.full(len(more), float(np.median(self.mesh[:, 2])))])
        self.mouth_l, self.mouth_r = p[61], p[291]
        self.mouth_w = float(np.linalg.norm(self.mouth_r - self.mouth_l))
        self.mouth_c = np.array([(p[61, 0] + p[291, 0]) / 2, (p[13, 1] + p[14, 1]) / 2])
        self.chin = p[CHIN]
        self.face_w = float(np.linalg.norm(p[FACE_LEFT] - p[FACE_RIGHT]))
        self.face_h = float(np.linalg.norm(p[CHIN] - p[FOREHEAD]))
        self.centre = np.array([(p[FACE_LEFT, 0] + p[FACE_RIGHT, 0]) / 2, (p[FOREHEAD, 1] + p[CHIN, 1]) / 2])
        self.eye_y = float(np.mean([p[33, 1], p[133, 1], p[263, 1], p[362, 1]]))
        self.upper = set(LIP_INNER_UPPER[1:-1])
        self.lower = set(LIP_INNER_LOWER[1:-1])

    def mouth_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """u: -1..1 across the mouth (corner to corner); v: below the seam in half mouth widths."""
        half = self.mouth_w / 2
        return (self.p[:, 0] - self.mouth_c[0]) / half, (self.p[:, 1] - self.mouth_c[1]) / half

    def is_lower(self) -> np.ndarray:
        """Points that go with the lower lip and the jaw (the inner contours by name, the rest below the seam
        between them, which curves up or down towards the corners)."""
        seam = (self.p[LIP_INNER_UPPER] + self.p[LIP_INNER_LOWER]) / 2
        order = np.argsort(seam[:, 0])
        lower = self.p[:, 1] > np.interp(self.p[:, 0], seam[order, 0], seam[order, 1])
        for i in self.upper:
            lower[i] = False
        for i in self.lower:
            lower[i] = True
        return lower

    def mouth_falloff(self, reach: float = 0.45) -> np.ndarray:
        """1 on the lips, fading over ``reach`` mouth widths around them."""
        u, v = self.mouth_coords()
        e = np.sqrt(u**2 + (v / np.where(v < 0, 0.45, 0.6)) ** 2)
        nose = (self.p[2, 1] - self.mouth_c[1]) / (self.mouth_w / 2)  # the nose's base: it does not move with the lips
        keep = (1 - _smoothstep(nose, nose * 0.6, v)) * (
            1 - _smoothstep(0.8, 1.6, np.abs(u))
        )  # the nose, not the cheeks
        return np.exp(-(np.maximum(e - 1.0, 0.0) ** 2) / (2 * reach**2)) * (1 - keep)


def targets(geo: FaceGeometry) -> dict[str, np.ndarray]:
    """Landmark displacements (468 x 2, canvas pixels) of each mesh parameter at value 1."""
    n = len(geo.p)
    u, v = geo.mouth_coords()
    w = geo.mouth_w
    lower = geo.is_lower()
    near = geo.mouth_falloff()
    uc = np.clip(u, -1.25, 1.25)
    out: dict[str, np.ndarray] = {}

    # jaw: the mandible swings down; the lower lip follows, the upper lip lifts a little, corners half-way
    drop = 0.46 * w
    dy = (geo.p[:, 1] - geo.mouth_c[1]) / max(geo.chin[1] - geo.mouth_c[1], 1.0)
    dx = np.abs(geo.p[:, 0] - geo.centre[0]) / (geo.face_w / 2)
    vert = _smoothstep(-0.4, 0.3, dy)
    side = 1.0 - 0.75 * _smoothstep(0.3, 1.05, dx)
    weight = vert * side
    corner = np.clip(np.abs(u), 0, 1) ** 2
    lip = near > 0.999
    weight = np.where(lip & lower, 0.97 - 0.55 * corner, weight)
    weight = np.where(lip & ~lower, -0.07 + 0.45 * _smoothstep(0.5, 1.0, np.abs(u)), weight)
    jaw = np.zeros((n, 2))
    jaw[:, 1] = drop * weight
    jaw[:, 0] = -0.05 * w * uc * near * (1 - np.abs(v).clip(0, 1))  # the corners come in a little
    out["jaw"] = jaw

    # lip width: corners out (EE) or in, lips thin when stretched
    wide = np.zeros((n, 2))
    wide[:, 0] = 0.12 * w * uc * near
    wide[:, 1] = -0.06 * w * np.clip(v, -1, 1) * near * (1 - np.abs(uc).clip(0, 1)) - 0.015 * w * near
    out["lip_width"] = wide

    # rounding: corners in, lips pushed out (thicker), a small round opening in the middle
    rnd = np.zeros((n, 2))
    rnd[:, 0] = -0.2 * w * uc * near * (0.6 + 0.4 * np.abs(uc).clip(0, 1))
    middle = np.clip(1 - uc**2, 0, 1)
    rnd[:, 1] = np.where(lower, 0.07, -0.05) * w * near * (0.4 + 0.6 * middle)
    for i in geo.upper:
        rnd[i, 1] = -0.03 * w * middle[i] - 0.02 * w
    for i in geo.lower:
        rnd[i, 1] = 0.06 * w * middle[i] + 0.02 * w
    out["lip_round"] = rnd

    # press: lips thin towards the seam
    press = np.zeros((n, 2))
    press[:, 1] = -0.3 * (geo.p[:, 1] - geo.mouth_c[1]) * near * (np.abs(v) < 0.9)
    out["lip_press"] = press

    # smile: corners out and up, the cheeks above them lift, the lower lid a touch
    smile = np.zeros((n, 2))
    nose = (geo.p[2, 1] - geo.mouth_c[1]) / (w / 2)
    cheek = np.exp(-((u - np.sign(u) * 1.1) ** 2 + ((v + 0.5) / 0.8) ** 2) / 0.7) * _smoothstep(nose, nose * 0.5, v)
    smile[:, 0] = 0.09 * w * uc * near
    smile[:, 1] = -0.1 * w * np.abs(uc) ** 1.5 * near - 0.05 * w * cheek * (v < 0.6)
    out["smile"] = smile

    # blink: the upper lid comes down to meet the lower one; the skin above follows part way
    blink = np.zeros((n, 2))
    for upper_ids, lower_ids, (outer, inner) in EYES.values():
        xs_up, ys_up = geo.p[upper_ids, 0], geo.p[upper_ids, 1]
        xs_lo, ys_lo = geo.p[lower_ids, 0], geo.p[lower_ids, 1]
        order_u, order_l = np.argsort(xs_up), np.argsort(xs_lo)
        eye_w = float(np.linalg.norm(geo.p[outer] - geo.p[inner]))
        x0, x1 = sorted((geo.p[outer, 0], geo.p[inner, 0]))
        for i in range(n):
            x, y = geo.p[i]
            if not (x0 - 0.35 * eye_w < x < x1 + 0.35 * eye_w):
                continue
            xc = min(max(x, x0), x1)
            top = np.interp(xc, xs_up[order_u], ys_up[order_u])
            bottom = np.interp(xc, xs_lo[order_l], ys_lo[order_l])
            corner_y = (geo.p[outer, 1] + geo.p[inner, 1]) / 2
            gap = max(bottom - top, 0.0)
            meet = top + 0.8 * gap  # where the lids meet
            lateral = math.exp(-((max(x0 - x, 0, x - x1) / (0.18 * eye_w)) ** 2))
            if i in upper_ids:  # the lids stop just short of each other: no triangle turns over
                blink[i, 1] = (meet - 0.4 - y) * lateral
            elif i in lower_ids:
                blink[i, 1] = (meet + 0.4 - y) * lateral
            elif y < corner_y:  # above the eye: the lid skin stretches down
                h = top - y
                blink[i, 1] = 0.8 * gap * 0.55 * math.exp(-((h / (0.3 * eye_w)) ** 2)) * lateral
            else:
                h = y - bottom
                blink[i, 1] = -0.2 * gap * 0.4 * math.exp(-((h / (0.15 * eye_w)) ** 2)) * lateral
    out["blink"] = blink

    # brows up: the brows and the skin between them and the lids; the forehead folds a little
    brow = np.zeros((n, 2))
    rise = (geo.eye_y - geo.p[:, 1]) / (0.22 * geo.face_h)
    band = _smoothstep(0.25, 0.9, rise) * (1 - _smoothstep(1.4, 2.6, rise))
    across = 1 - _smoothstep(0.7, 1.0, np.abs(geo.p[:, 0] - geo.centre[0]) / (geo.face_w / 2))
    brow[:, 1] = -0.055 * geo.face_h * band * across
    out["brow_raise"] = brow

    # head turn: parallax from the mesh's depth (nose moves most), as a small yaw
    turn = np.zeros((n, 2))
    z = np.clip(geo.z - np.median(geo.z), -0.3 * geo.face_w, 0.3 * geo.face_w)
    turn[:, 0] = -0.12 * z
    out["head_turn"] = turn
    for moves in out.values():  # far-off tails of the falloffs: nothing there moves
        moves[np.abs(moves) < 0.05] = 0.0
    return out


def _rings(mesh: np.ndarray, canvas: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Points around the face: an inner ring that follows the face's targets (the chin may drop past the oval),
    and an outer ring with the canvas's corners that stays fixed and bounds the warp."""
    geo = FaceGeometry(mesh)
    oval = geo.p[FACE_OVAL]
    c = geo.centre
    w, h = canvas
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    return c + (oval - c) * 1.3, np.concatenate([c + (oval - c) * 1.8, corners])


@dataclass(frozen=True)
class Grid:
    """Where a field is sampled: canvas pixel (x0 + j * step, y0 + i * step) for i < rows, j < cols."""

    x0: int
    y0: int
    step: int
    rows: int
    cols: int

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        ys, xs = np.mgrid[0 : self.rows, 0 : self.cols].astype(np.float64) * self.step
        return xs + self.x0, ys + self.y0


def mesh_field(src: np.ndarray, dst: np.ndarray, tris: np.ndarray, grid: Grid) -> np.ndarray:
    """Backward field (2, rows, cols) in canvas pixels: a grid point inside a deformed triangle maps into the source one."""
    index = np.full((grid.rows, grid.cols), -1, np.int32)
    dst_g = (dst - (grid.x0, grid.y0)) / grid.step
    for t, tri in enumerate(tris):
        cv2.fillConvexPoly(index, np.round(dst_g[tri] * 16).astype(np.int32), int(t), lineType=cv2.LINE_8, shift=4)
    # affine maps dst -> src per triangle
    q = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)  # T x 3 x 3 (rows: vertices)
    p = src[tris]  # T x 3 x 2
    ok = np.abs(np.linalg.det(q)) > 1e-6
    mats = np.zeros((len(tris), 3, 2))
    mats[ok] = np.linalg.solve(q[ok], p[ok])  # [x y 1] @ M = src
    xs, ys = grid.points()
    field = np.zeros((2, grid.rows, grid.cols), np.float32)
    inside = index >= 0
    m = mats[index[inside]]
    gx, gy = xs[inside], ys[inside]
    field[0][inside] = gx * m[:, 0, 0] + gy * m[:, 1, 0] + m[:, 2, 0] - gx
    field[1][inside] = gx * m[:, 0, 1] + gy * m[:, 1, 1] + m[:, 2, 1] - gy
    return field


def head_fields(geo: FaceGeometry, person: np.ndarray, grid: Grid) -> dict[str, np.ndarray]:
    """Tilt (per degree), nod (per degree) and breathing (at 1) as backward fields over the head and the bust."""
    xs, ys = grid.points()
    c = geo.centre + np.array([0.0, -0.12 * geo.face_h])  # the head with its hair
    ex, ey = (xs - c[0]) / (0.95 * geo.face_w), (ys - c[1]) / (0.85 * geo.face_h)
    r = np.sqrt(ex**2 + ey**2)
    head = np.exp(-(np.maximum(r - 1.0, 0.0) ** 2) / (2 * 0.25**2))
    pivot = geo.chin + np.array([0.0, 0.3 * geo.face_h])  # the neck
    head = np.where(ys > pivot[1], head * np.exp(-(((ys - pivot[1]) / (0.15 * geo.face_h)) ** 2)), head)
    # the background stays still: the head's motion fades out within a band around the person's outline
    # (before, the whole backdrop swayed with the head; it also cost a resampled pixel for every one of them)
    head = head * _near_person(person, grid, BAND * geo.face_w)
    head = np.where(head < 0.02, 0.0, head)  # no endless tails: the warp stays in a box around the head
    rad = math.radians(1.0)
    tilt = np.stack([(ys - pivot[1]) * rad, -(xs - pivot[0]) * rad]) * head  # output samples R(-1 deg)
    nod = np.stack([np.zeros_like(xs), -0.012 * geo.face_h * np.ones_like(ys)]) * head
    # the shoulders rise with a breath, the lift fading out down the chest
    step = grid.step
    crop = person[grid.y0 : grid.y0 + grid.rows * step : step, grid.x0 : grid.x0 + grid.cols * step : step]
    body = np.zeros((grid.rows, grid.cols), np.float32)
    body[: crop.shape[0], : crop.shape[1]] = crop
    body = cv2.GaussianBlur(body, (0, 0), 24 / step)
    shoulders = _smoothstep(pivot[1] + 0.7 * geo.face_h, pivot[1] + 0.15 * geo.face_h, ys)
    lift = 0.024 * geo.face_h * np.maximum(body * shoulders, head)
    lift = np.where(lift < 0.05, 0.0, lift)
    breathing = np.stack([np.zeros_like(xs), lift])
    return {
        "head_tilt": tilt.astype(np.float32),
        "head_nod": nod.astype(np.float32),
        "breathing": breathing.astype(np.float32),
    }


def _near_person(person: np.ndarray, grid: Grid, band: float) -> np.ndarray:
    """1 on the person, falling smoothly to 0 at ``band`` canvas pixels outside their outline, at the grid's points."""
    outside = (person < 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    xs, ys = grid.points()
    at = cv2.remap(
        dist, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return 1.0 - _smoothstep(0.0, band, at.astype(np.float64))


def _fields_on(grid: Grid, geo: FaceGeometry, src, moves, tris, person) -> np.ndarray:
    fields = []
    for name in MESH_PARAMS:
        dst = src.copy()
        dst[: len(geo.p)] += moves[name]
        field = mesh_field(src, dst, tris, grid)
        # a grid point caught in a sliver of a triangle shows as a speck: a 3 x 3 median removes lone ones
        fields.append(np.stack([cv2.medianBlur(np.ascontiguousarray(f), 3) for f in field]))
    head = head_fields(geo, person, grid)
    fields.extend(head[name] for name in HEAD_PARAMS)
    return np.stack(fields).astype(np.float16)


def _area(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _unfold(src: np.ndarray, moves: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """The targets with the moves of points around any triangle that would turn over eased until none does
    (a fold shows as a speck or a seam)."""
    moves = moves.copy()
    n = len(moves)
    before = np.sign(_area(src, tris))
    for _ in range(12):
        dst = src.copy()
        dst[:n] += moves
        folded = np.sign(_area(dst, tris)) != before
        if not folded.any():
            break
        corners = np.unique(tris[folded])
        corners = corners[corners < n]
        moves[corners] *= 0.75
    return moves


def build_fields(mesh: np.ndarray, person: np.ndarray) -> dict[str, np.ndarray]:
    """All fields of one canvas, parameters in :data:`PARAMS` order: a coarse grid over the whole canvas
    (``fields``, P x 2 x rows x cols) and a fine one over the face (``fine``, at ``fine_origin``), the landmark
    targets (``moves``) and the grids' steps."""
    height, width = person.shape
    inner, fixed = _rings(mesh, (width, height))
    geo = FaceGeometry(mesh, inner)
    moves = targets(geo)
    src = np.concatenate([geo.p, fixed])
    tris = Delaunay(src).simplices
    for name in MESH_PARAMS:
        moves[name] = _unfold(src, moves[name], tris)
    coarse = Grid(0, 0, STEP, height // STEP + 1, width // STEP + 1)
    # the face from above the brows to below the dropped chin, aligned with the coarse grid
    p = geo.p[: len(mesh)]
    x0 = int(max(p[:, 0].min() - 0.08 * geo.face_w, 0)) // STEP * STEP
    x1 = int(min(p[:, 0].max() + 0.08 * geo.face_w, width - 1))
    y0 = int(max(geo.eye_y - 0.45 * geo.face_h, 0)) // STEP * STEP
    y1 = int(min(geo.chin[1] + 0.7 * geo.mouth_w, height - 1))
    fine = Grid(x0, y0, FINE_STEP, (y1 - y0) // FINE_STEP + 1, (x1 - x0) // FINE_STEP + 1)
    return {
        "fields": _fields_on(coarse, geo, src, moves, tris, person),
        "fine": _fields_on(fine, geo, src, moves, tris, person),
        "fine_origin": np.array([fine.x0, fine.y0], np.int32),
        "fine_step": np.int32(FINE_STEP),
        "step": np.int32(STEP),
        "moves": np.stack([moves[k][: len(mesh)] for k in MESH_PARAMS]).astype(np.float32),
    }
