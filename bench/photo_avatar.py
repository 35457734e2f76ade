"""How well the photoreal presenter moves: landmarks found again on its own frames.

    .venv/bin/python bench/photo_avatar.py [--photo FILE] [--size 720x1280] [--strip docs/photo_avatar_strip.png]
                                           [--video]

Builds a pack from the photo (default: matplotlib's public-domain portrait of
Grace Hopper), renders a sweep of the jaw and the named mouth shapes, runs the
same landmark models on the frames and prints one JSON object:

- ``jaw_sweep``: the measured lip gap (inner lips, over the mouth's width) against
  the rig's jaw value, and their correlation;
- ``shapes``: closed / open / rounded / wide measured as (mouth width, lip gap)
  over the face's width, and the smallest distance between two of them;
- ``outside``: for mouth and eye poses with the head still, the share of the face's
  pixels that changed outside the mouth-and-jaw and eye regions (should be 0),
  and with head motion, the share outside the head and shoulders;
- ``blink``: eye openness (lid gap over eye width, the eyelid model) open and closed;
- ``creation_s``: seconds to build the pack;
- ``video`` (with ``--video``): a clip is rendered from the pack speaking closed, half-open, open, spread and
  rounded mouths, a pack is built from it, and for each of the rig's visemes the share of the drawn inside
  that comes from each class of the clip's real mouths (which real mouth a viseme gets).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPES = {
    "closed": {},
    "open": {"jaw": 0.75},
    "rounded": {"jaw": 0.25, "lip_round": 1.0, "lip_width": -0.3},
    "wide": {"jaw": 0.2, "lip_width": 1.0, "smile": 0.6},
}


def default_photo() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def to_rgb(image) -> np.ndarray:
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), dtype=np.uint8)
    bgr = data.reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)[:, :, :3]
    return np.ascontiguousarray(bgr[:, :, ::-1])


def mouth_measures(rgb: np.ndarray) -> dict[str, float]:
    from avatar.photo.landmarks import find_faces

    faces = find_faces(rgb)
    if not faces:
        return {"found": 0.0}
    p = faces[0].mesh[:, :2]
    face_w = faces[0].width
    return {
        "found": 1.0,
        "gap": float(np.linalg.norm(p[14] - p[13]) / np.linalg.norm(p[291] - p[61])),
        "width": float(np.linalg.norm(p[291] - p[61]) / face_w),
        "opening": float(np.linalg.norm(p[14] - p[13]) / face_w),
    }


def regions(renderer, mesh: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks in output pixels: the face, the mouth-and-jaw region, the eyes (with lids and the skin a smile lifts)."""
    import cv2

    from avatar.photo.warp import FACE_OVAL

    style = renderer.style
    s, (ox, oy) = style.scale, style.offset
    pts = mesh[:, :2] * s + (ox, oy)
    face = np.zeros(shape, np.uint8)
    cv2.fillPoly(face, [np.round(pts[FACE_OVAL]).astype(np.int32)], 1)
    mouth_w = float(np.linalg.norm(pts[291] - pts[61]))
    jaw = np.zeros(shape, np.uint8)
    nose_y = pts[2, 1]
    cx = (pts[61, 0] + pts[291, 0]) / 2
    # below the nose, between the cheeks: the lips, the chin, the jaw and the cheeks a smile moves
    cv2.rectangle(jaw, (round(cx - 1.3 * mouth_w), round(nose_y)), (round(cx + 1.3 * mouth_w), shape[0]), 1, -1)
    eyes = np.zeros(shape, np.uint8)
    for outer, inner in ((33, 133), (263, 362)):
        c = (pts[outer] + pts[inner]) / 2
        w = float(np.linalg.norm(pts[outer] - pts[inner]))
        cv2.ellipse(eyes, (round(c[0]), round(c[1])), (round(0.95 * w), round(0.75 * w)), 0, 0, 360, 1, -1)
    return face.astype(bool), jaw.astype(bool), eyes.astype(bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=None)
    parser.add_argument("--size", default="720x1280")
    parser.add_argument("--strip", type=Path, default=None, help="save closed/open/rounded/wide/blink as a PNG")
    parser.add_argument("--video", action="store_true", help="also build a pack from a clip: real mouths per viseme")
    args = parser.parse_args()
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import cv2

    from avatar.pack import load_pack
    from avatar.photo.create import create_pack
    from avatar.photo.landmarks import eye_openness, find_faces
    from avatar.render import AvatarRenderer
    from avatar.rig import RigParams

    width, height = (int(v) for v in args.size.split("x"))
    photo = args.photo or default_photo()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        create_pack(photo, "bench", Path(tmp) / "avatars")
        creation = time.perf_counter() - began
        pack = load_pack("bench", Path(tmp))
        renderer = AvatarRenderer(pack, width, height)
        mesh = np.load(Path(tmp) / "avatars" / "bench" / "portrait.npz")["mesh"]

        def frame(**values) -> np.ndarray:
            return to_rgb(renderer.render(replace(RigParams(), **values))).copy()

        jaws = [round(float(j), 2) for j in np.linspace(0.0, 1.0, 11)]
        sweep = [mouth_measures(frame(jaw=j)) for j in jaws]
        gaps = [m.get("gap", float("nan")) for m in sweep]
        correlation = float(np.corrcoef(jaws, gaps)[0, 1])

        frames = {name: frame(**values) for name, values in SHAPES.items()}
        measured = {name: mouth_measures(f) for name, f in frames.items()}
        vectors = {n: np.array([m["width"], m["opening"]]) for n, m in measured.items()}
        names = list(vectors)
        distances = {
            f"{a}-{b}": round(float(np.linalg.norm(vectors[a] - vectors[b])), 4)
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        }

        rest = frames["closed"].astype(np.int16)
        face, jaw, eyes = regions(renderer, mesh, rest.shape[:2])
        outside_face = face & ~jaw & ~eyes
        poses = {**{k: v for k, v in SHAPES.items() if v}, "blink": {"blink": 1.0}, "brows": {"brow_raise": 1.0}}
        outside = {}
        for name, values in poses.items():
            changed = np.abs(frame(**values).astype(np.int16) - rest).max(axis=2) > 8
            key = "outside_mouth_jaw_eyes" if name != "brows" else "outside_mouth_jaw_eyes (brows move the forehead)"
            outside[name] = {
                key: round(float(changed[outside_face].mean()), 5),
                "in_mouth_jaw": round(float(changed[jaw & face].mean()), 4),
                "in_eyes": round(float(changed[eyes].mean()), 4),
                "beyond_the_face": round(float(changed[~face & ~jaw].mean()), 5),
            }
        moved = np.abs(frame(head_tilt=2.0, head_nod=1.5, breathing=1.0).astype(np.int16) - rest).max(axis=2) > 8
        top = round(0.08 * height)
        outside["head_motion"] = {
            "changed_in_frame": round(float(moved.mean()), 4),
            "changed_in_top_band_beside_head": round(float(moved[:top].mean()), 5),
        }

        blink = {}
        for name, value in (("open", 0.0), ("closed", 1.0)):
            rgb = frame(blink=value)
            found = find_faces(rgb)
            blink[name] = [round(v, 3) for v in eye_openness(rgb, found[0].mesh)] if found else None

        video = video_visemes(pack, Path(tmp)) if args.video else None
        if args.strip is not None:
            save_strip(args.strip, renderer, [frames["closed"], frames["open"], frames["rounded"], frames["wide"],
                                              frame(blink=1.0)])  # fmt: skip
    result = {
        "photo": photo.name,
        "size": f"{width}x{height}",
        "creation_s": round(creation, 2),
        "jaw_sweep": {
            "jaw": jaws,
            "measured_gap_over_mouth_width": [round(g, 4) for g in gaps],
            "correlation": round(correlation, 4),
        },
        "shapes": {
            "measured": {n: {k: round(v, 4) for k, v in m.items()} for n, m in measured.items()},
            "distance_width_opening": distances,
            "min_distance": min(distances.values()),
        },
        "outside": outside,
        "blink_eye_openness": blink,
    }
    if video is not None:
        result["video"] = video
    print(json.dumps(result, indent=2))
    _ = cv2


CLIP_SHAPES = {
    "closed": {},
    "mid": {"jaw": 0.35},
    "open": {"jaw": 0.8},
    "wide": {"jaw": 0.35, "lip_width": 1.0, "smile": 0.6},
    "rounded": {"jaw": 0.2, "lip_round": 1.0, "lip_width": -0.6},
}


def video_visemes(pack, tmp: Path) -> dict:
    """Render a clip of ``pack`` making each of :data:`CLIP_SHAPES` in turn, build a pack from it, and report
    what was kept and which class of real mouth each of the rig's visemes is drawn with."""
    import cv2

    from avatar.pack import load_pack
    from avatar.photo.create import create_pack
    from avatar.render import AvatarRenderer
    from avatar.rig import RigParams
    from avatar.visemes import TARGETS

    renderer = AvatarRenderer(pack, 540, 960)
    path = tmp / "clip.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (540, 960))
    sequence = ["closed"] * 12 + [n for n in CLIP_SHAPES if n != "closed" for _ in range(6)] * 3
    for name in sequence:
        out.write(np.ascontiguousarray(to_rgb(renderer.render(replace(RigParams(), **CLIP_SHAPES[name])))[..., ::-1]))
    out.release()
    began = time.perf_counter()
    made = create_pack(None, "clip", tmp / "avatars", video=path)
    seconds = time.perf_counter() - began
    style = AvatarRenderer(load_pack("clip", tmp), 540, 960).style
    classes = np.load(tmp / "avatars" / "clip" / "portrait.npz")["mouth_classes"]
    picks = {}
    for viseme, shape in TARGETS.items():
        params = RigParams().with_mouth(shape)
        weights = style._mouths.weights(style.mouth_shape(params, style.weights(params)))
        share = {str(c): round(float(weights[classes == c].sum()), 2) for c in dict.fromkeys(classes)}
        picks[viseme] = {c: v for c, v in share.items() if v >= 0.05}
    return {
        "clip_frames": len(sequence),
        "creation_s": round(seconds, 2),
        "kept": made["video"]["visemes_kept"],
        "notes": made["video"]["notes"],
        "viseme_to_clip_class": picks,
    }


def save_strip(path: Path, renderer, frames: list[np.ndarray], tile: tuple[int, int] = (168, 224)) -> None:
    """The head of each frame side by side, small (a PNG under 300 KB for the README)."""
    import cv2

    r = renderer.mouth_rect()
    cx, cy, mw = r.center().x(), r.center().y(), r.width()
    half_w = 1.25 * mw
    top, bottom = cy - 2.4 * mw, cy + 1.0 * mw
    crops = []
    for f in frames:
        crop = f[max(round(top), 0) : round(bottom), max(round(cx - half_w), 0) : round(cx + half_w)]
        crops.append(cv2.resize(crop, tile, interpolation=cv2.INTER_AREA))
    strip = np.concatenate(crops, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), strip[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main()
