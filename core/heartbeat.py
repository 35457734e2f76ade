"""The kiosk's heartbeat: the kiosk process writes it, the admin app reads it.

Every 30 s, and on every state change, the kiosk atomically replaces ``$KIOSK_HOME/kiosk_status.json`` (write a
temp file in the same folder, then ``os.replace``) with::

    {"ts": "2025-01-01T10:00:00.000Z", "pid": 1234, "state": "attract|listening|thinking|speaking|idle",
     "kb": "bank", "kb_version": 12, "version": "0.1.0", "last_error": ""}

A file rather than a table: the kiosk writes it without taking SQLite's write
lock, and a missing or stale file plainly means "not running". The kiosk window hands each beat to a
:class:`HeartbeatWriter`, whose own thread writes it: a rename can wait on a busy disk for a few hundred
milliseconds, and the soak caught that as a frozen avatar when it happened on the Qt thread.

The index writer (``knowledge/index.py``) reports a build of the Chroma index the same way, in
``$KIOSK_HOME/index_status.json``: ``{"kb", "state": "indexing|indexed|training|ready|failed", "done", "total",
"kept", "embedded", "started", "updated", "pid"}``, replaced after every batch.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

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


class HeartbeatWriter:
    """Writes the heartbeat from a thread of its own; a beat submitted while one is written replaces the older.

    ``submit`` takes a function returning the fields, called on the writer's thread (so it may read
    SQLite); it never blocks the caller. ``close`` writes what is still pending and stops the thread; a beat
    submitted after it (the kiosk's last state, "stopped") is written at once.
    """

    def __init__(self, home_root: Path) -> None:
        self.home_root = home_root
        self._pending: Callable[[], dict[str, object]] | None = None
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def submit(self, fields: Callable[[], dict[str, object]]) -> None:
        with self._wake:
            if not self._closed:
                self._pending = fields
                self._wake.notify()
                return
        self._write(fields)  # after close (the kiosk stopping): written at once

    def _write(self, fields: Callable[[], dict[str, object]]) -> None:
        try:
            write_heartbeat(self.home_root, **fields())
        except Exception as exc:  # a full disk or a read-only home: the kiosk goes on
            _LOGGER.warning("cannot write the heartbeat: %s", exc)

    def close(self, timeout_s: float = 5.0) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                fields, self._pending = self._pending, None
                closed = self._closed
            if fields is not None:
                self._write(fields)
            if closed:
                return


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
