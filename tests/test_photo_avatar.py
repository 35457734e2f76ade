"""The photoreal presenter: a pack built from one public-domain portrait, its refusals and its frames.

The portrait is matplotlib's ``grace_hopper.jpg`` (public domain, shipped in the
wheel): never committed, never the product's face. Bad photos are made from it
by cropping, darkening, rotating, duplicating, or from the pack's own frames.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

cv2 = pytest.importorskip("cv2")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def portrait() -> Path:
    matplotlib = pytest.importorskip("matplotlib")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        pytest.skip("matplotlib's sample portrait is missing")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory, portrait: Path) -> Path:
    from avatar.photo.create import create_pack

    root = tmp_path_factory.mktemp("photo-home")
    steps: list[str] = []
    result = create_pack(portrait, "grace", root / "avatars", progress=lambda i, label: steps.append(label))
    assert len(steps) == 8 and steps[-1] == "writing the pack"
    assert result["path"] == str(root / "avatars" / "grace")
    return root


@pytest.fixture(scope="module")
def pack(home: Path):
    from avatar.pack import load_pack

    return load_pack("grace", home)


@pytest.fixture(scope="module")
def renderer(pack):
    from avatar.render import AvatarRenderer

    return AvatarRenderer(pack, 540, 960)


def pixels(image) -> np.ndarray:
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), dtype=np.uint8)
    return data.reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)[:, :, :3].astype(np.int16)  # BGR


def frame(renderer, **values) -> np.ndarray:
    from avatar.rig import RigParams

    return pixels(renderer.render(replace(RigParams(), **values))).copy()


def mouth_box(renderer) -> tuple[slice, slice]:
    r = renderer.mouth_rect()
    return slice(round(r.y()), round(r.bottom())), slice(round(r.x()), round(r.right()))


def luma(bgr: np.ndarray) -> np.ndarray:
    return 0.114 * bgr[..., 0] + 0.587 * bgr[..., 1] + 0.299 * bgr[..., 2]


# ----------------------------------------------------------------------------- the pack


def test_the_pack_holds_a_laid_out_photo_and_fields_for_every_parameter(home: Path, pack) -> None:
    import json

    from avatar.photo.warp import PARAMS

    folder = home / "avatars" / "grace"
    assert pack.style == "photo" and (pack.width, pack.height) == (1080, 1920)
    assert sorted(p.name for p in folder.iterdir()) == [
        "landscape.npz", "landscape.png", "manifest.json", "photo.json", "portrait.npz", "portrait.png",
    ]  # fmt: skip
    assert not [p for p in (home / "avatars").iterdir() if p.name.startswith(".")]  # no temporary folder left
    record = json.loads((folder / "photo.json").read_text())
    assert record["photo_size"] == [512, 600] and record["face"]["face_px"] > 160
    for name, size in (("portrait", (1080, 1920)), ("landscape", (1920, 1080))):
        image = cv2.imread(str(folder / f"{name}.png"))
        assert image.shape[:2] == size[::-1]
        data = np.load(folder / f"{name}.npz")
        assert tuple(data["params"]) == PARAMS
        mesh = data["mesh"]
        assert mesh.shape == (468, 3)
        # the face is in the middle, the eyes level, at a third of a portrait screen's height
        cx = (mesh[234, 0] + mesh[454, 0]) / 2
        assert abs(cx - size[0] / 2) < 0.02 * size[0]
        assert abs(mesh[33, 1] - mesh[263, 1]) < 2.0
        # every parameter moves something, in the right place: the jaw below the eyes, the blink around them
        fields = data["fine"].astype(np.float32)
        moved = np.abs(fields).max(axis=(1, 2, 3))
        assert (moved > 1.0).all(), dict(zip(PARAMS, moved, strict=True))
    # the manifest's parts come from the landmarks (the head is where the face is)
    assert abs(pack.parts["head"]["x"] - 540) < 25
    assert 400 < pack.parts["head"]["y"] < 900


def test_the_colours_of_the_inner_mouth_come_from_the_photo(home: Path) -> None:
    data = np.load(home / "avatars" / "grace" / "portrait.npz")
    lips, skin, teeth, tongue, cavity = data["colours"]  # RGB
    assert lips[0] > lips[2] + 40 and skin[0] > skin[2] + 40  # a warm photo: red over blue
    assert teeth.mean() > skin.mean() and teeth[0] >= teeth[2]  # light, the photo's warm cast, not blue-white
    assert cavity.max() < 70 and cavity[0] > cavity[2]  # dark, reddish
    assert tongue[0] > tongue[1] + 40


# ----------------------------------------------------------------------------- refusals


def save(tmp_path: Path, name: str, rgb: np.ndarray) -> Path:
    path = tmp_path / name
    cv2.imwrite(str(path), cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return path


def photo_rgb(portrait: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(portrait)), cv2.COLOR_BGR2RGB)


def rendered_photo(pack, tmp_path: Path, name: str, **values) -> Path:
    from avatar.render import AvatarRenderer

    bgr = frame(AvatarRenderer(pack, 1080, 1920), **values)
    path = tmp_path / name
    cv2.imwrite(str(path), bgr[200:1300].astype(np.uint8))
    return path


def bad_photo(case: str, portrait: Path, pack, tmp_path: Path) -> Path:
    rgb = photo_rgb(portrait)
    h, w = rgb.shape[:2]
    if case == "no-face":  # the sky and the flag beside her, enlarged
        return save(tmp_path, "sky.jpg", cv2.resize(rgb[:, 390:], (w, h)))
    if case == "several-faces":
        return save(tmp_path, "two.jpg", np.concatenate([rgb, rgb[:, ::-1]], axis=1))
    if case == "face-too-small":  # far away: the portrait in a big plain frame, scaled down
        big = np.empty((h * 2, w * 2, 3), np.uint8)
        big[:] = rgb[:40, -40:].reshape(-1, 3).mean(axis=0)
        big[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = rgb
        return save(tmp_path, "far.jpg", cv2.resize(big, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA))
    if case == "low-resolution":
        return save(tmp_path, "small.jpg", cv2.resize(rgb, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA))
    if case == "cut-off":  # cropped through the forehead
        return save(tmp_path, "cut.jpg", cv2.resize(rgb[150:], None, fx=1.4, fy=1.4))
    if case == "tilted":
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2.4), 35, 1.0)
        return save(tmp_path, "tilted.jpg", cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE))
    if case == "too-dark":
        return save(tmp_path, "dark.jpg", rgb.astype(np.float32) * 0.12)
    if case == "eyes-closed":
        return rendered_photo(pack, tmp_path, "blink.jpg", blink=1.0)
    if case == "mouth-open":
        return rendered_photo(pack, tmp_path, "open.jpg", jaw=0.8)
    if case == "unsupported":
        path = tmp_path / "photo.gif"
        path.write_bytes(b"GIF89a" + bytes(200))
        return path
    if case == "too-large":  # a PNG whose header claims 30000 x 30000 pixels: refused before decoding
        import struct
        import zlib

        ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
        chunk = b"IHDR" + ihdr
        data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
        path = tmp_path / "bomb.png"
        path.write_bytes(data + bytes(1000))
        return path
    raise AssertionError(case)


CASES = [
    "no-face", "several-faces", "face-too-small", "low-resolution", "cut-off", "tilted", "too-dark",
    "eyes-closed", "mouth-open", "unsupported", "too-large",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_bad_photo_is_refused_with_its_code_and_leaves_nothing(case: str, portrait, pack, tmp_path: Path) -> None:
    from avatar.photo.create import create_pack
    from core.errors import AvatarError

    photo = bad_photo(case, portrait, pack, tmp_path)
    avatars = tmp_path / "home" / "avatars"
    with pytest.raises(AvatarError) as caught:
        create_pack(photo, "bad", avatars)
    assert caught.value.code == f"avatar-photo-{case}", str(caught.value)
    assert "photo" in (caught.value.hint or "")  # it says what photo to take instead
    assert not avatars.exists() or not any(avatars.iterdir())


def test_a_profile_is_refused(portrait) -> None:
    """Yaw the real mesh in 3D by 40 degrees (a face turned to the side) and check it."""
    from avatar.photo.checks import check_face
    from avatar.photo.landmarks import find_faces
    from core.errors import AvatarError

    rgb = photo_rgb(portrait)
    face = find_faces(rgb)[0]
    assert check_face([face], rgb)[1].yaw < 0.06  # the portrait itself is frontal
    mesh = face.mesh.copy()
    centre = mesh.mean(axis=0)
    a = np.radians(40)
    x, z = mesh[:, 0] - centre[0], mesh[:, 2] - centre[2]
    mesh[:, 0] = centre[0] + x * np.cos(a) + z * np.sin(a)
    mesh[:, 2] = centre[2] - x * np.sin(a) + z * np.cos(a)
    with pytest.raises(AvatarError) as caught:
        check_face([replace(face, mesh=mesh)], rgb)
    assert caught.value.code == "avatar-photo-profile"


def test_a_big_photo_and_a_background_image(portrait, tmp_path: Path) -> None:
    """A 4x larger photo is scaled down before the layout; --background replaces what is behind the person."""
    from avatar.photo.create import create_pack

    big = save(tmp_path, "big.jpg", cv2.resize(photo_rgb(portrait), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC))
    green = np.zeros((300, 200, 3), np.uint8)
    green[:] = (40, 160, 60)
    backdrop = save(tmp_path, "green.png", green)
    result = create_pack(big, "big", tmp_path / "avatars", background=backdrop)
    assert result["photo_size"] == [2048, 2400] and result["face"]["face_px"] > 600
    canvas = cv2.imread(str(tmp_path / "avatars" / "big" / "portrait.png"))[:, :, ::-1].astype(int)  # RGB
    for corner in (canvas[:60, :60], canvas[:60, -60:]):  # beside the head: the given background
        assert np.abs(corner.reshape(-1, 3).mean(axis=0) - (40, 160, 60)).max() < 12
    mesh = np.load(tmp_path / "avatars" / "big" / "portrait.npz")["mesh"]
    assert 380 < np.linalg.norm(mesh[454, :2] - mesh[234, :2]) < 480  # the face at its share of the canvas


def test_existing_and_builtin_names_are_kept(portrait, home: Path) -> None:
    from avatar.photo.create import create_pack
    from core.errors import AvatarError

    for name, code in (("grace", "avatar-exists"), ("presenter", "avatar-usage"), ("Bad Name", "avatar-usage")):
        with pytest.raises(AvatarError) as caught:
            create_pack(portrait, name, home / "avatars")
        assert caught.value.code == code


# ----------------------------------------------------------------------------- frames


def test_the_jaw_opens_the_mouth_into_a_shaded_inside(renderer) -> None:
    box = mouth_box(renderer)
    dark = []
    for jaw in (0.0, 0.25, 0.5, 0.9):
        dark.append(int((luma(frame(renderer, jaw=jaw)[box]) < 70).sum()))
    assert dark[0] < dark[1] < dark[2] < dark[3], dark
    assert dark[3] > 4 * max(dark[0], 10)
    # not a flat black hole: teeth (light), a reddish dark cavity, a range of tones
    opened, closed = frame(renderer, jaw=0.8)[box], frame(renderer, jaw=0.0)[box]
    inside = np.abs(opened - closed).sum(axis=2) > 60
    tones = luma(opened)[inside]
    assert inside.sum() > 200 and tones.std() > 20
    assert (tones > 110).sum() > 20  # the upper teeth
    cavity = opened[inside & (luma(opened) < 60)]
    assert cavity[:, 2].mean() > cavity[:, 0].mean() + 5  # red over blue (BGR)


def test_the_face_changes_only_where_the_rig_says(renderer, pack) -> None:
    rest = frame(renderer)
    scale = renderer.width / pack.width
    head = pack.parts["head"]
    eyes = pack.parts["eyes"]
    eye_y = round((head["y"] + eyes["y"]) * scale)
    forehead = (slice(round((head["y"] - head["height"] * 0.45) * scale), eye_y - round(60 * scale)), slice(None))
    far = (slice(0, round(200 * scale)), slice(None))  # above the head
    eye_band = (slice(eye_y - round(40 * scale), eye_y + round(30 * scale)), slice(None))
    box = mouth_box(renderer)
    for values in ({"jaw": 0.9}, {"lip_width": 1.0}, {"lip_round": 1.0}, {"smile": 1.0}):
        moved = frame(renderer, **values)
        assert np.array_equal(moved[far], rest[far]) and np.array_equal(moved[forehead], rest[forehead]), values
        if "smile" not in values:  # a smile lifts the cheeks up to the lower lids, like a face does
            assert np.array_equal(moved[eye_band], rest[eye_band]), values
        assert np.abs(moved[box] - rest[box]).sum(axis=2).max() > 100, values
    blink = frame(renderer, blink=1.0)
    assert np.abs(blink[eye_band] - rest[eye_band]).sum(axis=2).mean() > 2.0
    assert np.array_equal(blink[box], rest[box]) and np.array_equal(blink[far], rest[far])
    # the head sways and nods; the corners of the screen stay put
    moved = frame(renderer, head_tilt=4.0, head_nod=3.0, breathing=1.0)
    assert np.abs(moved[box] - rest[box]).sum(axis=2).mean() > 5
    assert np.array_equal(moved[:40, :40], rest[:40, :40]) and np.array_equal(moved[:40, -40:], rest[:40, -40:])


def test_rounded_and_wide_mouths_differ_in_width(renderer) -> None:
    box = mouth_box(renderer)
    rest = frame(renderer)[box]

    def opening(**values) -> tuple[int, int]:
        """Width and height of the largest newly dark patch: the inside of the mouth."""
        dark = ((luma(frame(renderer, **values)[box]) < 70) & (luma(rest) >= 70)).astype(np.uint8)
        _, _, stats, _ = cv2.connectedComponentsWithStats(dark)
        biggest = stats[1:][np.argmax(stats[1:, cv2.CC_STAT_AREA])]
        return int(biggest[cv2.CC_STAT_WIDTH]), int(biggest[cv2.CC_STAT_HEIGHT])

    (wide_w, wide_h), (round_w, round_h) = opening(jaw=0.3, lip_width=1.0), opening(jaw=0.3, lip_round=1.0)
    assert wide_w > 1.3 * round_w and round_h > 1.3 * wide_h, ((wide_w, wide_h), (round_w, round_h))


def test_landscape_output_uses_the_landscape_layout(pack) -> None:
    from avatar.render import AvatarRenderer

    image = pixels(AvatarRenderer(pack, 960, 540).render(__import__("avatar.rig").rig.RigParams()))
    assert image.shape[:2] == (540, 960)
    # no letterbox: the side bands are not one colour, and the face is in the middle
    assert image[:, :60].std() > 5 and image[:, -60:].std() > 5


def test_the_live_avatar_speaks_with_the_photo(pack) -> None:
    from avatar.live import LiveAvatar
    from speech.events import PhonemeTiming, TTSAudio

    live = LiveAvatar(pack, seed=0)
    phonemes = (PhonemeTiming("m", 0.0, 0.3), PhonemeTiming("ɑ", 0.3, 0.8), PhonemeTiming("$", 0.8, 1.0))
    live.speak(TTSAudio(np.zeros(22050, dtype=np.float32), 22050, "ma", phonemes, 0), now=10.0)
    live.wait_idle()
    closed = pixels(live.frame(10.1, int(0.15 * 22050), 540, 960)).copy()
    opened = pixels(live.frame(10.1, int(0.55 * 22050), 540, 960)).copy()
    box = mouth_box(live._renderer)
    assert (luma(opened[box]) < 70).sum() > 3 * max((luma(closed[box]) < 70).sum(), 10)


# ----------------------------------------------------------------------------- from a video


def write_clip(pack, path: Path, *, tint: bool = True, frames: int = 60) -> Path:
    """A clip of the pack speaking, its inside of the mouth painted green (so that it can be told apart)."""
    from avatar.photo.mouth import MouthColours
    from avatar.render import AvatarRenderer

    renderer = AvatarRenderer(pack, 540, 960)
    if tint:
        c = renderer.style._colours
        green = np.array([120.0, 230.0, 120.0], np.float32), np.array([40.0, 160.0, 60.0], np.float32)
        renderer.style._colours = MouthColours(c.lips, c.skin, green[0], green[1], np.array([10.0, 60.0, 20.0]))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (540, 960))
    assert out.isOpened()
    for i in range(frames):
        jaw = 0.0 if i < 12 else max(0.0, 0.45 + 0.4 * np.sin(i / 3.0))
        out.write(frame(renderer, jaw=jaw).astype(np.uint8))
    out.release()
    return path


def test_a_video_gives_the_still_and_the_persons_own_mouth(pack, tmp_path: Path) -> None:
    from avatar.pack import load_pack
    from avatar.photo.create import create_pack
    from avatar.render import AvatarRenderer

    clip = write_clip(pack, tmp_path / "clip.mp4")
    result = create_pack(None, "clip", tmp_path / "avatars", video=clip)
    assert result["video"]["frames"] == 60 and result["video"]["still"] < 12  # the still: mouth closed
    data = np.load(tmp_path / "avatars" / "clip" / "portrait.npz")
    openings, classes = data["mouth_openings"], list(data["mouth_classes"])
    assert len(openings) >= 4 and openings.max() > 0.25 and {"open", "mid"} & set(classes)
    for name in set(classes):  # a few of each class, spread over the class's openings
        assert (np.diff(openings[np.array(classes) == name]) >= 0).all()
    # a jaw that only opens and closes: no spread or rounded mouth, and the command says so
    assert not {"wide", "rounded"} & set(classes)
    assert any("rounded (oo, w, o)" in note for note in result["video"]["notes"])
    textures = data["mouth_textures"].reshape(-1, 3).astype(float)  # RGB
    assert textures[:, 1].mean() > textures[:, 0].mean() + 20  # the clip's green inside, not painted red
    from avatar.photo.warp import INNER_LOOP
    from avatar.rig import RigParams

    renderer = AvatarRenderer(load_pack("clip", tmp_path), 540, 960)
    opened = frame(renderer, jaw=0.6)
    loop = renderer.style.points(INNER_LOOP, renderer.style.weights(replace(RigParams(), jaw=0.6)))
    inside = np.zeros(opened.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(loop).astype(np.int32)], 1)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)  # the opening, not its rim
    assert inside.sum() > 200
    assert opened[inside][:, 1].mean() > opened[inside][:, 2].mean() + 15  # green over red (BGR)
    # a pack made before the mouths' shapes were measured: its mouths are told apart by opening, still drawn
    path = tmp_path / "avatars" / "clip" / "portrait.npz"
    older = {k: v for k, v in np.load(path).items() if k not in ("mouth_shapes", "mouth_classes")}
    np.savez_compressed(path, **older)
    opened = frame(AvatarRenderer(load_pack("clip", tmp_path), 540, 960), jaw=0.6)
    assert opened[inside][:, 1].mean() > opened[inside][:, 2].mean() + 15


def test_a_video_without_a_usable_frame_is_refused(pack, tmp_path: Path) -> None:
    from avatar.photo.create import create_pack
    from core.errors import AvatarError

    sky = cv2.VideoWriter(str(tmp_path / "sky.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (540, 960))
    for i in range(20):
        sky.write(np.full((960, 540, 3), (200, 150 + i, 90), np.uint8))
    sky.release()
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    for clip, code in ((tmp_path / "sky.mp4", "avatar-photo-no-face"), (text, "avatar-photo-unsupported")):
        with pytest.raises(AvatarError) as caught:
            create_pack(None, "bad", tmp_path / "avatars", video=clip)
        assert caught.value.code == code, str(caught.value)
    assert not (tmp_path / "avatars").exists() or not any((tmp_path / "avatars").iterdir())


# ----------------------------------------------------------------------------- the command


def test_kiosk_avatar_create_reports_each_step_and_refuses_in_one_line(portrait, tmp_path: Path) -> None:
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    home = tmp_path / "home"

    def kiosk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kiosk", "--home", str(home), *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    made = kiosk("avatar", "create", "--photo", str(portrait), "--name", "anna")
    assert made.returncode == 0, made.stderr
    steps = [line for line in made.stderr.splitlines() if line.startswith("[")]
    assert len(steps) == 8 and steps[-1].endswith("8/8 writing the pack")
    assert "INFO" not in made.stderr
    assert '[avatar] name = "anna"' in made.stdout
    listed = kiosk("avatars", "--json")
    assert {"name": "anna", "style": "photo"}.items() <= next(
        r for r in listed_rows(listed) if r["name"] == "anna"
    ).items()
    # the pack speaks in a video like the drawn ones
    out = tmp_path / "anna.mp4"
    video = kiosk(
        "render", "--text", "Hello, welcome.", "--avatar", "anna", "--size", "270x480", "--out", str(out), "--json"
    )
    assert video.returncode == 0, video.stderr
    assert json.loads(video.stdout)["avatar"] == "anna" and out.stat().st_size > 10_000
    capture = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image.astype(np.int16))
    capture.release()
    assert frames and frames[0].shape == (480, 270, 3)
    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer

    mouth = mouth_box(AvatarRenderer(load_pack("anna", home), 270, 480))
    spread = np.max([np.abs(f[mouth] - frames[0][mouth]).mean() for f in frames])
    assert spread > 3  # the mouth moves while it speaks
    dark = save(tmp_path, "dark.jpg", photo_rgb(portrait).astype(np.float32) * 0.12)
    refused = kiosk("avatar", "create", "--photo", str(dark), "--name", "dark")
    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if line.startswith("kiosk: error")]
    assert len(errors) == 1 and "[avatar-photo-too-dark]" in errors[0] and "photo" in errors[0]
    assert not (home / "avatars" / "dark").exists()


def listed_rows(result: subprocess.CompletedProcess) -> list[dict]:
    import json

    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
