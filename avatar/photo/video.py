"""A pack from a short video: the best still for the face, and the person's own inside of the mouth.

``kiosk avatar create --video FILE``: frames are sampled from the clip, each
gets its face mesh; the sharpest frame that passes every photo check becomes the
pack's photo, and frames where the mouth is open give textures of the real
inner mouth (teeth, tongue, the dark) in a canonical frame: across the opening
from corner to corner, and from the upper lip down to the lower one. The
renderer draws the texture whose opening is nearest (two blended) into the
opening of the moment instead of the painted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar.photo import checks
from avatar.photo.landmarks import Face, find_faces
from avatar.photo.warp import INNER_LOOP

MAX_VIDEO_BYTES = 300 * 1024 * 1024
MAX_SECONDS = 120.0
SAMPLES = 90  # frames looked at
TEXTURE = (48, 24)  # width (across the opening), height (upper lip -> lower lip)
KEEP = 8  # textures kept, spread over the opening
MIN_OPEN = 0.1  # lip gap / mouth width of a frame whose inside is worth keeping
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
    openings: np.ndarray  # K


def read_frames(path: Path) -> tuple[list[np.ndarray], int]:
    """Up to :data:`SAMPLES` RGB frames spread over the clip, and the clip's frame count."""
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
    return frames, count


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
    """The still and the mouth textures of a clip; the refusal of its best frame when none will do."""
    frames, count = read_frames(path)
    candidates = []  # (sharpness, index, face)
    textures: list[tuple[float, np.ndarray]] = []
    first_error = None
    for index, frame in enumerate(frames):
        faces = find_faces(frame)
        if len(faces) != 1:
            continue
        face = faces[0]
        m = checks.measure(face)
        if m.mouth_gap > MIN_OPEN and abs(m.yaw) <= checks.MAX_YAW:
            texture, opening = mouth_texture(frame, face.mesh)
            textures.append((opening, texture))
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
    _, best, _ = max(candidates, key=lambda c: c[0])
    textures.sort(key=lambda item: item[0])
    if len(textures) > KEEP:
        picks = np.linspace(0, len(textures) - 1, KEEP).round().astype(int)
        textures = [textures[i] for i in picks]
    tw, th = TEXTURE
    stack = np.stack([t for _, t in textures]) if textures else np.zeros((0, th, tw, 3), np.uint8)
    return VideoMaterial(
        image=frames[best],
        frame_index=best,
        frames_read=count,
        textures=stack.astype(np.uint8),
        openings=np.array([o for o, _ in textures], np.float32),
    )
