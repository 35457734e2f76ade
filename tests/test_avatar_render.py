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


def test_blink_and_expression_change_the_face() -> None:
    from dataclasses import replace

    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer
    from avatar.rig import RigParams

    renderer = AvatarRenderer(load_pack("presenter"), 360, 640)
    base = pixels(renderer.render(RigParams())).copy()
    blink = pixels(renderer.render(replace(RigParams(), blink=1.0))).copy()
    assert np.abs(base - blink).sum() > 0
    eyes = base[200:260], blink[200:260]
    assert np.abs(eyes[0] - eyes[1]).sum() > 1000


def test_frame_bytes_for_ffmpeg() -> None:
    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer, qimage_to_rgb_bytes
    from avatar.rig import RigParams

    renderer = AvatarRenderer(load_pack("mascot"), 250, 250)
    assert len(qimage_to_rgb_bytes(renderer.render(RigParams()))) == 250 * 250 * 4
