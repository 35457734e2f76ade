"""Head and shoulders laid out on the screen's canvas, the rest filled from the photo's background or a given image.

The person is cut out with MediaPipe's selfie segmentation (the TFLite file in the
same wheel as the face models), scaled and rotated so that the eyes are level
and the face takes a set share of the canvas, and continued downwards where the
photo ends (a bust reaches the bottom of a portrait screen). Without a
background image, the photo's own background is used where the photo reaches
and, beyond it, the same background with the person painted out, blurred.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from avatar.photo.landmarks import CHIN, FACE_LEFT, FACE_RIGHT, FOREHEAD, LEFT_EYE_OUTER, RIGHT_EYE_OUTER, _run

SEGMENTER = "modules/selfie_segmentation/selfie_segmentation.tflite"

# canvas, share of the canvas width the face (cheek to cheek) takes, height of the eye line
LAYOUTS = {
    "portrait": ((1080, 1920), 0.40, 0.34),
    "landscape": ((1920, 1080), 0.22, 0.40),
}


@dataclass
class Layout:
    """One canvas: the composed image (RGB), the person's mask, the mesh in canvas pixels and the photo's scale."""

    name: str
    image: np.ndarray
    person: np.ndarray  # float32 0..1
    mesh: np.ndarray  # 468 x 3
    photo_scale: float  # canvas pixels per photo pixel
    photo_mask: np.ndarray  # float32 0..1: where the canvas shows the photo itself


def person_mask(image_rgb: np.ndarray) -> np.ndarray:
    """Soft person mask (float32 0..1) at the photo's size."""
    h, w = image_rgb.shape[:2]
    small = cv2.resize(image_rgb, (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    mask = _run(SEGMENTER, small)[0][0, :, :, 0]
    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 400))
    return np.clip((mask - 0.5) * 2.5 + 0.5, 0.0, 1.0).astype(np.float32)


def background_plate(image_rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo with the person painted out (small inpaint, then blurred): fills what the photo does not cover."""
    h, w = image_rgb.shape[:2]
    k = 160 / max(h, w)
    small = cv2.resize(image_rgb, (max(2, round(w * k)), max(2, round(h * k))), interpolation=cv2.INTER_AREA)
    hole = cv2.resize(mask, small.shape[1::-1]) > 0.15
    hole = cv2.dilate(hole.astype(np.uint8), np.ones((5, 5), np.uint8))
    filled = cv2.inpaint(small, hole, 6, cv2.INPAINT_TELEA)
    return cv2.GaussianBlur(filled, (0, 0), 4)


def _similarity(mesh: np.ndarray, canvas: tuple[int, int], face_share: float, eye_line: float) -> np.ndarray:
    """2 x 3 matrix: photo -> canvas, eyes level, face width = face_share of the canvas width."""
    width, height = canvas
    eyes = mesh[[RIGHT_EYE_OUTER, LEFT_EYE_OUTER], :2]
    d = eyes[1] - eyes[0]
    angle = math.atan2(d[1], d[0])
    face_w = float(np.linalg.norm(mesh[FACE_LEFT, :2] - mesh[FACE_RIGHT, :2]))
    scale = face_share * width / face_w
    c, s = math.cos(-angle) * scale, math.sin(-angle) * scale
    rot = np.array([[c, -s], [s, c]])
    centre = (mesh[FACE_LEFT, :2] + mesh[FACE_RIGHT, :2]) / 2
    anchor = (centre + eyes.mean(axis=0)) / 2  # the face's middle on the eye line
    shift = np.array([width / 2, eye_line * height]) - rot @ anchor
    return np.hstack([rot, shift[:, None]])


def compose(
    image_rgb: np.ndarray,
    mesh: np.ndarray,
    mask: np.ndarray,
    plate: np.ndarray,
    name: str,
    background: np.ndarray | None = None,
) -> Layout:
    """The canvas of layout ``name``: person over the photo's background (or ``background``), bust continued down."""
    (width, height), share, eye_line = LAYOUTS[name]
    h, w = image_rgb.shape[:2]
    matrix = _similarity(mesh, (width, height), share, eye_line)
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    # continue the photo downwards by repeating its last rows (the bust reaches the bottom of the canvas)
    extra = int(max(0, height / scale - h + abs(matrix[1, 2]) / scale) + 8)
    tall = np.concatenate([image_rgb, _continued(image_rgb, extra)], axis=0)
    tall_mask = np.concatenate([mask, _continued(mask, extra)], axis=0)
    # the bottom rows of the mask fade at the photo's sides (a shoulder cut by the frame must not smear sideways)
    flags = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    person_rgb = cv2.warpAffine(tall, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    person = cv2.warpAffine(tall_mask, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    inside = np.zeros((h + extra, w), np.float32)  # the photo's own extent
    inside[:h, :] = 1.0
    feather = max(2, round(0.02 * w))
    photo_mask = cv2.warpAffine(inside, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    photo_mask = cv2.GaussianBlur(photo_mask, (0, 0), feather * scale / 2 + 1)
    # the bust fades out just beyond the photo's sides (a shoulder the frame cut must not end in a hard edge,
    # nor smear sideways), and stays whole inside them
    extent = cv2.warpAffine(np.ones_like(tall_mask), matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    reach = max(2, round(feather * scale))
    extent = cv2.GaussianBlur(cv2.dilate(extent, np.ones((1, 2 * reach + 1), np.float32)), (0, 0), reach / 2)
    person *= extent
    if background is not None:
        back = _cover(background, width, height).astype(np.float32)
        under = back
    else:
        back = _cover(plate, width, height).astype(np.float32)
        back = cv2.GaussianBlur(back, (0, 0), 6)
        photo_bg = person_rgb.astype(np.float32)
        under = back * (1 - photo_mask[..., None]) + photo_bg * photo_mask[..., None]
    alpha = person[..., None]
    canvas = under * (1 - alpha) + person_rgb.astype(np.float32) * alpha
    mesh_c = np.concatenate([mesh[:, :2] @ matrix[:, :2].T + matrix[:, 2], mesh[:, 2:3] * scale], axis=1)
    return Layout(
        name=name,
        image=np.clip(canvas + 0.5, 0, 255).astype(np.uint8),
        person=person.astype(np.float32),
        mesh=mesh_c.astype(np.float32),
        photo_scale=scale,
        photo_mask=photo_mask.astype(np.float32),
    )


def _continued(image: np.ndarray, rows: int) -> np.ndarray:
    """``rows`` more rows under ``image``: its last rows averaged and smoothed sideways, shading a little darker."""
    h, w = image.shape[:2]
    band = np.median(image[-max(3, h // 10) :].astype(np.float32), axis=0, keepdims=True)  # no buttons, no badges
    band = cv2.GaussianBlur(band, (0, 0), sigmaX=max(1.0, w / 40), sigmaY=0.1)
    ramp = np.linspace(1.0, 0.8 if image.ndim == 3 else 1.0, max(rows, 1), dtype=np.float32)
    shape = (rows, w, *image.shape[2:])
    out = np.broadcast_to(band.reshape(1, w, *image.shape[2:]), shape) * ramp.reshape(-1, *([1] * (image.ndim - 1)))
    # blend the first rows with the photo's last ones so no seam shows
    k = min(rows, max(2, h // 20))
    fade = np.linspace(1.0, 0.0, k, dtype=np.float32).reshape(-1, *([1] * (image.ndim - 1)))
    out = out.copy()
    out[:k] = fade * image[-1:].astype(np.float32) + (1 - fade) * out[:k]
    return out.astype(image.dtype)


def _cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to cover width x height, centred and cropped."""
    h, w = image.shape[:2]
    k = max(width / w, height / h)
    size = (max(width, round(w * k)), max(height, round(h * k)))
    big = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    x0, y0 = (size[0] - width) // 2, (size[1] - height) // 2
    return big[y0 : y0 + height, x0 : x0 + width]


def face_size(mesh: np.ndarray) -> tuple[float, float]:
    """Face width (cheek to cheek) and height (forehead to chin) of a mesh."""
    return (
        float(np.linalg.norm(mesh[FACE_LEFT, :2] - mesh[FACE_RIGHT, :2])),
        float(np.linalg.norm(mesh[CHIN, :2] - mesh[FOREHEAD, :2])),
    )
