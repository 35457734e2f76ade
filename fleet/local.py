"""What a kiosk keeps about its fleet membership, under ``$KIOSK_HOME/fleet/``.

``credential.json`` (0600, in a 0700 folder): the server's URL, this kiosk's id, site and secret
credential; the server keeps only its hash. ``sync.json``: when the last sync ran, how it ended.
``applied.json``: the settings version and avatar pack versions this kiosk applied (knowledge versions
live in its SQLite, applied in the same transaction as the entries).
A kiosk without ``credential.json`` has not joined and behaves exactly as a stand-alone kiosk.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.home import FLEET_CREDENTIAL_FILE, KioskHome
from fleet.errors import NotJoinedError

_LOGGER = logging.getLogger(__name__)

CREDENTIAL_FILE = FLEET_CREDENTIAL_FILE
SYNC_FILE = "sync.json"
APPLIED_FILE = "applied.json"


@dataclass(frozen=True)
class Credential:
    server: str
    kiosk_id: str
    site: str
    credential: str
    joined_at: str


def fleet_dir(home_root: Path) -> Path:
    return KioskHome(home_root).fleet_dir


def _write_private(path: Path, data: dict[str, Any], mode: int) -> None:
    """Atomically replace ``path`` with ``data`` as JSON, created with ``mode`` (never wider, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)  # mkstemp creates it 0600
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_credential(home_root: Path, credential: Credential) -> Path:
    path = fleet_dir(home_root) / CREDENTIAL_FILE
    _write_private(path, asdict(credential), 0o600)
    return path


def load_credential(home_root: Path) -> Credential | None:
    path = fleet_dir(home_root) / CREDENTIAL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise NotJoinedError(
            f"cannot read the fleet credential {path}: {exc}",
            code="fleet-credential-unreadable",
            hint="join again with `kiosk fleet join URL CODE` (a new code from the server)",
        ) from exc
    if mode & 0o077:
        _LOGGER.warning("%s was readable by others (mode %o): narrowing it to 0600", path, mode)
        os.chmod(path, 0o600)
    try:
        return Credential(**{k: str(data[k]) for k in Credential.__dataclass_fields__})
    except (KeyError, TypeError) as exc:
        raise NotJoinedError(
            f"the fleet credential {path} is incomplete ({exc})",
            code="fleet-credential-unreadable",
            hint="join again with `kiosk fleet join URL CODE`",
        ) from exc


def require_credential(home_root: Path) -> Credential:
    credential = load_credential(home_root)
    if credential is None:
        raise NotJoinedError(
            "this kiosk has not joined a fleet", hint="`kiosk fleet join URL CODE` with a code from the fleet server"
        )
    return credential


def load_sync_state(home_root: Path) -> dict[str, Any]:
    try:
        data = json.loads((fleet_dir(home_root) / SYNC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_sync_state(home_root: Path, state: dict[str, Any]) -> None:
    _write_private(fleet_dir(home_root) / SYNC_FILE, state, 0o600)


def load_applied(home_root: Path) -> dict[str, Any]:
    """``{"settings": version, "avatars": {name: version}}`` as applied on this kiosk (zeros when none)."""
    try:
        data = json.loads((fleet_dir(home_root) / APPLIED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    avatars = data.get("avatars") if isinstance(data.get("avatars"), dict) else {}
    return {
        "settings": int(data.get("settings") or 0),
        "avatars": {str(k): int(v) for k, v in avatars.items() if isinstance(v, int)},
    }


def save_applied(home_root: Path, applied: dict[str, Any]) -> None:
    _write_private(fleet_dir(home_root) / APPLIED_FILE, applied, 0o600)
