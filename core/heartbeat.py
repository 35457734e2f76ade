"""The kiosk's heartbeat: the kiosk process writes it, the admin app reads it.

Every 30 s, and on every state change, the kiosk atomically replaces ``$KIOSK_HOME/kiosk_status.json`` (write a
temp file in the same folder, then ``os.replace``) with::

    {"ts": "2025-01-01T10:00:00.000Z", "pid": 1234, "state": "attract|listening|thinking|speaking|idle",
     "kb": "bank", "kb_version": 12, "version": "0.1.0", "last_error": ""}

A file rather than a table: the kiosk writes it without taking SQLite's write
lock, and a missing or stale file plainly means "not running".
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

STATUS_FILE = "kiosk_status.json"
STALE_AFTER_S = 120


@dataclass(frozen=True)
class Heartbeat:
    present: bool
    fresh: bool = False
    age_s: float | None = None
    data: dict | None = None
    problem: str = ""


def read_heartbeat(home_root: Path, *, now: datetime | None = None) -> Heartbeat:
    path = home_root / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Heartbeat(present=False, problem="the kiosk has not reported yet (no kiosk_status.json)")
    except (OSError, ValueError) as exc:
        return Heartbeat(present=False, problem=f"unreadable status file: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("ts"), str):
        return Heartbeat(present=False, problem="status file without a timestamp")
    try:
        ts = datetime.fromisoformat(data["ts"].replace("Z", "+00:00"))
    except ValueError:
        return Heartbeat(present=False, problem="status file with a bad timestamp")
    age = ((now or datetime.now(UTC)) - ts).total_seconds()
    return Heartbeat(present=True, fresh=age <= STALE_AFTER_S, age_s=age, data=data)


def write_heartbeat(home_root: Path, **fields: object) -> None:
    """Atomically replace the status file with ``fields`` plus the time and process id."""
    from core.db import utcnow

    data = {"ts": utcnow(), "pid": os.getpid(), **fields}
    home_root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".status-", dir=home_root)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, home_root / STATUS_FILE)
