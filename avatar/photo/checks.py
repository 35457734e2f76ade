"""Is this photo good material for a photoreal avatar? Each refusal is one coded line saying what photo to take.

:func:`read_photo` checks the file (format, size and dimensions from its header,
before anything is decoded: no decompression bombs), :func:`check_face` the
face the landmark model found (one face, big and sharp enough, whole, upright,
frontal, eyes open, mouth closed, lit).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar.photo.landmarks import (
    CHIN,
    FACE_LEFT,
    FACE_RIGHT,
    FOREHEAD,
    LEFT_EYE_INNER,
    LEFT_EYE_OUTER,
    NOSE_TIP,
    RIGHT_EYE_INNER,
    RIGHT_EYE_OUTER,
    Face,
    eye_openness,
)
from core.errors import AvatarError

MAX_FILE_BYTES = 40 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
MIN_SIDE = 480
MIN_FACE_PX = 160
MAX_ROLL_DEG = 15.0
MAX_YAW = 0.12  # nose off the middle between the cheeks, as a fraction of the face's width
MIN_EYE_OPEN = 0.2  # lid gap / eye width, both eyes' mean (the usual "eye aspect ratio" blink threshold)
MAX_MOUTH_GAP = 0.06  # inner lip gap / mouth width
MIN_LIGHT = 60.0  # mean luma of the face (0..255)
ADVICE = (
    "take a frontal photo in even light: head and shoulders with space around the hair, "
    "eyes open, mouth closed, a neutral face, at least 1000 px on its shorter side"
)

# lid pairs (upper, lower) of each eye and the eye's corners
EYES = {
    "right": ((160, 144), (159, 145), (158, 153), (RIGHT_EYE_OUTER, RIGHT_EYE_INNER)),
    "left": ((385, 380), (386, 374), (387, 373), (LEFT_EYE_INNER, LEFT_EYE_OUTER)),
}
MOUTH_LEFT, MOUTH_RIGHT, INNER_TOP, INNER_BOTTOM = 61, 291, 13, 14


def refuse(code: str, message: str, hint: str = ADVICE) -> AvatarError:
    return AvatarError(message, code=f"avatar-photo-{code}", hint=hint)


def _header_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) read from the first bytes of a PNG, JPEG, WebP or BMP file; None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
                i += 2 if marker != 0xFF else 1
                continue
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return "jpeg", width, height
            i += 2 + length
        return "jpeg", 0, 0
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
            return "webp", width, height
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return "webp", width & 0x3FFF, height & 0x3FFF
        return "webp", 0, 0
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return "bmp", abs(width), abs(height)
    return None


def read_photo(path: Path, what: str = "photo") -> np.ndarray:
    """The image as RGB uint8, after checking the file's format, size and dimensions from its header."""
    if not path.exists():
        raise refuse("unreadable", f"{path}: no such file", hint=f"give the {what} as a JPEG or PNG file")
    if not path.is_file():
        raise refuse("unreadable", f"{path}: is not a file", hint=f"give the {what} as a JPEG or PNG file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise refuse(
            "too-large",
            f"{path}: {size / 1e6:.0f} MB is too big (at most {MAX_FILE_BYTES // (1024 * 1024)} MB)",
            hint="export the photo as a JPEG of a few megapixels",
        )
    data = path.read_bytes()
    header = _header_size(data[:65536])
    if header is None:
        raise refuse(
            "unsupported",
            f"{path}: not a JPEG, PNG, WebP or BMP image",
            hint="save the photo as JPEG or PNG (HEIC, GIF, RAW and PDF are not read)",
        )
    kind, width, height = header
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise refuse(
            "too-large",
            f"{path}: {width}x{height} pixels is too large (at most {MAX_PIXELS // 1_000_000} megapixels)",
            hint="export the photo at a few megapixels",
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # applies the EXIF orientation
    if image is None or image.ndim != 3:
        raise refuse("unsupported", f"{path}: the {kind.upper()} data cannot be decoded", hint="save it again as JPEG")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:  # a header that lied
        raise refuse("too-large", f"{path}: {image.shape[1]}x{image.shape[0]} pixels is too large")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def luma(image_rgb: np.ndarray) -> np.ndarray:
    return image_rgb[..., 0] * 0.299 + image_rgb[..., 1] * 0.587 + image_rgb[..., 2] * 0.114


def check_image(image_rgb: np.ndarray) -> None:
    """Checks before looking for a face: resolution and overall light."""
    height, width = image_rgb.shape[:2]
    if min(width, height) < MIN_SIDE:
        raise refuse(
            "low-resolution",
            f"the photo is {width}x{height} pixels: too small (at least {MIN_SIDE} px on the shorter side)",
        )
    if float(luma(image_rgb[::4, ::4].astype(np.float32)).mean()) < MIN_LIGHT * 0.6:
        raise refuse("too-dark", "the photo is too dark", hint="light the face evenly from the front; " + ADVICE)


@dataclass(frozen=True)
class FaceMeasures:
    """What :func:`check_face` measured, for the pack's record."""

    face_px: float
    roll_deg: float
    yaw: float
    eye_open: float
    mouth_gap: float
    face_luma: float


def _level(face: Face) -> np.ndarray:
    """The mesh's x, y rotated so that the eyes are level."""
    a = -math.radians(face.roll_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return face.mesh[:, :2] @ rot.T


def measure(face: Face, image_rgb: np.ndarray | None = None) -> FaceMeasures:
    pts = _level(face)
    left, right = pts[FACE_LEFT, 0], pts[FACE_RIGHT, 0]
    yaw = (pts[NOSE_TIP, 0] - (left + right) / 2) / max(abs(left - right), 1e-6)
    opens = []
    for pairs in EYES.values():
        *lids, corners = pairs
        width = np.linalg.norm(pts[corners[0]] - pts[corners[1]])
        opens.append(np.mean([pts[lo, 1] - pts[up, 1] for up, lo in lids]) / max(width, 1e-6))
    mouth_w = np.linalg.norm(pts[MOUTH_LEFT] - pts[MOUTH_RIGHT])
    gap = (pts[INNER_BOTTOM, 1] - pts[INNER_TOP, 1]) / max(mouth_w, 1e-6)
    light = 255.0
    eye_open = float(min(opens))
    if image_rgb is not None:
        eye_open = float(np.mean(eye_openness(image_rgb, face.mesh)))  # the eyelid model: sharper lids
        mask = np.zeros(image_rgb.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(face.mesh[:, :2].astype(np.int32)), 1)
        light = float(luma(image_rgb[mask > 0].astype(np.float32)).mean()) if mask.any() else 0.0
    return FaceMeasures(face.width, face.roll_deg, float(yaw), eye_open, float(gap), light)


def check_face(faces: list[Face], image_rgb: np.ndarray) -> tuple[Face, FaceMeasures]:
    """The one usable face of the photo, or the refusal that says what is wrong with it."""
    height, width = image_rgb.shape[:2]
    if not faces or faces[0].presence < 0.5:
        raise refuse("no-face", "no face found in the photo")
    face = faces[0]
    others = [f for f in faces[1:] if f.width > 0.35 * face.width]
    if others:
        raise refuse("several-faces", f"{len(others) + 1} faces in the photo: it must show one person")
    m = measure(face, image_rgb)
    if abs(m.roll_deg) > MAX_ROLL_DEG:
        raise refuse(
            "tilted", f"the face is tilted by {abs(m.roll_deg):.0f} degrees (or the photo is rotated)", hint=ADVICE
        )
    if abs(m.yaw) > MAX_YAW:
        raise refuse("profile", "the face is turned to the side: the avatar needs a frontal photo", hint=ADVICE)
    if m.face_px < MIN_FACE_PX:
        raise refuse(
            "face-too-small",
            f"the face is {m.face_px:.0f} px wide: too small (at least {MIN_FACE_PX} px)",
            hint="come closer or use a sharper camera; " + ADVICE,
        )
    pts = face.mesh[:, :2]
    face_h = float(np.linalg.norm(pts[CHIN] - pts[FOREHEAD]))
    top = pts[FOREHEAD, 1] - 0.35 * face_h
    bottom = pts[CHIN, 1] + 0.2 * face_h
    sides = (pts[:, 0].min() - 0.08 * m.face_px, pts[:, 0].max() + 0.08 * m.face_px)
    if top < 0 or bottom > height or sides[0] < 0 or sides[1] > width:
        where = "top" if top < 0 else "bottom" if bottom > height else "side"
        raise refuse("cut-off", f"the head is cut off at the {where} of the photo", hint=ADVICE)
    if m.face_luma < MIN_LIGHT:
        raise refuse("too-dark", "the face is too dark", hint="light the face evenly from the front; " + ADVICE)
    if m.eye_open < MIN_EYE_OPEN:
        raise refuse("eyes-closed", "the eyes are closed (or nearly)", hint=ADVICE)
    if m.mouth_gap > MAX_MOUTH_GAP:
        raise refuse("mouth-open", "the mouth is open: the avatar needs closed lips at rest", hint=ADVICE)
    return face, m
