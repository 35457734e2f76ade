"""Avatar packs: the built-in ones load; a broken manifest fails with an error that names the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avatar.pack import BUILTIN_PACKS, available_packs, load_pack, load_pack_file, parse_manifest
from core.errors import AvatarError


def manifest() -> dict:
    return json.loads((BUILTIN_PACKS / "presenter" / "manifest.json").read_text())


def test_builtin_packs_load() -> None:
    packs = available_packs()
    assert {"presenter", "mascot"} <= set(packs)
    for name in ("presenter", "mascot"):
        pack = load_pack(name)
        assert pack.name == name
        assert pack.title and pack.description
        assert pack.width == 1080 and pack.height == 1920
        low, high = pack.idle.blink_interval_s
        assert 0.5 <= low <= high
    assert load_pack("mascot").style == "mascot"


def test_operator_pack_overrides_builtin(tmp_path: Path) -> None:
    data = manifest()
    data["palette"]["outfit"] = "#7a1f2b"
    folder = tmp_path / "avatars" / "presenter"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(data))
    pack = load_pack("presenter", tmp_path)
    assert pack.palette["outfit"] == "#7a1f2b"
    assert pack.path == folder


def test_pack_by_path(tmp_path: Path) -> None:
    pack = load_pack(str(BUILTIN_PACKS / "mascot"))
    assert pack.name == "mascot"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (lambda d: d["palette"].__setitem__("skin", "peach"), "palette.skin", "avatar-manifest-invalid"),
        (lambda d: d["palette"].__setitem__("skin", "#12345"), "palette.skin", "avatar-manifest-invalid"),
        (lambda d: d["palette"].pop("lips"), "palette.lips", "avatar-manifest-invalid"),
        (lambda d: d.__setitem__("colour", "#ffffff"), "colour", "avatar-manifest-invalid"),
        (lambda d: d["parts"]["mouth"].__setitem__("wdith", 3), "parts.mouth.wdith", "avatar-manifest-invalid"),
        (lambda d: d["parts"]["mouth"].__setitem__("width", "wide"), "parts.mouth.width", "avatar-manifest-invalid"),
        (lambda d: d["canvas"].__setitem__("width", 10), "canvas.width", "avatar-manifest-invalid"),
        (lambda d: d.__setitem__("style", "anime"), "style", "avatar-manifest-invalid"),
        (lambda d: d["rig"].__setitem__("smile", [1, 0]), "rig.smile", "avatar-manifest-invalid"),
        (
            lambda d: d["idle"].__setitem__("blink_interval_s", [5, 1]),
            "idle.blink_interval_s",
            "avatar-manifest-invalid",
        ),
        (lambda d: d["idle"].__setitem__("breathing_rate_hz", -1), "idle.breathing_rate_hz", "avatar-manifest-invalid"),
        (lambda d: d.pop("palette"), "palette", "avatar-manifest-invalid"),
    ],
)
def test_bad_manifest_names_the_field(change, field: str, code: str) -> None:
    data = manifest()
    change(data)
    with pytest.raises(AvatarError) as info:
        parse_manifest(data, "presenter/manifest.json")
    assert info.value.code == code
    assert f": {field} " in info.value.message, info.value.message
    assert info.value.hint


def test_bad_json_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "manifest.json"
    broken.parent.mkdir()
    broken.write_text('{"name": "broken",\n "title": }')
    with pytest.raises(AvatarError) as info:
        load_pack_file(broken)
    assert info.value.code == "avatar-manifest-invalid"
    assert "line 2" in info.value.message
    with pytest.raises(AvatarError) as info:
        load_pack_file(tmp_path / "nothing" / "manifest.json")
    assert info.value.code == "avatar-not-found"
    with pytest.raises(AvatarError) as info:
        load_pack("no-such-avatar")
    assert info.value.code == "avatar-not-found"
    assert "presenter" in (info.value.hint or "")


def test_import_avatar_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, avatar, avatar.pack, avatar.visemes, avatar.rig, avatar.sync; print('torch' in sys.modules, 'PyQt6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
