"""The frame renderer: both avatars at two sizes, structural checks on the pixels."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.gui

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pixels(image) -> np.ndarray:
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), dtype=np.uint8)
    return data.reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)[:, :, :3].astype(np.int16)


def crop(arr: np.ndarray, rect) -> np.ndarray:
    x, y, w, h = (round(v) for v in (rect.x(), rect.y(), rect.width(), rect.height()))
    return arr[y : y + h, x : x + w]


@pytest.mark.parametrize("name", ["presenter", "mascot"])
@pytest.mark.parametrize("size", [(1080, 1920), (720, 1280)])
def test_renders_a_character_and_the_mouth_moves(name: str, size: tuple[int, int]) -> None:
    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer
    from avatar.rig import AvatarAnimator
    from avatar.visemes import TARGETS

    pack = load_pack(name)
    renderer = AvatarRenderer(pack, *size)
    anim = AvatarAnimator(pack, seed=0)
    rest_img = renderer.render(anim.pose(0.5))
    assert (rest_img.width(), rest_img.height()) == size
    rest = pixels(rest_img).copy()
    # not blank: many colours, real contrast, the character in the middle differs from the corners
    assert rest.std() > 25
    assert len(np.unique(rest[::8, ::8].reshape(-1, 3), axis=0)) > 200
    centre = rest[size[1] // 3 : size[1] // 2, size[0] // 3 : 2 * size[0] // 3]
    assert np.abs(centre.mean(axis=(0, 1)) - rest[:40, :40].mean(axis=(0, 1))).sum() > 20
    open_img = pixels(renderer.render(anim.pose(0.5, TARGETS["AA"]))).copy()
    closed_img = pixels(renderer.render(anim.pose(0.5, TARGETS["MBP"]))).copy()
    mouth = renderer.mouth_rect()
    changed = np.abs(crop(open_img, mouth) - crop(rest, mouth)).sum(axis=2) > 60
    assert changed.mean() > 0.05, changed.mean()
    # the open mouth is darker inside than the closed one
    assert crop(open_img, mouth).mean() < crop(closed_img, mouth).mean() - 3
    # outside the head nothing changed
    assert np.array_equal(open_img[-50:], rest[-50:])


def face_pose(state: str, **changes: float):
    """The face of a turn state's expression with the head still, so each feature stays in its region."""
    from dataclasses import fields, replace

    from avatar.rig import EXPRESSIONS, Expression, RigParams

    expression = EXPRESSIONS[state]
    face = {f.name: getattr(expression, f.name) for f in fields(Expression) if not f.name.startswith("head_")}
    return replace(RigParams(), **face, **changes)


def head_box(renderer, cx: float, cy: float, half_w: float, half_h: float) -> tuple[slice, slice]:
    """Output-pixel slices of a box given in canvas pixels around the head's centre."""
    pack = renderer.pack
    scale = min(renderer.width / pack.width, renderer.height / pack.height)
    ox, oy = (renderer.width - pack.width * scale) / 2, (renderer.height - pack.height * scale) / 2
    hx, hy = pack.parts["head"]["x"] + cx, pack.parts["head"]["y"] + cy
    return (
        slice(round(oy + (hy - half_h) * scale), round(oy + (hy + half_h) * scale)),
        slice(round(ox + (hx - half_w) * scale), round(ox + (hx + half_w) * scale)),
    )


def dark_centre(region: np.ndarray) -> np.ndarray:
    """(row, column) centre of the dark pixels (brows, iris, pupil, lashes) of a region."""
    rows, cols = np.nonzero(region.sum(axis=2) < 330)
    assert len(rows) > 50
    return np.array([rows.mean(), cols.mean()])


@pytest.mark.parametrize("name", ["presenter", "mascot"])
def test_blink_and_each_expression_change_their_part_of_the_face(name: str) -> None:
    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer

    pack = load_pack(name)
    renderer = AvatarRenderer(pack, 540, 960)
    e, b = pack.parts["eyes"], pack.parts["brows"]
    eyes = [head_box(renderer, side * e["spacing"] / 2, e["y"], e["width"] * 0.55, e["height"] / 2) for side in (-1, 1)]
    brows = [head_box(renderer, side * e["spacing"] / 2, b["y"] - 5, b["width"] / 2 + 4, 38) for side in (-1, 1)]
    m = renderer.mouth_rect()
    mouth = (slice(round(m.y()), round(m.bottom())), slice(round(m.x()), round(m.right())))

    def frame(params) -> np.ndarray:
        return pixels(renderer.render(params)).copy()

    def mouth_changed(a: np.ndarray, b: np.ndarray) -> float:
        return float((np.abs(a[mouth] - b[mouth]).sum(axis=2) > 60).mean())

    idle = frame(face_pose("idle"))
    # a blink hides the whites of both eyes and touches neither the brows nor the mouth
    blink = frame(face_pose("idle", blink=1.0))
    for eye, brow in zip(eyes, brows, strict=True):
        assert (idle[eye] >= 250).all(axis=2).mean() > 0.1
        assert (blink[eye] >= 250).all(axis=2).mean() == 0.0
        assert np.array_equal(idle[brow], blink[brow])
    assert np.array_equal(idle[mouth], blink[mouth])

    # greeting: a big smile with raised brows
    greeting = frame(face_pose("greeting"))
    for brow in brows:
        rise = dark_centre(idle[brow])[0] - dark_centre(greeting[brow])[0]
        assert rise > 2.0, rise
    changed = mouth_changed(idle, greeting)
    assert changed > 0.03, changed

    # listening: brows tilted, the right one (on screen) higher than the left
    listening = frame(face_pose("listening"))
    left, right = (dark_centre(idle[brow])[0] - dark_centre(listening[brow])[0] for brow in brows)
    assert right > left + 1.0, (left, right)

    # thinking: the eyes look up and to the right, the brows draw together, the lips purse
    thinking = frame(face_pose("thinking"))
    for eye in eyes:
        dy, dx = dark_centre(thinking[eye]) - dark_centre(idle[eye])
        assert dx > 1.5, dx
        assert dy < -0.5, dy
    left_x, right_x = (dark_centre(thinking[brow])[1] - dark_centre(idle[brow])[1] for brow in brows)
    assert left_x > 0.5, left_x
    assert right_x < -0.5, right_x
    changed = mouth_changed(idle, thinking)
    assert changed > 0.02, changed


def test_every_builtin_pack_style_resolves_through_the_registry() -> None:
    from avatar.pack import STYLES, available_packs, load_pack
    from avatar.render import STYLE_REGISTRY, AvatarRenderer, AvatarStyle, style_class

    # every style a manifest may name has a renderer, and no renderer is unreachable
    assert set(STYLE_REGISTRY) == set(STYLES)
    builtin = available_packs()
    assert {"presenter", "mascot"} <= set(builtin)
    for name in builtin:
        pack = load_pack(name)
        cls = style_class(pack)
        assert issubclass(cls, AvatarStyle)
        assert cls.style == pack.style
        renderer = AvatarRenderer(pack, 90, 160)
        assert isinstance(renderer.style, cls)
        image = renderer.render(face_pose("idle"))
        assert (image.width(), image.height()) == (90, 160)


def test_an_unknown_style_is_a_coded_manifest_error() -> None:
    from dataclasses import replace

    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer
    from core.errors import AvatarError

    pack = replace(load_pack("presenter"), style="photoreal")
    with pytest.raises(AvatarError) as caught:
        AvatarRenderer(pack, 90, 160)
    assert caught.value.code == "avatar-manifest-invalid"
    message = str(caught.value)
    assert "'photoreal'" in message
    assert "manifest.json" in message
    assert "human" in message
    assert "mascot" in message


def test_frame_bytes_for_ffmpeg() -> None:
    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer, qimage_to_rgb_bytes
    from avatar.rig import RigParams

    renderer = AvatarRenderer(load_pack("mascot"), 250, 250)
    assert len(qimage_to_rgb_bytes(renderer.render(RigParams()))) == 250 * 250 * 4


def test_a_window_can_open_after_an_offline_render_in_the_same_process() -> None:
    """Qt allows one application per process: the renderer's must be one a window can use (else Qt aborts)."""
    import subprocess
    import sys

    script = (
        "from avatar.render.base import ensure_qt; ensure_qt()\n"
        "from PyQt6.QtWidgets import QWidget; w = QWidget(); print('window ok')\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and "window ok" in proc.stdout, proc.stderr[-2000:]
