"""A pack from a short video: the best still for the face, and the person's own inside of the mouth.

``kiosk avatar create --video FILE``: frames are sampled from the clip, each
gets its face mesh; the sharpest frame that passes every photo check becomes the
pack's photo, and frames where the mouth is open give textures of the real
inner mouth (teeth, tongue, the dark) in a canonical frame: across the opening
from corner to corner, and from the upper lip down to the lower one. Each such
frame's mouth shape is measured by its landmarks (:mod:`avatar.photo.visemes`:
opening, width, roundness, lower lip tucked) and named by its viseme class; a
few of each class are kept. The renderer measures the mouth it is about to draw
the same way and blends the two real mouths nearest to it into the opening
instead of the painted one. What the clip lacks (a class never seen, a mouth
that never opens wide, a face lost, a clip too short) is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from avatar.photo import checks
from avatar.photo.landmarks import Face, find_faces
from avatar.photo.visemes import CLASSES, DESCRIBED, MOUTH_POINTS, RestMouth, classify, features, pick
from avatar.photo.warp import INNER_LOOP

_LOGGER = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 300 * 1024 * 1024
MAX_SECONDS = 120.0
SAMPLES = 90  # frames looked at
TEXTURE = (48, 24)  # width (across the opening), height (upper lip -> lower lip)
PER_CLASS = 3  # textures kept per viseme class, spread over the class's openings
MIN_GAP_PX = 4.0  # a narrower opening gives no texture worth keeping
SHORT_S = 4.0  # a clip shorter than this is reported as short
WIDE_OPEN = 0.3  # opening (lip gap / closed mouth width) that counts as wide open
VIDEO_ADVICE = (
    "film 5 to 20 s from the front in even light, head and shoulders, the person looking at the camera, "
    "mouth closed for a moment, then speaking"
)


@dataclass
class VideoMaterial:
    """The still for the pack, and the mouth textures (RGB) with their openings (lip gap / mouth width)."""

    image: np.ndarray
    frame_index: int
    frames_read: int
    textures: np.ndarray  # K x H x W x 3 uint8
    openings: np.ndarray  # K: lip gap / mouth width of each
    shapes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # K x 4 (visemes.FEATURES)
    classes: list[str] = field(default_factory=list)  # K viseme classes
    seen: dict[str, int] = field(default_factory=dict)  # frames of each class in the clip
    notes: list[str] = field(default_factory=list)  # what the clip lacks, one line each


def read_frames(path: Path) -> tuple[list[np.ndarray], int, float]:
    """Up to :data:`SAMPLES` RGB frames spread over the clip, the clip's frame count and its seconds."""
    if not path.is_file():
        raise checks.refuse("unreadable", f"{path}: no such file", hint="give the video as an MP4 file")
    if path.stat().st_size > MAX_VIDEO_BYTES:
        raise checks.refuse("too-large", f"{path}: the video is over 300 MB", hint=VIDEO_ADVICE)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise checks.refuse("unsupported", f"{path}: not a video that can be read", hint="save it as MP4 (H.264)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > checks.MAX_PIXELS:
            raise checks.refuse("too-large", f"{path}: {width}x{height} frames are too large", hint=VIDEO_ADVICE)
        if count <= 0:
            raise checks.refuse("unsupported", f"{path}: no frames in the video", hint=VIDEO_ADVICE)
        if count / fps > MAX_SECONDS:
            raise checks.refuse(
                "too-large", f"{path}: {count / fps:.0f} s is too long (at most {MAX_SECONDS:.0f} s)", hint=VIDEO_ADVICE
            )
        wanted = set(np.linspace(0, count - 1, min(SAMPLES, count)).round().astype(int).tolist())
        frames = []
        for index in range(count):
            if not capture.grab():
                break
            if index in wanted:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise checks.refuse("unsupported", f"{path}: no frame could be decoded", hint="save it as MP4 (H.264)")
    return frames, count, count / fps


def _sharpness(image: np.ndarray, face: Face) -> float:
    x, y, w, h = (int(v) for v in face.box)
    crop = image[max(y, 0) : y + h, max(x, 0) : x + w]
    if crop.size == 0:
        return 0.0
    return float(cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var())


def mouth_texture(image: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, float]:
    """The inside of the mouth in the canonical frame (across x down), and the opening (lip gap / mouth width)."""
    loop = mesh[INNER_LOOP, :2].astype(np.float32)
    upper = loop[:11]
    lower = np.concatenate([loop[:1], loop[11:][::-1], loop[10:11]])
    left, right = float(loop[:, 0].min()), float(loop[:, 0].max())
    tw, th = TEXTURE
    # a little inside the contour: the landmarks' lips are a pixel or two off, the lips must not come along
    u = 0.06 + 0.88 * (np.arange(tw, dtype=np.float32) + 0.5) / tw
    xs = left + u * (right - left)
    ou, ol = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
    top = np.interp(xs, upper[ou, 0], upper[ou, 1])
    bottom = np.interp(xs, lower[ol, 0], lower[ol, 1])
    v = 0.1 + 0.85 * (np.arange(th, dtype=np.float32) + 0.5) / th
    map_x = np.broadcast_to(xs[None, :], (th, tw)).astype(np.float32)
    map_y = (top[None, :] + v[:, None] * (bottom - top)[None, :]).astype(np.float32)
    texture = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mouth_w = float(np.linalg.norm(mesh[291, :2] - mesh[61, :2]))
    gap = float(np.linalg.norm(mesh[14, :2] - mesh[13, :2]))
    return texture, gap / max(mouth_w, 1.0)


def from_video(path: Path) -> VideoMaterial:
    """The still and the mouth textures of a clip, picked per viseme class; the refusal of its best frame when
    none will do."""
    frames, count, seconds = read_frames(path)
    candidates = []  # (sharpness, index, face)
    mouths = []  # (index, face) of frontal frames: their mouth shapes, once the closed mouth is known
    first_error = None
    for index, frame in enumerate(frames):
        faces = find_faces(frame)
        if len(faces) != 1:
            continue
        face = faces[0]
        m = checks.measure(face)
        if abs(m.yaw) <= checks.MAX_YAW:
            mouths.append((index, face))
        if m.mouth_gap > checks.MAX_MOUTH_GAP:
            continue
        try:
            checks.check_face(faces, frame)
        except Exception as exc:  # keep the first reason: it is what to say if no frame will do
            first_error = first_error or exc
            continue
        candidates.append((_sharpness(frame, face), index, face))
    if not candidates:
        if first_error is not None:
            raise first_error
        raise checks.refuse("no-face", f"{path}: no frame with one frontal face and a closed mouth", hint=VIDEO_ADVICE)
    _, best, still = max(candidates, key=lambda c: c[0])
    rest = RestMouth.of(still.mesh[list(MOUTH_POINTS), :2])
    shapes, seen, widest = [], dict.fromkeys(CLASSES, 0), 0.0
    for index, face in mouths:
        # the same closed mouth at this frame's scale (the person a little nearer or farther)
        f = features(face.mesh[list(MOUTH_POINTS), :2], rest.scaled(face.width / max(still.width, 1.0)))
        seen[classify(f)] += 1
        widest = max(widest, float(f[0]))
        if float(np.linalg.norm(face.mesh[14, :2] - face.mesh[13, :2])) >= MIN_GAP_PX:
            shapes.append((f, (index, face)))
    kept = pick(shapes, PER_CLASS)
    textures, openings = [], []
    for _, _, (index, face) in kept:
        texture, opening = mouth_texture(frames[index], face.mesh)
        textures.append(texture)
        openings.append(opening)
    tw, th = TEXTURE
    material = VideoMaterial(
        image=frames[best],
        frame_index=best,
        frames_read=count,
        textures=(np.stack(textures) if textures else np.zeros((0, th, tw, 3))).astype(np.uint8),
        openings=np.array(openings, np.float32),
        shapes=np.array([f for _, f, _ in kept], np.float32).reshape(-1, 4),
        classes=[name for name, _, _ in kept],
        seen=seen,
    )
    material.notes.extend(_shortcomings(material, seconds, len(frames), len(mouths), widest))
    for note in material.notes:
        _LOGGER.warning("%s: %s", path.name, note)
    return material


def _shortcomings(material: VideoMaterial, seconds: float, looked_at: int, frontal: int, widest: float) -> list[str]:
    """One line per thing the clip does not give, and what the avatar does instead."""
    notes = []
    if seconds < SHORT_S:
        notes.append(
            f"the clip is short ({seconds:.1f} s): few mouth shapes in it; film 5 to 20 s of the person speaking"
        )
    if frontal < 0.8 * looked_at:
        lost = looked_at - frontal
        notes.append(f"the face was lost or turned away in {lost} of {looked_at} frames looked at")
    if len(material.classes) == 0:
        notes.append("the mouth never opens in the clip: the inside of the mouth is painted, as from a photo")
        return notes
    if widest < WIDE_OPEN:
        notes.append(
            f"the mouth never opens wide (at most {widest:.2f} of its width): wide-open vowels stretch the "
            "widest real mouth"
        )
    missing = [c for c in ("open", "wide", "rounded", "fv") if c not in material.classes]
    if missing:
        named = "; ".join(DESCRIBED[c] for c in missing)
        notes.append(f"no usable frame of: {named}; those use the nearest real mouth")
    return notes
