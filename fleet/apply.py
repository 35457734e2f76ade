"""Applying published settings and avatar packs on a kiosk: checked first, then written atomically.

Settings become ``$KIOSK_HOME/fleet_settings.toml`` (the overlay :func:`core.settings.load_settings` reads
above ``settings.toml``); a pack becomes ``$KIOSK_HOME/avatars/NAME``. Each is checked whole (its digest,
then every key or archive member) and written to a temporary file or folder that is renamed into place,
so a broken or tampered download changes nothing. The versions applied are recorded after the switch:
a crash in between only means the next sync applies the same version again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from core.errors import SettingsError
from core.settings import FLEET_SETTINGS_FILE, load_settings
from fleet.central_settings import check_central, render_overlay, settings_digest
from fleet.errors import DownloadInvalidError, FleetInputError
from fleet.local import load_applied, save_applied
from fleet.packs import install_archive

_LOGGER = logging.getLogger(__name__)


def overlay_path(home_root: Path) -> Path:
    return home_root / FLEET_SETTINGS_FILE


def apply_settings(home_root: Path, payload: Any, wanted: dict[str, Any]) -> int:
    """Check a downloaded settings version against the announced digest and the central allow-list, then
    replace the overlay file; returns the version applied."""
    if not isinstance(payload, dict) or not isinstance(payload.get("settings"), dict):
        raise DownloadInvalidError("the settings download is malformed")
    version = int(wanted.get("version", 0))
    values = payload["settings"]
    if payload.get("sha256") != wanted.get("sha256") or settings_digest(values) != wanted.get("sha256"):
        raise DownloadInvalidError(
            f"settings version {version}: the download does not match its digest",
            hint="nothing was changed; the next sync downloads it again",
        )
    try:
        values = check_central(values, f"settings version {version}")
    except FleetInputError as exc:
        raise DownloadInvalidError(exc.message, hint="nothing was changed") from exc
    target = overlay_path(home_root)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=home_root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_overlay(values, version=version, site=payload.get("site")))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        load_settings(None, env={}, overlay=Path(tmp))  # what the kiosk will read, read once before the switch
        os.replace(tmp, target)
    except SettingsError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DownloadInvalidError(f"settings version {version} does not load: {exc.message}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    applied = load_applied(home_root)
    applied["settings"] = version
    save_applied(home_root, applied)
    _LOGGER.info("fleet: settings version %d written to %s (used from the next start)", version, target)
    return version


def apply_avatar(home_root: Path, name: str, data: bytes, wanted: dict[str, Any]) -> int:
    """Install a downloaded pack as ``avatars/NAME`` once its digest and members check out; the version."""
    version = int(wanted.get("version", 0))
    install_archive(data, name=name, expected_sha256=str(wanted.get("sha256", "")), avatars_dir=home_root / "avatars")
    applied = load_applied(home_root)
    applied["avatars"][name] = version
    save_applied(home_root, applied)
    return version
