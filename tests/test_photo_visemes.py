"""Real mouths from a clip, picked per viseme class by their landmarks and blended at render time.

The clips are rendered from a pack built from matplotlib's public-domain portrait
(never committed, never the product's face): each mouth shape gets its own
colour inside, so the test can tell which frame's mouth the renderer drew. The
face mesh measures the clip's frames for real (MediaPipe's models).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from avatar.photo.visemes import MouthBank, RestMouth, classify, features, pick

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHAPES = {
    "closed": {},
    "open": {"jaw": 0.8},
    "wide": {"jaw": 0.35, "lip_width": 1.0, "smile": 0.6},
    "rounded": {"jaw": 0.12, "lip_round": 1.0, "lip_width": -0.6},  # about as open as "wide": told apart by width
}
TINTS = {"open": (120.0, 230.0, 120.0), "wide": (90.0, 120.0, 240.0), "rounded": (230.0, 90.0, 220.0)}  # RGB


# ----------------------------------------------------------------------------- shapes, without a face


def mouth(gap: float, width: float = 100.0, lower: float = 20.0, inner: float | None = None) -> np.ndarray:
    """:data:`MOUTH_POINTS` of a level mouth centred at (200, 300)."""
    inner = width * 0.8 if inner is None else inner
    top, bottom = 300.0 - gap / 2, 300.0 + gap / 2
    return np.array(
        [[200, top], [200, bottom], [200 - width / 2, 300], [200 + width / 2, 300],
         [200 - inner / 2, 300], [200 + inner / 2, 300], [200, bottom + lower]]
    )  # fmt: skip


def test_shapes_are_measured_against_the_closed_mouth_and_named() -> None:
    rest = RestMouth.of(mouth(0.0))
    assert features(mouth(0.0), rest) == pytest.approx([0, 0, 0, 0])
    assert features(mouth(40.0), rest)[0] == pytest.approx(0.4)
    # twice as near the camera: the same shape against the closed mouth at that scale
    near = mouth(80.0, width=200.0, lower=40.0)
    assert features(near, rest.scaled(2.0)) == pytest.approx(features(mouth(40.0), rest))
    assert classify(features(mouth(2.0), rest)) == "closed"
    assert classify(features(mouth(40.0), rest)) == "open"
    assert classify(features(mouth(15.0), rest)) == "mid"
    assert classify(features(mouth(12.0, width=125.0), rest)) == "wide"
    assert classify(features(mouth(20.0, width=80.0, inner=40.0), rest)) == "rounded"
    assert classify(features(mouth(6.0, lower=12.0), rest)) == "fv"  # lower lip drawn in under the teeth
    # an open jaw stretches the lower lip taller: that is no tuck
    assert features(mouth(40.0, lower=30.0), rest)[3] == 0.0


def test_a_few_of_each_class_are_kept_spread_over_their_openings() -> None:
    rest = RestMouth.of(mouth(0.0))
    shapes = [(features(mouth(g), rest), f"open {g}") for g in range(30, 60)]
    shapes += [(features(mouth(12.0, width=125.0), rest), "wide")]
    shapes += [(features(mouth(1.0), rest), "closed")]  # nothing between the lips: no texture
    kept = pick(shapes, per_class=3)
    assert [name for name, _, _ in kept] == ["open", "open", "open", "wide"]
    assert [item for _, _, item in kept][:3] == ["open 30", "open 44", "open 59"]


def test_the_two_nearest_mouths_are_blended_without_a_jump() -> None:
    rng = np.random.default_rng(3)
    shapes = rng.uniform([0.05, -0.2, 0.1, -0.4], [0.5, 0.2, 0.8, 0.0], size=(9, 4)).astype(np.float32)
    textures = rng.uniform(0, 255, size=(9, 6, 8, 3)).astype(np.float32)
    bank = MouthBank(textures, shapes)
    at = bank.weights(shapes[4])
    assert at[4] > 0.5 and at.sum() == pytest.approx(1.0)  # at a kept mouth's shape: mostly that mouth
    assert np.allclose(bank.texture(shapes[4]).ravel(), at @ textures.reshape(9, -1), atol=1e-2)
    path = np.linspace(shapes[0], shapes[8], 400)
    weights = np.array([bank.weights(q) for q in path])
    top_two = np.sort(weights, axis=1)[:, -2:].sum(axis=1)
    assert np.median(top_two) > 0.9  # the two nearest, in practice
    assert np.abs(np.diff(weights, axis=0)).max() < 0.1  # 400 small steps: no weight jumps
    blended = np.array([bank.texture(q) for q in path])
    assert np.abs(np.diff(blended, axis=0)).max() < 0.1 * 255


# ----------------------------------------------------------------------------- from a clip, end to end


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    matplotlib = pytest.importorskip("matplotlib")
    from avatar.pack import load_pack
    from avatar.photo.create import create_pack

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not photo.is_file():
        pytest.skip("matplotlib's sample portrait is missing")
    home = tmp_path_factory.mktemp("visemes-home")
    create_pack(photo, "grace", home / "avatars")
    return load_pack("grace", home)


def bgr(image) -> np.ndarray:
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), dtype=np.uint8)
    return data.reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)[:, :, :3].copy()


def write_clip(pack, path: Path, sequence: list[str]) -> Path:
    """The pack speaking the named shapes, one frame each, the inside of each shape's mouth in its own colour."""
    cv2 = pytest.importorskip("cv2")
    from avatar.photo.mouth import MouthColours
    from avatar.render import AvatarRenderer
    from avatar.rig import RigParams

    renderer = AvatarRenderer(pack, 540, 960)
    c = renderer.style._colours
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (540, 960))
    assert out.isOpened()
    for name in sequence:
        tint = np.array(TINTS.get(name, (200.0, 60.0, 60.0)), np.float32)
        renderer.style._colours = MouthColours(c.lips, c.skin, tint, tint * 0.8, tint * 0.3)
        out.write(bgr(renderer.render(replace(RigParams(), **SHAPES[name]))))
    out.release()
    return path


def inside(renderer, frame: np.ndarray, values: dict) -> np.ndarray:
    """The pixels inside the opening (not its rim) of a frame rendered with ``values``."""
    import cv2

    from avatar.photo.warp import INNER_LOOP
    from avatar.rig import RigParams

    loop = renderer.style.points(INNER_LOOP, renderer.style.weights(replace(RigParams(), **values)))
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(loop).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
    assert mask.sum() > 150
    return frame[mask].astype(float)  # BGR


@pytest.mark.gui
def test_real_mouths_are_kept_per_viseme_and_drawn_for_the_matching_shape(pack, tmp_path: Path) -> None:
    from avatar.pack import load_pack
    from avatar.photo.create import create_pack
    from avatar.render import AvatarRenderer
    from avatar.rig import RigParams

    cycle = ["open"] * 6 + ["closed"] * 2 + ["wide"] * 6 + ["closed"] * 2 + ["rounded"] * 6 + ["closed"] * 2
    clip = write_clip(pack, tmp_path / "visemes.mp4", ["closed"] * 12 + cycle * 3)
    result = create_pack(None, "clip", tmp_path / "avatars", video=clip)
    video = result["video"]
    assert video["visemes_kept"] == {"open": 3, "wide": 3, "rounded": 3}, video
    assert video["visemes_seen"]["closed"] >= 12
    # what the clip lacks is said: it is short, and no frame has the lower lip under the teeth
    assert any("short" in note for note in video["notes"])
    assert any("(f, v)" in note for note in video["notes"]) and not any("(ah)" in note for note in video["notes"])
    data = np.load(tmp_path / "avatars" / "clip" / "portrait.npz")
    assert (
        data["mouth_shapes"].shape == (9, 4)
        and list(data["mouth_classes"]) == ["open"] * 3 + ["wide"] * 3 + ["rounded"] * 3
    )

    renderer = AvatarRenderer(load_pack("clip", tmp_path), 540, 960)
    for name, tint in TINTS.items():
        pixels = inside(renderer, bgr(renderer.render(replace(RigParams(), **SHAPES[name]))), SHAPES[name])
        colour = pixels.mean(axis=0)[::-1]  # RGB
        others = [np.array(t) for n, t in TINTS.items() if n != name]
        # the drawn inside is this shape's own colour (as it came through the video), not another shape's
        assert np.linalg.norm(colour - np.array(tint) * 0.8) < min(np.linalg.norm(colour - o * 0.8) for o in others)
    # picked by opening alone, the rounded mouth would get a wide one: the width told them apart
    params = replace(RigParams(), **SHAPES["rounded"])
    query = renderer.style.mouth_shape(params, renderer.style.weights(params))
    by_opening = int(np.argmin(np.abs(data["mouth_shapes"][:, 0] - query[0])))
    assert data["mouth_classes"][by_opening] == "wide"


@pytest.mark.gui
def test_a_clip_whose_mouth_never_opens_says_so_and_paints_the_inside(pack, tmp_path: Path) -> None:
    from avatar.photo.create import create_pack

    clip = write_clip(pack, tmp_path / "silent.mp4", ["closed"] * 20)
    result = create_pack(None, "silent", tmp_path / "avatars", video=clip)
    assert result["video"]["mouth_textures"] == 0
    assert any("never opens" in note for note in result["video"]["notes"])
    data = np.load(tmp_path / "avatars" / "silent" / "portrait.npz")
    assert len(data["mouth_shapes"]) == 0
