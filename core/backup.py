"""Backups of ``kiosk.db`` (SQLite's online backup API) into ``$KIOSK_HOME/backups``, and restoring one.

A backup is a complete, self-contained SQLite file (rollback journal, not WAL)
named for its time and reason, e.g. ``kiosk-20261128T093012.345Z-daily.db``. They are
made daily (when the kiosk or the admin app starts, then hourly checks), before a
``--replace`` import, before a schema migration and before a restore; each reason
keeps its newest few (:data:`KEEP`). Every backup is checked (``PRAGMA quick_check``)
before it is kept, so a damaged database never pushes good backups out.

An automatic backup never stops the kiosk: :func:`backup_quietly` logs a warning.
:func:`restore_database` checks a file fully before it replaces the database, and
refuses while another process has the database open.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.errors import KioskError

_LOGGER = logging.getLogger(__name__)

BACKUP_DIR = "backups"
REASONS = ("daily", "manual", "pre-import", "pre-migration", "pre-restore", "damaged")
KEEP: Mapping[str, int] = {"daily": 7, "manual": 5, "pre-import": 5, "pre-migration": 5, "pre-restore": 5, "damaged": 2}
KEEP_OTHER = 5
DAILY = timedelta(days=1)
CHECK_EVERY_S = 3600.0
# The time has milliseconds (backups made within one second must still sort in order); names
# from before, without them, are still recognised.
_NAME = re.compile(r"^kiosk-(\d{8}T\d{6})(?:\.(\d{3}))?Z-([a-z]+(?:-[a-z]+)*?)(?:-(\d+))?\.db$")
_TIME_FORMAT = "%Y%m%dT%H%M%S"
_CORRUPT_MARKERS = ("malformed", "not a database", "encrypted", "corrupt")


class BackupError(KioskError):
    subsystem = "backup"
    code = "backup-failed"


class RestoreError(KioskError):
    subsystem = "backup"
    code = "restore-refused"


@dataclass(frozen=True)
class Backup:
    """One backup file; ``created`` and ``reason`` come from its name."""

    path: Path
    created: datetime
    reason: str
    serial: int = 0

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "created": self.created.isoformat().replace("+00:00", "Z"),
            "reason": self.reason,
            "bytes": self.size,
        }


@dataclass(frozen=True)
class RestoreReport:
    database: Path
    source: Path
    schema_version: int
    faq_count: int
    safety_copy: Backup | None  # the database as it was just before, if there was one


def is_corruption(exc: BaseException) -> bool:
    """Whether an ``sqlite3.DatabaseError`` says the file is damaged or not a database at all."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and any(marker in text for marker in _CORRUPT_MARKERS)


def backups_dir(database: Path) -> Path:
    """Where the backups of ``database`` go: ``backups/`` beside it (``$KIOSK_HOME/backups``)."""
    return Path(database).parent / BACKUP_DIR


def list_backups(directory: Path) -> list[Backup]:
    """The backups in ``directory``, newest first (files not named like a backup are ignored)."""
    found = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        match = _NAME.match(name)
        if match is None:
            continue
        created = datetime.strptime(match.group(1), _TIME_FORMAT).replace(tzinfo=UTC)
        created += timedelta(milliseconds=int(match.group(2) or 0))
        found.append(Backup(Path(directory) / name, created, match.group(3), int(match.group(4) or 0)))
    found.sort(key=lambda b: (b.created, b.serial), reverse=True)
    return found


def _new_path(directory: Path, reason: str, now: datetime) -> Path:
    now = now.astimezone(UTC)
    base = f"kiosk-{now.strftime(_TIME_FORMAT)}.{now.microsecond // 1000:03d}Z-{reason}"
    path, serial = directory / f"{base}.db", 1
    while path.exists():
        serial += 1
        path = directory / f"{base}-{serial}.db"
    return path


def _quick_check(conn: sqlite3.Connection, pragma: str = "quick_check") -> list[str]:
    """Problems SQLite's check finds (empty when the file is sound)."""
    rows = [row[0] for row in conn.execute(f"PRAGMA {pragma}(20)").fetchall()]
    return [] if rows == ["ok"] else [str(r) for r in rows]


def prune(directory: Path, keep: Mapping[str, int] | None = None) -> list[Path]:
    """Delete all but the newest ``keep[reason]`` backups of each reason; returns what was deleted."""
    keep = KEEP if keep is None else keep
    seen: dict[str, int] = {}
    removed = []
    for backup in list_backups(directory):
        seen[backup.reason] = seen.get(backup.reason, 0) + 1
        if seen[backup.reason] > keep.get(backup.reason, KEEP_OTHER):
            try:
                backup.path.unlink()
                removed.append(backup.path)
            except OSError as exc:
                _LOGGER.warning("cannot delete old backup %s: %s", backup.path, exc)
    return removed


def create_backup(
    database: Path,
    reason: str = "manual",
    *,
    source: sqlite3.Connection | None = None,
    directory: Path | None = None,
    keep: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> Backup:
    """Copy ``database`` (through ``source``, an open connection to it, if given) into a new checked backup.

    Raises :class:`BackupError` when it cannot; nothing half-written is left behind.
    """
    database = Path(database)
    directory = backups_dir(database) if directory is None else Path(directory)
    if source is None and not database.is_file():
        raise BackupError(f"there is no database to back up at {database}", hint="the kiosk creates it on first use")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(
            f"cannot create the backup folder {directory}: {exc.strerror or exc}",
            hint="make the kiosk home writable, or free disk space",
        ) from exc
    path = _new_path(directory, reason, now or datetime.now(UTC))
    part = path.with_name(f".{path.name}.part")
    conn = source
    try:
        if conn is None:
            conn = sqlite3.connect(str(database), timeout=10)
        target = sqlite3.connect(str(part))
        try:
            conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # self-contained: no -wal beside a backup
            problems = _quick_check(target)
        finally:
            target.close()
        if problems:
            raise BackupError(
                f"the database {database} is damaged ({problems[0]}); no backup was kept",
                code="db-corrupt",
                hint="restore a backup with `kiosk restore FILE` (`kiosk backup --list` lists them)",
            )
        os.replace(part, path)
    except BackupError:
        part.unlink(missing_ok=True)
        raise
    except (sqlite3.Error, OSError) as exc:
        part.unlink(missing_ok=True)
        if is_corruption(exc):
            raise BackupError(
                f"the database {database} is damaged ({exc}); no backup was made",
                code="db-corrupt",
                hint="restore a backup with `kiosk restore FILE` (`kiosk backup --list` lists them)",
            ) from exc
        raise BackupError(
            f"cannot back up {database} to {directory}: {exc}", hint="check free disk space and permissions"
        ) from exc
    finally:
        if source is None and conn is not None:
            conn.close()
    _LOGGER.info("backed up %s to %s (%s)", database, path, reason)
    prune(directory, keep)
    return next(b for b in list_backups(directory) if b.path == path)


def backup_quietly(database: Path, reason: str, *, source: sqlite3.Connection | None = None) -> Backup | None:
    """:func:`create_backup` for the automatic backups: a failure is logged, never raised."""
    if source is None and not Path(database).is_file():
        _LOGGER.debug("no %s backup: there is no database at %s yet", reason, database)
        return None
    try:
        return create_backup(database, reason, source=source)
    except Exception as exc:
        _LOGGER.warning("automatic %s backup failed (the kiosk goes on without it): %s", reason, exc)
        return None


def backup_if_due(database: Path, *, now: datetime | None = None, every: timedelta = DAILY) -> Backup | None:
    """A daily backup when the newest one is older than ``every`` (cheap: one directory listing). Never raises."""
    try:
        database = Path(database)
        if not database.is_file():
            return None
        now = now or datetime.now(UTC)
        daily = [b for b in list_backups(backups_dir(database)) if b.reason == "daily"]
        if daily and now - daily[0].created < every:
            return None
    except Exception as exc:
        _LOGGER.warning("cannot check the daily backup: %s", exc)
        return None
    try:
        return create_backup(database, "daily", now=now)
    except Exception as exc:
        _LOGGER.warning("daily backup failed (the kiosk goes on without it): %s", exc)
        return None


def start_daily_backups(database: Path, stop: threading.Event | None = None) -> threading.Thread:
    """A daemon thread for a long-running process: :func:`backup_if_due` now, then every hour."""
    stop = stop or threading.Event()

    def loop() -> None:
        while True:
            backup_if_due(database)
            if stop.wait(CHECK_EVERY_S):
                return

    thread = threading.Thread(target=loop, name="kiosk-backup", daemon=True)
    thread.start()
    return thread


def newest_good_backup(directory: Path) -> Backup | None:
    """The newest backup that opens and passes ``PRAGMA quick_check``."""
    for backup in list_backups(directory):
        if backup.reason == "damaged":
            continue
        try:
            conn = sqlite3.connect(f"{backup.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                if not _quick_check(conn):
                    return backup
            finally:
                conn.close()
        except sqlite3.Error as exc:
            _LOGGER.warning("backup %s is unreadable: %s", backup.path, exc)
    return None


def restore_command(backup: Path, home: Path) -> str:
    """The exact command that restores ``backup`` into the kiosk home ``home``."""
    from core.home import KioskHome

    home_arg = "" if KioskHome.resolve(None, env={}).root == Path(home).resolve() else f"--home {home} "
    return f"kiosk {home_arg}restore {backup}"


def _expected_tables(version: int) -> set[str]:
    """The tables a kiosk database at schema ``version`` has (migrations up to it, run in memory)."""
    import sqlite_utils

    from core.db import MIGRATIONS

    db = sqlite_utils.Database(memory=True)
    for number, _name, apply in MIGRATIONS:
        if number <= version:
            apply(db)
    return set(db.table_names())


def check_database_file(conn: sqlite3.Connection, label: str) -> int:
    """Check an open candidate database fully; returns its schema version or raises :class:`RestoreError`."""
    from core.db import MIGRATIONS

    hint = "choose a file from `kiosk backup --list`"
    try:
        problems = _quick_check(conn, "integrity_check")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_migrations" not in tables:
            raise RestoreError(f"{label} is not a kiosk database (no schema_migrations table)", hint=hint)
        version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{label} is not a readable SQLite database ({exc})", hint=hint) from exc
    if problems:
        raise RestoreError(f"{label} is damaged: {'; '.join(problems[:3])}", hint=hint)
    newest = MIGRATIONS[-1][0]
    if version > newest:
        raise RestoreError(
            f"{label} has schema version {version}, newer than this software ({newest})",
            code="db-too-new",
            hint="restore it with the kiosk version that wrote it, or upgrade this kiosk first",
        )
    missing = sorted(_expected_tables(version) - tables)
    if version < 1 or missing:
        raise RestoreError(f"{label} is not a kiosk database (missing: {', '.join(missing) or 'schema'})", hint=hint)
    return version


def _hold_exclusively(database: Path) -> tuple[sqlite3.Connection | None, bool]:
    """Open the current database alone: ``(connection, damaged)``; refuses while another process has it open.

    Leaving WAL mode needs every other connection closed, so it doubles as the check.
    """
    if not database.exists():
        return None, False
    conn = sqlite3.connect(str(database), timeout=0.5, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE").fetchone()
        return conn, False
    except sqlite3.OperationalError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise RestoreError(
                f"the database {database} is in use by another process (a running kiosk or admin app)",
                code="db-in-use",
                hint="stop the kiosk and the admin app (e.g. `systemctl stop kiosk-avatar`), then restore again",
            ) from exc
        raise RestoreError(f"cannot open the current database {database}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        if not is_corruption(exc):
            raise RestoreError(f"cannot open the current database {database}: {exc}") from exc
        return None, True


def restore_database(database: Path, source: Path, *, now: datetime | None = None) -> RestoreReport:
    """Replace ``database`` with the checked copy of ``source``, atomically, after backing the current one up."""
    database, source = Path(database), Path(source)
    if not source.is_file():
        raise RestoreError(
            f"{source} is not a file", code="restore-invalid", hint="choose a file from `kiosk backup --list`"
        )
    candidate = database.with_name(f".{database.name}.restore-{os.getpid()}")
    holder = None
    try:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, candidate)
        except OSError as exc:
            raise RestoreError(f"cannot copy {source} into {database.parent}: {exc.strerror or exc}") from exc
        conn = sqlite3.connect(str(candidate))
        try:
            version = check_database_file(conn, str(source))
            faqs = conn.execute("SELECT COUNT(*) FROM faqs WHERE deleted_at IS NULL").fetchone()[0]
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()
        holder, damaged = _hold_exclusively(database)
        safety = None
        if holder is not None:
            try:
                safety = create_backup(database, "pre-restore", source=holder, now=now)
            except BackupError as exc:
                if exc.code != "db-corrupt":
                    raise RestoreError(
                        f"the current database could not be backed up first, so it was left as it is: {exc.message}",
                        hint=exc.hint,
                    ) from exc
                damaged = True
            holder.execute("BEGIN EXCLUSIVE")  # nobody opens the old file while it is replaced
        if damaged:
            safety = _keep_damaged(database, now)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.replace(candidate, database)
    finally:
        for leftover in (candidate, Path(f"{candidate}-wal"), Path(f"{candidate}-shm"), Path(f"{candidate}-journal")):
            leftover.unlink(missing_ok=True)
        if holder is not None:
            holder.close()
    _LOGGER.info("database %s restored from %s (schema %d)", database, source, version)
    return RestoreReport(database, source, version, faqs, safety)


def _keep_damaged(database: Path, now: datetime | None) -> Backup | None:
    """A raw copy of a damaged database (SQLite cannot read it to back it up), for whoever investigates."""
    directory = backups_dir(database)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = _new_path(directory, "damaged", now or datetime.now(UTC))
        shutil.copyfile(database, path)
    except OSError as exc:
        _LOGGER.warning("cannot keep a copy of the damaged database %s: %s", database, exc)
        return None
    prune(directory)
    return next((b for b in list_backups(directory) if b.path == path), None)
