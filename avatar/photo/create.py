"""Build a photoreal avatar pack from one portrait: ``create_pack(photo, name, avatars_dir)``.

Steps (each reported to ``progress``): read and check the file, find the face
and its mesh, check the face, cut out the person, lay out the portrait and
landscape canvases, compute the warp fields, write the pack. Everything is
written to a temporary folder beside the destination and moved into place at
the end: a refused or failed photo leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from avatar.pack import BUILTIN_PACKS, MANIFEST, PALETTE_KEYS
from avatar.photo import checks
from avatar.photo.landmarks import find_faces
from avatar.photo.layout import LAYOUTS, Layout, background_plate, compose, person_mask
from avatar.photo.warp import INNER_LOOP, LIP_INNER_LOWER, LIP_OUTER_LOWER, LIP_OUTER_UPPER, PARAMS, build_fields
from core.errors import AvatarError

STEPS = (
    "reading the photo",
    "finding the face",
    "checking the face",
    "cutting out the person",
    "laying out the portrait screen",
    "laying out the landscape screen",
    "computing the warp fields",
    "writing the pack",
)
FORMAT = 1
MAX_FACE_PX = 520  # cheek to cheek, before the layout (the canvases use about 430)
Progress = Callable[[int, str], None]


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (round(float(np.clip(v, 0, 255))) for v in rgb[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _region_colour(image: np.ndarray, polygon: np.ndarray, stat=np.median) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return stat(image[mask > 0].reshape(-1, 3).astype(np.float32), axis=0)


def colours(layout: Layout) -> dict[str, np.ndarray]:
    """Colours the inner mouth is painted with, taken from this photo's lips, skin and light."""
    image, p = layout.image, layout.mesh[:, :2]
    lips = np.concatenate([
        _region_colour(image, p[LIP_OUTER_UPPER])[None],
        _region_colour(image, p[LIP_OUTER_LOWER + LIP_INNER_LOWER[::-1]])[None],
    ]).mean(axis=0)  # fmt: skip
    cheek_l = _region_colour(image, p[[50, 101, 36, 205, 187, 123]])
    cheek_r = _region_colour(image, p[[280, 330, 266, 425, 411, 352]])
    skin = (cheek_l + cheek_r) / 2
    light = float(np.clip(checks.luma(skin[None].astype(np.float32))[0] / 170.0, 0.45, 1.25))
    # the teeth: a warm off-white lit like the face, a little of the skin's tint
    # the photo's white (its brightest pixels), half-way to neutral: the teeth take the photo's colour cast
    flat = image.reshape(-1, 3).astype(np.float32)
    bright = flat[checks.luma(flat) >= np.percentile(checks.luma(flat), 98)].mean(axis=0)
    cast = 0.5 * bright / max(float(bright.max()), 1.0) + 0.5
    level = min(1.35 * float(checks.luma(skin[None].astype(np.float32))[0]), 235.0)
    tint = 0.5 * cast * np.array([1.0, 0.95, 0.84]) + 0.5 * skin / max(float(skin.max()), 1.0)
    teeth = level * tint / max(float(checks.luma(tint[None].astype(np.float32))[0]), 1e-3) * 0.95
    tongue = lips * 0.62 + np.array([40.0, 8.0, 12.0]) * light
    cavity = lips * np.array([0.3, 0.12, 0.12])  # deep red: a dark mouth reads grey beside warm skin otherwise
    return {"lips": lips, "skin": skin, "teeth": teeth, "tongue": tongue, "cavity": cavity}


def _palette(layout: Layout, col: dict[str, np.ndarray]) -> dict[str, str]:
    image = layout.image
    top, bottom = image[:8].reshape(-1, 3).mean(axis=0), image[-8:].reshape(-1, 3).mean(axis=0)
    derived = {
        "background_top": top, "background_bottom": bottom, "background_glow": (top + bottom) / 2,
        "skin": col["skin"], "skin_shadow": col["skin"] * 0.8, "cheek": col["skin"] * 0.95 + col["lips"] * 0.05,
        "hair": bottom * 0.5, "hair_highlight": bottom * 0.7, "brow": col["skin"] * 0.45, "eye_white": col["teeth"],
        "iris": col["skin"] * 0.35, "pupil": np.zeros(3), "lash": np.full(3, 20.0), "lips": col["lips"],
        "mouth_inside": col["cavity"], "teeth": col["teeth"], "tongue": col["tongue"], "outfit": bottom,
        "outfit_shadow": bottom * 0.7, "shirt": np.full(3, 235.0), "accent": top, "badge": np.full(3, 245.0),
        "badge_text": np.full(3, 30.0),
    }  # fmt: skip
    return {key: _hex(derived[key]) for key in PALETTE_KEYS}


def _parts(layout: Layout) -> dict[str, dict[str, float]]:
    p = layout.mesh[:, :2]
    head_x = float((p[234, 0] + p[454, 0]) / 2)
    head_y = float((p[10, 1] + p[152, 1]) / 2)
    eyes_c = [p[[33, 133]].mean(axis=0), p[[263, 362]].mean(axis=0)]
    eye_w = float(np.linalg.norm(p[33] - p[133]))
    eye_h = float(np.mean([p[145, 1] - p[159, 1], p[374, 1] - p[386, 1]]))
    brow_y = float(np.mean(p[[105, 334], 1]))
    mouth_y = float((p[13, 1] + p[14, 1]) / 2)
    r = lambda v: round(float(v), 1)  # noqa: E731
    return {
        "head": {"x": r(head_x), "y": r(head_y), "width": r(p[454, 0] - p[234, 0]), "height": r(p[152, 1] - p[10, 1])},
        "eyes": {
            "spacing": r(eyes_c[1][0] - eyes_c[0][0]),
            "y": r((eyes_c[0][1] + eyes_c[1][1]) / 2 - head_y),
            "width": r(eye_w),
            "height": r(max(eye_h, 1.0) * 2),
            "iris": 0.62,
        },
        "brows": {"y": r(brow_y - head_y), "width": r(eye_w * 1.2), "thickness": 12.0},
        "mouth": {"y": r(mouth_y - head_y), "width": r(np.linalg.norm(p[291] - p[61])), "lip_thickness": 12.0},
        "body": {"y": r(p[152, 1] + 0.3 * (p[152, 1] - p[10, 1])), "shoulder_width": 860.0, "neck_width": 150.0},
    }


def manifest(name: str, title: str, layout: Layout, col: dict[str, np.ndarray], source: str = "a photo") -> dict:
    width, height = layout.image.shape[1], layout.image.shape[0]
    return {
        "name": name,
        "title": title,
        "description": f"photoreal presenter built from {source}",
        "style": "photo",
        "canvas": {"width": width, "height": height},
        "palette": _palette(layout, col),
        "parts": _parts(layout),
        "idle": {"head_sway_deg": 1.2, "gaze_wander": 0.0},
    }


def _not_larger_than_needed(image: np.ndarray, face):
    """A big photo scaled down first (with area averaging), so that laying it out never shrinks it much:
    the canvases want a face of about 430 pixels."""
    k = MAX_FACE_PX / face.width
    if k >= 1.0:
        return image, face
    h, w = image.shape[:2]
    small = cv2.resize(image, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    return small, replace(face, mesh=face.mesh * k, box=tuple(v * k for v in face.box))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_name(name: str, avatars_dir: Path, replace: bool) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", name):
        raise AvatarError(
            f"--name {name!r}: use lower-case letters, digits, '-' or '_' (up to 40)",
            code="avatar-usage",
            hint="e.g. --name anna",
        )
    if (BUILTIN_PACKS / name).is_dir():
        raise AvatarError(f"--name {name!r} is a built-in avatar", code="avatar-usage", hint="choose another name")
    if (avatars_dir / name).exists() and not replace:
        raise AvatarError(
            f"an avatar named {name!r} exists already ({avatars_dir / name})",
            code="avatar-exists",
            hint="choose another --name, or add --replace",
        )


def create_pack(
    photo: Path | None,
    name: str,
    avatars_dir: Path,
    *,
    video: Path | None = None,
    background: Path | None = None,
    title: str | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Build the pack ``avatars_dir/name`` from ``photo`` (or the best still of ``video``, with the mouth's inside
    from its frames); returns what was made (paths, measures, seconds)."""
    began = time.perf_counter()
    if (photo is None) == (video is None):
        raise AvatarError("give one of --photo or --video", code="avatar-usage")
    _check_name(name, avatars_dir, replace)
    step = progress or (lambda i, label: None)
    step(0, STEPS[0] if video is None else "reading the video")
    material = None
    if video is not None:
        from avatar.photo.video import from_video

        material = from_video(video)
        image = material.image
    else:
        image = checks.read_photo(photo)
    back = checks.read_photo(background, "background image") if background is not None else None
    checks.check_image(image)
    step(1, STEPS[1])
    faces = find_faces(image)
    step(2, STEPS[2])
    face, measures = checks.check_face(faces, image)
    photo_size = [int(image.shape[1]), int(image.shape[0])]
    image, face = _not_larger_than_needed(image, face)
    step(3, STEPS[3])
    mask = person_mask(image)
    plate = background_plate(image, mask)
    layouts = []
    for i, layout_name in enumerate(LAYOUTS):
        step(4 + i, STEPS[4 + i])
        layouts.append(compose(image, face.mesh, mask, plate, layout_name, back))
    step(6, STEPS[6])
    fields = {layout.name: build_fields(layout.mesh, layout.person) for layout in layouts}
    step(7, STEPS[7])
    avatars_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=avatars_dir))
    try:
        col = colours(layouts[0])
        for layout in layouts:
            bgr = cv2.cvtColor(layout.image, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(tmp / f"{layout.name}.png"), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
            np.savez_compressed(
                tmp / f"{layout.name}.npz",
                format=np.int32(FORMAT),
                params=np.array(PARAMS),
                **fields[layout.name],
                mesh=layout.mesh,
                inner_loop=np.array(INNER_LOOP, np.int32),
                photo_scale=np.float32(layout.photo_scale),
                colours=np.stack([col[k] for k in ("lips", "skin", "teeth", "tongue", "cavity")]).astype(np.float32),
                mouth_textures=material.textures if material is not None else np.zeros((0, 1, 1, 3), np.uint8),
                mouth_openings=material.openings if material is not None else np.zeros(0, np.float32),
                mouth_shapes=material.shapes if material is not None else np.zeros((0, 4), np.float32),
                mouth_classes=np.array(material.classes if material is not None else [], dtype="U8"),
            )
        title = title or name.replace("-", " ").replace("_", " ").title()
        source = (video or photo).name
        data = manifest(name, title, layouts[0], col, source=source)
        (tmp / MANIFEST).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        record = {
            "format": FORMAT,
            "source": source,
            "sha256": _sha256(video or photo),
            "video": None
            if material is None
            else {
                "frames": material.frames_read,
                "still": material.frame_index,
                "mouth_textures": len(material.openings),
                "visemes_seen": material.seen,
                "visemes_kept": {c: material.classes.count(c) for c in dict.fromkeys(material.classes)},
                "notes": material.notes,
            },
            "background": background.name if background is not None else None,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "photo_size": photo_size,
            "face": {k: round(float(v), 3) for k, v in vars(measures).items()},
            "landmarks": "MediaPipe face detector (full range) + 468-point face mesh, selfie segmentation",
            "seconds": round(time.perf_counter() - began, 2),
        }
        (tmp / "photo.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        target = avatars_dir / name
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=avatars_dir))
            target.rename(old / name)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"name": name, "path": str(target), **record}
