"""The kiosk home: the one directory that holds every piece of state.

Settings file, SQLite database and its backups, Chroma index, logs, caches and
downloaded models all live under it. It comes from ``--home``, else ``$KIOSK_HOME``, else the
user's data directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import HomeError

APP_NAME = "kiosk-avatar"
HOME_ENV = "KIOSK_HOME"


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


FLEET_DIR = "fleet"
FLEET_CREDENTIAL_FILE = "credential.json"


@dataclass(frozen=True)
class KioskHome:
    """Paths inside one kiosk home directory."""

    root: Path

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> KioskHome:
        env = os.environ if env is None else env
        raw = explicit or env.get(HOME_ENV) or default_home()
        return cls(Path(raw).expanduser().resolve())

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.toml"

    @property
    def database(self) -> Path:
        return self.root / "kiosk.db"

    @property
    def chroma_dir(self) -> Path:
        return self.root / "chroma"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def backups_dir(self) -> Path:
        """Backups of kiosk.db (``core.backup``)."""
        return self.root / "backups"

    @property
    def fleet_dir(self) -> Path:
        """Fleet membership (``fleet.local``): the credential once the kiosk joined a fleet server."""
        return self.root / FLEET_DIR

    @property
    def in_fleet(self) -> bool:
        """Has this kiosk joined a fleet? (Then its turns stay until the server has them.)"""
        return (self.fleet_dir / FLEET_CREDENTIAL_FILE).is_file()

    def ensure(self) -> KioskHome:
        """Create the home and its sub-directories; fail with a clear message."""
        for path in (self.root, self.logs_dir, self.cache_dir, self.models_dir):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HomeError(
                    f"cannot create {'the kiosk home ' if path == self.root else ''}{path}: {exc.strerror or exc}",
                    hint=f"choose a writable directory with --home DIR or {HOME_ENV}=DIR",
                ) from exc
        if not os.access(self.root, os.W_OK):
            raise HomeError(
                f"kiosk home {self.root} is not writable",
                hint=f"choose a writable directory with --home DIR or {HOME_ENV}=DIR",
            )
        return self
