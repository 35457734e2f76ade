"""The kiosk's heartbeat: the kiosk process writes it, the admin app reads it.

Every 30 s, and on every state change, the kiosk atomically replaces ``$KIOSK_HOME/kiosk_status.json`` (write a
temp file in the same folder, then ``os.replace``) with::

    {"ts": "2025-01-01T10:00:00.000Z", "pid": 1234, "state": "attract|listening|thinking|speaking|idle",
     "kb": "bank", "kb_version": 12, "version": "0.1.0", "last_error": ""}

A file rather than a table: the kiosk writes it without taking SQLite's write
lock, and a missing or stale file plainly means "not running".

The index writer (``knowledge/index.py``) reports a build of the Chroma index the same way, in
``$KIOSK_HOME/index_status.json``: ``{"kb", "state": "indexing|indexed|training|ready|failed", "done", "total",
"kept", "embedded", "started", "updated", "pid"}``, replaced after every batch.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

STATUS_FILE = "kiosk_status.json"
INDEX_STATUS_FILE = "index_status.json"
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

    _replace_json(home_root / STATUS_FILE, {"ts": utcnow(), "pid": os.getpid(), **fields})


def _replace_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".status-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def write_index_status(home_root: Path, **fields: object) -> None:
    """Atomically replace the index progress file with ``fields`` plus the process id."""
    _replace_json(home_root / INDEX_STATUS_FILE, {**fields, "pid": os.getpid()})


def read_index_status(home_root: Path) -> dict | None:
    """The last index build's progress, with ``running`` (its process is alive) and ``interrupted`` added."""
    try:
        data = json.loads((home_root / INDEX_STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    running = False
    if isinstance(data.get("pid"), int):
        try:
            os.kill(data["pid"], 0)
            running = True
        except PermissionError:
            running = True
        except OSError:
            running = False
    unfinished = data.get("state") in ("indexing", "indexed", "training")
    return {**data, "running": running and unfinished, "interrupted": unfinished and not running}
