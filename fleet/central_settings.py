"""Which settings a fleet may set centrally, how a published set is checked, and the overlay file it becomes.

A central settings version is a TOML document holding only keys of :data:`CENTRAL_KEYS`: what a site
or a whole fleet shares (the answer policy, the avatar, the voice, the visitor-facing texts and
timings). Machine-local keys (screen orientation, audio devices, model paths, the admin app's address
and TLS files, the fleet membership itself, log files) and every secret stay in each kiosk's own
``settings.toml``: publishing one is refused, whole, before anything is stored.

On a kiosk the version becomes ``$KIOSK_HOME/fleet_settings.toml``, which :func:`core.settings.load_settings`
applies above the local ``settings.toml`` (central policy wins for the keys it names) and below the
``KIOSK_*`` environment variables (a per-process override for tests and service units).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from typing import Any

from core.errors import SettingsError
from core.settings import check_table, schema
from fleet.errors import FleetInputError

MAX_SETTINGS_BYTES = 64 * 1024

# section -> keys a fleet may publish ("*": every key of the section that is not a secret)
CENTRAL_KEYS: dict[str, frozenset[str] | str] = {
    "kiosk": frozenset({"language", "inactivity_timeout_s", "follow_up_listen_s"}),
    "wake": "*",
    "vad": "*",
    "asr": "*",
    "tts": "*",
    "llm": frozenset({"engine", "base_url", "http_model", "context_tokens", "max_tokens", "timeout_s", "temperature"}),
    "dialog": "*",
    "avatar": "*",
    "admin": frozenset({"session_idle_minutes", "retention_days"}),
}

_WHY_LOCAL = {
    "audio": "audio devices differ from machine to machine",
    "models": "model paths are local to each machine",
    "logging": "log files are local to each machine",
    "fleet": "fleet membership is each kiosk's own",
}


def central_keys() -> dict[str, list[str]]:
    """Every publishable ``section -> [keys]``, resolved against the settings schema (for docs and errors)."""
    known = schema()
    out: dict[str, list[str]] = {}
    for section, keys in CENTRAL_KEYS.items():
        names = [k for k, info in known[section].items() if not info.secret and (keys == "*" or k in keys)]
        out[section] = names
    return out


def _refuse_local(section: str, key: str, origin: str) -> None:
    known = schema()
    if section not in known or key not in known[section]:
        return  # check_table names unknown keys with a suggestion
    info = known[section][key]
    allowed = central_keys().get(section, [])
    if key in allowed:
        return
    if info.secret:
        why = "it is a secret: secrets never leave the kiosk they are set on"
    else:
        why = _WHY_LOCAL.get(section, "it is specific to each machine")
    raise FleetInputError(
        f"{origin}: {section}.{key} cannot be published centrally: {why}",
        code="fleet-settings-local",
        hint=f"set it in each kiosk's settings.toml; publishable in [{section}]: {', '.join(allowed) or 'nothing'}",
    )


def check_central(raw: Any, origin: str = "settings") -> dict[str, dict[str, Any]]:
    """A parsed settings table checked for publishing: known keys, valid values, none machine-local or secret."""
    if not isinstance(raw, dict):
        raise FleetInputError(f"{origin}: settings must be a table of [section] tables", code="fleet-settings-invalid")
    for section, body in raw.items():
        if isinstance(body, dict):
            for key in body:
                _refuse_local(str(section), str(key), origin)
    try:
        values = check_table(raw, origin)
    except SettingsError as exc:
        raise FleetInputError(
            exc.message, code="fleet-settings-invalid", hint="nothing was published; `kiosk config show` lists them"
        ) from exc
    return {section: dict(sorted(body.items())) for section, body in sorted(values.items()) if body}


def parse_central(data: bytes, origin: str) -> dict[str, dict[str, Any]]:
    """A settings TOML file (``kiosk fleet publish-settings --from``) checked for publishing."""
    if len(data) > MAX_SETTINGS_BYTES:
        raise FleetInputError(
            f"{origin}: {len(data)} bytes; a settings file may hold at most {MAX_SETTINGS_BYTES}",
            code="fleet-settings-invalid",
        )
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FleetInputError(f"{origin}: not UTF-8 text ({exc.reason})", code="fleet-settings-invalid") from exc
    except tomllib.TOMLDecodeError as exc:
        raise FleetInputError(f"{origin}: not valid TOML: {exc}", code="fleet-settings-invalid") from exc
    return check_central(raw, origin)


def settings_digest(values: dict[str, dict[str, Any]]) -> str:
    """The SHA-256 a kiosk checks a downloaded settings version against."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render_overlay(values: dict[str, dict[str, Any]], *, version: int, site: str | None) -> str:
    """The overlay file a kiosk writes: a header saying where it came from, then the published keys."""
    lines = [
        f"# Published by the fleet server (settings version {version}, for {site or 'every site'}).",
        "# Written by `kiosk fleet sync`: edits here are replaced at the next version. These keys win over",
        "# settings.toml; KIOSK_* environment variables win over both.",
    ]
    for section, body in values.items():
        lines += ["", f"[{section}]"] + [f"{key} = {_toml_value(value)}" for key, value in body.items()]
    return "\n".join(lines) + "\n"
