"""Editing the operator-facing part of ``$KIOSK_HOME/settings.toml`` from the web, validated by the schema.

Each submitted value is checked on its own through :func:`core.settings.load_settings`
(so the web shows the same message the CLI would, next to the field), then the
whole merged file is checked once more before it atomically replaces the old one.
Keys the form does not show are kept as they are.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.db import transaction, utcnow
from core.errors import SettingsError
from core.settings import SettingInfo, Settings, load_settings, schema

if TYPE_CHECKING:
    from admin_web.web import AdminState

_LOGGER = logging.getLogger(__name__)

EDITABLE: tuple[tuple[str, str, str], ...] = (
    ("wake", "phrase", "Wake phrase"),
    ("tts", "speed", "Voice speed"),
    ("avatar", "name", "Avatar"),
    ("dialog", "faq_threshold", "Answer threshold"),
    ("dialog", "clarify_threshold", "Out-of-scope threshold"),
    ("dialog", "clarify_margin", "Clarify margin"),
    ("dialog", "fallback_message", "Hand-off text"),
    ("kiosk", "inactivity_timeout_s", "Return to attract screen after (s)"),
    ("admin", "retention_days", "Keep conversations for (days)"),
    ("admin", "session_idle_minutes", "Sign operators out after (minutes idle)"),
)


@dataclass(frozen=True)
class Field:
    section: str
    key: str
    label: str
    info: SettingInfo
    value: Any
    raw: str
    error: str = ""

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def kind(self) -> str:
        if self.info.choices:
            return "choice"
        return {bool: "bool", int: "int", float: "float"}.get(self.info.type, "text")


def read_raw(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"settings: cannot read {path}: {exc}") from exc
    return {k: dict(v) for k, v in data.items() if isinstance(v, dict)}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def render_toml(raw: dict[str, dict[str, Any]]) -> str:
    lines = ["# Kiosk settings. Written by the admin app; `kiosk config show` documents every key.", ""]
    for section in sorted(raw):
        if not raw[section]:
            continue
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in sorted(raw[section].items())]
        lines.append("")
    return "\n".join(lines)


def _parse(info: SettingInfo, text: str) -> Any:
    text = text.strip() if info.type is not str else text
    if info.type is bool:
        return text.lower() in ("1", "true", "on", "yes")
    if info.type is int:
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"settings: {info.name} must be a whole number, got {text!r}") from None
    if info.type is float:
        try:
            return float(text)
        except ValueError:
            raise SettingsError(f"settings: {info.name} must be a number, got {text!r}") from None
    return text


def _check_one(section: str, key: str, value: Any) -> str:
    """The schema's error message for this one value, or ''."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "settings.toml"
        probe.write_text(render_toml({section: {key: value}}), encoding="utf-8")
        try:
            load_settings(probe, env={})
        except SettingsError as exc:
            return str(exc.message).replace(f" (in {probe})", "")
    return ""


def fields(
    settings: Settings, submitted: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> list[Field]:
    known = schema()
    out = []
    for section, key, label in EDITABLE:
        info = known[section][key]
        value = getattr(getattr(settings, section), key)
        name = f"{section}.{key}"
        raw = (
            submitted[name]
            if submitted and name in submitted
            else ("" if value is None else f"{value:g}" if isinstance(value, float) else str(value))
        )
        out.append(Field(section, key, label, info, value, raw, (errors or {}).get(name, "")))
    return out


def apply(path: Path, submitted: dict[str, str]) -> tuple[dict[str, str], list[tuple[str, Any, Any]]]:
    """Validate and write; returns (per-field errors, changes as (name, old, new)). Nothing is written on error."""
    known = schema()
    raw = read_raw(path)
    current = load_settings(path, env={})
    errors: dict[str, str] = {}
    changes: list[tuple[str, Any, Any]] = []
    for section, key, _label in EDITABLE:
        name = f"{section}.{key}"
        if name not in submitted:
            continue
        info = known[section][key]
        try:
            value = _parse(info, submitted[name])
        except SettingsError as exc:
            errors[name] = exc.message
            continue
        message = _check_one(section, key, value)
        if message:
            errors[name] = message
            continue
        old = getattr(getattr(current, section), key)
        if value != old:
            raw.setdefault(section, {})[key] = value
            changes.append((name, old, value))
    if errors or not changes:
        return errors, changes
    text = render_toml(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".settings-", suffix=".toml", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        load_settings(Path(tmp_name), env={})  # the whole file, once more
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _LOGGER.info("settings written to %s: %s", path, ", ".join(c[0] for c in changes))
    return errors, changes


def save(
    st: AdminState, submitted: dict[str, str], user: str, audit: Callable[[str, Any, Any], None]
) -> tuple[dict[str, str], list[tuple[str, Any, Any]]]:
    """:func:`apply`, then each change recorded in ``settings_overrides`` (by ``user``) and passed to ``audit``
    (name, old, new) in one transaction, and the app's settings reloaded; one save at a time (``st.lock``)."""
    with st.lock:
        try:
            errors, changes = apply(st.home.settings_file, submitted)
        except SettingsError as exc:
            errors, changes = {"_file": exc.message}, []
        if not errors and changes:
            now = utcnow()
            with transaction(st.db):
                for name, old, new in changes:
                    section, key = name.split(".", 1)
                    st.db.execute(
                        "INSERT INTO settings_overrides (section, key, value, updated_at, updated_by)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (section, key) DO UPDATE SET value = excluded.value,"
                        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                        [section, key, repr(new), now, user],
                    )
                    audit(name, old, new)
            st.settings = load_settings(st.home.settings_file)
    return errors, changes
