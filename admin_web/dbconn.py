"""One SQLite connection per thread for the admin app.

The app's handlers run on a pool of worker threads. A single shared connection
would mix their transactions (one thread's ``BEGIN`` joined or committed by
another), so each thread opens its own connection to the same file and SQLite
does the serialising: WAL lets readers run beside the writer, ``BEGIN
IMMEDIATE`` plus ``busy_timeout`` makes writers queue instead of failing. No
Python lock is held around a request, so nothing can block the event loop or
deadlock the thread pool.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import sqlite_utils

from core.db import open_database

_LOGGER = logging.getLogger(__name__)


def database_file(db: sqlite_utils.Database) -> Path | None:
    """The file behind ``db``'s main database, or ``None`` for an in-memory one."""
    for _seq, name, file in db.conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return Path(file) if file else None
    return None


class ThreadLocalDatabase:
    """A ``sqlite_utils.Database`` look-alike that hands each thread its own connection to one file.

    A connection is closed when its thread ends (the thread's local storage goes with it).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._opened = threading.Lock()
        self.connections_opened = 0

    def _db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_database(self.path)
            self._local.db = db
            with self._opened:
                self.connections_opened += 1
        return db

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._db(), name)

    def __getitem__(self, table: str) -> Any:
        return self._db()[table]

    def __repr__(self) -> str:
        return f"ThreadLocalDatabase({str(self.path)!r})"


def per_thread(db: sqlite_utils.Database) -> sqlite_utils.Database | ThreadLocalDatabase:
    """Per-thread connections to ``db``'s file; an in-memory database (tests, benchmarks) is returned as is."""
    path = database_file(db)
    if path is None:
        _LOGGER.warning("admin app on an in-memory database: one shared connection, not safe for concurrent writes")
        return db
    return ThreadLocalDatabase(path)
