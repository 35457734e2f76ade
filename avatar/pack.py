"""Avatar packs: a folder with a ``manifest.json`` that describes a character.

A manifest names the character, its canvas, its palette, the size and place of
its parts, the ranges of its rig parameters and its idle behaviour. Operators
restyle a pack by editing the manifest; the loader checks every field and
names the one that is wrong. Built-in packs live in ``avatar/packs/``; an
operator's own packs in ``$KIOSK_HOME/avatars/`` (same name: the operator's wins).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import AvatarError

_LOGGER = logging.getLogger(__name__)

BUILTIN_PACKS = Path(__file__).resolve().parent / "packs"
MANIFEST = "manifest.json"
STYLES = ("human", "mascot", "photo")
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")

# Every palette colour a pack must define.
PALETTE_KEYS = (
    "background_top",
    "background_bottom",
    "background_glow",
    "skin",
    "skin_shadow",
    "cheek",
    "hair",
    "hair_highlight",
    "brow",
    "eye_white",
    "iris",
    "pupil",
    "lash",
    "lips",
    "mouth_inside",
    "teeth",
    "tongue",
    "outfit",
    "outfit_shadow",
    "shirt",
    "accent",
    "badge",
    "badge_text",
)

# part -> key -> default (a number: size/position in canvas pixels or a ratio)
PARTS_SCHEMA: dict[str, dict[str, float]] = {
    "head": {"x": 540.0, "y": 760.0, "width": 430.0, "height": 540.0},
    "eyes": {"spacing": 170.0, "y": -10.0, "width": 92.0, "height": 58.0, "iris": 0.62},
    "brows": {"y": -95.0, "width": 110.0, "thickness": 16.0},
    "nose": {"y": 80.0, "size": 1.0},
    "mouth": {"y": 170.0, "width": 130.0, "lip_thickness": 17.0},
    "body": {"y": 1240.0, "shoulder_width": 860.0, "neck_width": 150.0},
    "hair": {"volume": 1.0, "fringe": 1.0},
    "badge": {"visible": 1.0},
}

RIG_SCHEMA: dict[str, tuple[float, float]] = {
    "jaw_open": (0.0, 1.0),
    "lip_width": (-1.0, 1.0),
    "lip_round": (0.0, 1.0),
    "lip_press": (0.0, 1.0),
    "smile": (-0.3, 1.0),
    "blink": (0.0, 1.0),
    "brow_raise": (-1.0, 1.0),
    "head_tilt_deg": (-8.0, 8.0),
    "head_nod_deg": (-8.0, 8.0),
    "head_turn": (-1.0, 1.0),
    "breathing": (0.0, 1.0),
}

IDLE_SCHEMA: dict[str, Any] = {
    "blink_interval_s": (2.0, 6.0),
    "blink_duration_s": 0.16,
    "double_blink_chance": 0.15,
    "breathing_rate_hz": 0.22,
    "breathing_depth": 1.0,
    "head_sway_deg": 1.5,
    "head_sway_hz": 0.11,
    "gaze_wander": 0.25,
}

TOP_KEYS = {"name", "title", "description", "style", "canvas", "palette", "parts", "rig", "idle", "text"}
REQUIRED_TOP = ("name", "title", "style", "canvas", "palette")


@dataclass(frozen=True)
class IdleBehaviour:
    """How the avatar lives while nobody speaks."""

    blink_interval_s: tuple[float, float] = (2.0, 6.0)
    blink_duration_s: float = 0.16
    double_blink_chance: float = 0.15
    breathing_rate_hz: float = 0.22
    breathing_depth: float = 1.0
    head_sway_deg: float = 1.5
    head_sway_hz: float = 0.11
    gaze_wander: float = 0.25


@dataclass(frozen=True)
class AvatarPack:
    """A loaded, checked avatar manifest."""

    name: str
    title: str
    style: str
    width: int
    height: int
    palette: dict[str, str]
    parts: dict[str, dict[str, float]]
    rig: dict[str, tuple[float, float]]
    idle: IdleBehaviour
    description: str = ""
    text: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def part(self, part: str, key: str) -> float:
        return self.parts[part][key]

    def clamp(self, param: str, value: float) -> float:
        low, high = self.rig[param]
        return min(max(value, low), high)


def _fail(where: str, field_name: str, message: str) -> AvatarError:
    return AvatarError(
        f"{where}: {field_name} {message}",
        code="avatar-manifest-invalid",
        hint="fix the field in the manifest, or copy one from avatar/packs/presenter/manifest.json",
    )


def _number(where: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, name, f"= {value!r} is not a number")
    return float(value)


def _check_keys(where: str, prefix: str, data: Any, allowed: set[str] | dict) -> dict:
    if not isinstance(data, dict):
        raise _fail(where, prefix, f"must be an object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _fail(
            where,
            f"{prefix}.{unknown[0]}" if prefix else unknown[0],
            f"is not a known key; known: {', '.join(sorted(allowed))}",
        )
    return data


def parse_manifest(data: Any, where: str = "manifest.json", path: Path | None = None) -> AvatarPack:
    """Check a manifest's JSON value and build the pack; :class:`AvatarError` names the first bad field."""
    _check_keys(where, "", data, TOP_KEYS)
    for key in REQUIRED_TOP:
        if key not in data:
            raise _fail(where, key, "is missing")
    name = data["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", name):
        raise _fail(where, "name", f"= {name!r} must be lower-case letters, digits, '-' or '_'")
    for key in ("title", "description"):
        if key in data and not isinstance(data[key], str):
            raise _fail(where, key, "must be a string")
    style = data["style"]
    if style not in STYLES:
        raise _fail(where, "style", f"= {style!r} is not allowed; choose one of: {', '.join(STYLES)}")

    canvas = _check_keys(where, "canvas", data["canvas"], {"width", "height"})
    size = []
    for key in ("width", "height"):
        if key not in canvas:
            raise _fail(where, f"canvas.{key}", "is missing")
        value = _number(where, f"canvas.{key}", canvas[key])
        if not 64 <= value <= 4096:
            raise _fail(where, f"canvas.{key}", f"= {value:g} must be between 64 and 4096")
        size.append(int(value))

    palette_in = _check_keys(where, "palette", data["palette"], set(PALETTE_KEYS))
    palette = {}
    for key in PALETTE_KEYS:
        if key not in palette_in:
            raise _fail(where, f"palette.{key}", "is missing")
        colour = palette_in[key]
        if not isinstance(colour, str) or not _COLOUR.match(colour):
            raise _fail(where, f"palette.{key}", f"= {colour!r} is not a colour (use #RRGGBB or #RRGGBBAA)")
        palette[key] = colour

    parts_in = _check_keys(where, "parts", data.get("parts", {}), PARTS_SCHEMA)
    parts: dict[str, dict[str, float]] = {}
    for part, defaults in PARTS_SCHEMA.items():
        given = _check_keys(where, f"parts.{part}", parts_in.get(part, {}), defaults)
        merged = dict(defaults)
        for key, value in given.items():
            merged[key] = _number(where, f"parts.{part}.{key}", value)
        parts[part] = merged

    rig_in = _check_keys(where, "rig", data.get("rig", {}), RIG_SCHEMA)
    rig = dict(RIG_SCHEMA)
    for key, value in rig_in.items():
        if not isinstance(value, list) or len(value) != 2:
            raise _fail(where, f"rig.{key}", f"= {value!r} must be a [min, max] pair")
        low, high = (_number(where, f"rig.{key}", v) for v in value)
        if low > high:
            raise _fail(where, f"rig.{key}", f"= {value!r}: min is greater than max")
        rig[key] = (low, high)

    idle_in = _check_keys(where, "idle", data.get("idle", {}), IDLE_SCHEMA)
    idle_values: dict[str, Any] = {}
    for key, value in idle_in.items():
        if key == "blink_interval_s":
            if not isinstance(value, list) or len(value) != 2:
                raise _fail(where, "idle.blink_interval_s", f"= {value!r} must be a [min, max] pair of seconds")
            low, high = (_number(where, "idle.blink_interval_s", v) for v in value)
            if not 0.5 <= low <= high <= 60:
                raise _fail(where, "idle.blink_interval_s", f"= {value!r} must satisfy 0.5 <= min <= max <= 60")
            idle_values[key] = (low, high)
        else:
            number = _number(where, f"idle.{key}", value)
            if number < 0:
                raise _fail(where, f"idle.{key}", f"= {number:g} must not be negative")
            idle_values[key] = number

    text_in = _check_keys(where, "text", data.get("text", {}), {"badge", "font"})
    text = {k: str(v) for k, v in text_in.items()}
    return AvatarPack(
        name=name,
        title=data["title"],
        style=style,
        width=size[0],
        height=size[1],
        palette=palette,
        parts=parts,
        rig=rig,
        idle=IdleBehaviour(**idle_values),
        description=data.get("description", ""),
        text=text,
        path=path,
    )


def load_pack_file(manifest: Path) -> AvatarPack:
    """Load one ``manifest.json``."""
    where = str(manifest)
    if not manifest.is_file():
        raise AvatarError(
            f"{where}: no such manifest",
            code="avatar-not-found",
            hint="an avatar pack is a folder with a manifest.json",
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AvatarError(
            f"{where}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            code="avatar-manifest-invalid",
            hint="check commas and quotes around that place",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AvatarError(f"{where}: cannot read: {exc}", code="avatar-manifest-invalid") from exc
    pack = parse_manifest(data, where, manifest.parent)
    if pack.name != manifest.parent.name:
        _LOGGER.warning("avatar pack folder %s holds a manifest named %r", manifest.parent.name, pack.name)
    return pack


def pack_dirs(home_dir: Path | None = None) -> list[Path]:
    """Where packs are looked for, first match wins: the operator's folder, then the built-in packs."""
    dirs = []
    if home_dir is not None:
        dirs.append(home_dir / "avatars")
    dirs.append(BUILTIN_PACKS)
    return dirs


def available_packs(home_dir: Path | None = None) -> dict[str, Path]:
    """Name -> manifest path of every pack found (operator packs override built-in ones)."""
    found: dict[str, Path] = {}
    for base in reversed(pack_dirs(home_dir)):
        if base.is_dir():
            for manifest in sorted(base.glob(f"*/{MANIFEST}")):
                found[manifest.parent.name] = manifest
    return dict(sorted(found.items()))


def load_pack(name_or_path: str | Path, home_dir: Path | None = None) -> AvatarPack:
    """A pack by name (``presenter``) or by the path of its folder or manifest."""
    text = str(name_or_path)
    path = Path(text)
    if "/" in text or path.suffix == ".json" or (path.is_dir() and (path / MANIFEST).exists()):
        return load_pack_file(path if path.suffix == ".json" else path / MANIFEST)
    packs = available_packs(home_dir)
    if text not in packs:
        raise AvatarError(
            f"no avatar pack named {text!r}",
            code="avatar-not-found",
            hint=f"available: {', '.join(packs) or 'none'}; see `kiosk avatars`",
        )
    return load_pack_file(packs[text])
