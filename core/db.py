"""The kiosk database: one SQLite file, the source of truth, with versioned migrations.

WAL (readers never block the writer), ``busy_timeout`` (two processes, e.g. the
kiosk and the admin app, wait instead of failing), foreign keys on. Each
package owns the code that reads and writes its tables; the schema's history
lives here, in order, so every process upgrades the file the same way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from core.errors import KioskError

_LOGGER = logging.getLogger(__name__)


class DatabaseError(KioskError):
    subsystem = "database"
    code = "db-error"


def utcnow() -> str:
    """Timestamps are ISO 8601 UTC strings with milliseconds: sortable and readable."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_WRITE_LOCKS_GUARD = threading.Lock()


def _connection_lock(db: sqlite_utils.Database) -> threading.RLock:
    """One lock per connection object: threads sharing a connection take turns at transactions (and, on a
    :class:`KioskDatabase`, at every statement)."""
    lock = getattr(db, "_kiosk_connection_lock", None)
    if lock is None:
        with _WRITE_LOCKS_GUARD:
            lock = getattr(db, "_kiosk_connection_lock", None)
            if lock is None:
                lock = db._kiosk_connection_lock = threading.RLock()
    return lock


class KioskDatabase(sqlite_utils.Database):
    """sqlite-utils' Database on a connection that several threads share (the answer worker, the heartbeat
    writer, the turn logger): one statement, query or transaction at a time.

    sqlite-utils runs a statement in a few steps on the connection (a savepoint of one fixed name around each
    query; a look at whether a transaction is open, then a commit of the one the statement opened). Two threads
    querying at once released each other's savepoint ("no such savepoint: sqlite_utils_query": an answer failed
    in a 60-minute soak), and a statement from another thread in the middle of a :func:`transaction` could join
    it or commit half of it. Rows of a query are read while the lock is held.
    """

    def execute(self, sql: str, parameters=None) -> sqlite3.Cursor:  # as sqlite-utils: a sequence or a dict
        with _connection_lock(self):
            return super().execute(sql, parameters)

    def executescript(self, sql: str) -> sqlite3.Cursor:
        with _connection_lock(self):
            return super().executescript(sql)

    def query(self, sql: str, params=None) -> Iterator[dict]:
        with _connection_lock(self):
            return iter(list(super().query(sql, params)))


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """All-or-nothing: ``BEGIN IMMEDIATE`` ... commit, or roll back on any exception.

    Nested use (on the same thread) joins the outer transaction; another thread using the same connection waits
    for it (a connection has one transaction: without the wait, two threads logging turns at once failed with
    "cannot start a transaction within a transaction", or one joined the other's). sqlite-utils' own write
    helpers commit on their own, so multi-step writes use plain SQL inside this block.
    """
    conn = db.conn
    with _connection_lock(db):
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()


def _m001_knowledge(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE knowledge_bases (
            name TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL DEFAULT 'en',
            version INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE faqs (
            kb TEXT NOT NULL REFERENCES knowledge_bases(name) ON DELETE CASCADE,
            id TEXT NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            spoken_answer TEXT NOT NULL DEFAULT '',
            category TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL DEFAULT 'en',
            enabled INTEGER NOT NULL DEFAULT 1,
            revision INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT,
            PRIMARY KEY (kb, id)
        )"""
    )
    db.execute(
        """CREATE TABLE phrasings (
            pid INTEGER PRIMARY KEY,
            kb TEXT NOT NULL,
            faq_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('question', 'alternate')),
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            FOREIGN KEY (kb, faq_id) REFERENCES faqs(kb, id) ON DELETE CASCADE
        )"""
    )
    db.execute("CREATE INDEX phrasings_faq ON phrasings(kb, faq_id)")
    db["phrasings"].enable_fts(["text"], fts_version="FTS5", create_triggers=True, tokenize="porter")
    db.execute(
        """CREATE TABLE faq_revisions (
            rid INTEGER PRIMARY KEY,
            kb TEXT NOT NULL,
            faq_id TEXT NOT NULL,
            revision INTEGER NOT NULL,
            action TEXT NOT NULL,
            data TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            changed_by TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX faq_revisions_faq ON faq_revisions(kb, faq_id, revision)")
    db.execute(
        """CREATE TABLE documents (
            kb TEXT NOT NULL REFERENCES knowledge_bases(name) ON DELETE CASCADE,
            id TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            language TEXT NOT NULL DEFAULT 'en',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (kb, id)
        )"""
    )
    db.execute(
        """CREATE TABLE document_chunks (
            cid INTEGER PRIMARY KEY,
            kb TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            FOREIGN KEY (kb, doc_id) REFERENCES documents(kb, id) ON DELETE CASCADE
        )"""
    )
    db["document_chunks"].enable_fts(["text"], fts_version="FTS5", create_triggers=True, tokenize="porter")


def _m002_turns(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            kb TEXT NOT NULL,
            session_id TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'text',
            text TEXT NOT NULL,
            answer TEXT NOT NULL,
            mode TEXT NOT NULL,
            faq_id TEXT,
            score REAL,
            candidates TEXT NOT NULL DEFAULT '[]',
            timings TEXT NOT NULL DEFAULT '{}',
            reason TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX turns_ts ON turns(ts)")
    db.execute("CREATE INDEX turns_kb_mode ON turns(kb, mode, ts)")


def _m003_admin(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE admin_users (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_login_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE admin_sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES admin_users(name) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            ip TEXT NOT NULL DEFAULT '',
            user_agent TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX admin_sessions_user ON admin_sessions(username)")
    db.execute(
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            username TEXT NOT NULL DEFAULT '',
            ip TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX audit_log_ts ON audit_log(ts)")
    db.execute(
        """CREATE TABLE login_failures (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,
            ip TEXT NOT NULL,
            ts TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX login_failures_key ON login_failures(username, ip, ts)")
    db.execute("CREATE INDEX login_failures_ip ON login_failures(ip, ts)")
    db.execute(
        """CREATE TABLE settings_overrides (
            section TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (section, key)
        )"""
    )


def _m004_admin_names_nocase(db: sqlite_utils.Database) -> None:
    """Operator names are unique regardless of case ("ANN" and "ann" are one account).

    Older databases may hold both: the later-created one is renamed ``NAME-2`` (and so on), its
    sessions ended, and the rename written to the audit log.
    """
    taken = {row[0].lower() for row in db.execute("SELECT name FROM admin_users")}
    seen: set[str] = set()
    for (name,) in db.execute("SELECT name FROM admin_users ORDER BY created_at, rowid").fetchall():
        if name.lower() not in seen:
            seen.add(name.lower())
            continue
        n = 2
        while f"{name[:60]}-{n}".lower() in taken:
            n += 1
        new = f"{name[:60]}-{n}"
        taken.add(new.lower())
        db.execute("DELETE FROM admin_sessions WHERE username = ?", [name])
        db.execute("UPDATE admin_users SET name = ?, updated_at = ? WHERE name = ?", [new, utcnow(), name])
        db.execute(
            "INSERT INTO audit_log (ts, username, ip, action, target, detail) VALUES (?, '', '', 'user-rename', ?, ?)",
            [utcnow(), name, f"renamed to {new}: user names are now unique regardless of case"],
        )
        _LOGGER.warning("operator %r renamed to %r: another user has the same name in another case", name, new)
    db.execute("CREATE UNIQUE INDEX admin_users_name_nocase ON admin_users(name COLLATE NOCASE)")


def _m005_fleet_outbox(db: sqlite_utils.Database) -> None:
    """The fleet outbox: turns not yet acknowledged by the fleet server, and the published versions applied here."""
    db.execute("ALTER TABLE turns ADD COLUMN shipped_at TEXT")
    db.execute("CREATE INDEX turns_unshipped ON turns(id) WHERE shipped_at IS NULL")
    db.execute(
        """CREATE TABLE fleet_kb_versions (
            kb TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )"""
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "knowledge", _m001_knowledge),
    (2, "turns", _m002_turns),
    (3, "admin", _m003_admin),
    (4, "admin-names-nocase", _m004_admin_names_nocase),
    (5, "fleet-outbox", _m005_fleet_outbox),
]


def schema_version(db: sqlite_utils.Database) -> int:
    if "schema_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return row[0] or 0


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations this file has not seen yet, each in its own transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    current = schema_version(db)
    newest = MIGRATIONS[-1][0]
    if current > newest:
        raise DatabaseError(
            f"database schema version {current} is newer than this program ({newest})",
            code="db-too-new",
            hint="upgrade the kiosk software",
        )
    path = _file_of(db)
    if 0 < current < newest and path is not None:
        from core.backup import backup_quietly

        backup_quietly(path, "pre-migration", source=db.conn)  # a failed backup never stops the kiosk
    for version, name, apply in MIGRATIONS:
        if version <= current:
            continue
        with db.conn:
            apply(db)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [version, name, utcnow()]
            )
        _LOGGER.info("database migrated to version %d (%s)", version, name)
    return newest


def open_database(path: Path | str | None) -> sqlite_utils.Database:
    """Open (creating and migrating as needed) the kiosk database; ``None`` = in memory."""
    try:
        if path is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        db = KioskDatabase(conn)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        if path is not None:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            _check_once(db, Path(path))
        migrate(db)
    except sqlite3.DatabaseError as exc:
        from core.backup import is_corruption

        if path is not None and is_corruption(exc):
            raise corrupt_error(Path(path), str(exc)) from exc
        raise DatabaseError(f"cannot open database {path}: {exc}", hint="is it a kiosk database?") from exc
    return db


_CHECKED: set[Path] = set()
_CHECKED_LOCK = threading.Lock()


def _file_of(db: sqlite_utils.Database) -> Path | None:
    """The file behind ``db``'s main database; ``None`` in memory."""
    for _seq, name, file in db.conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return Path(file) if file else None
    return None


def _check_once(db: sqlite_utils.Database, path: Path) -> None:
    """``PRAGMA quick_check`` the first time this process opens ``path`` (later connections skip it)."""
    key = path.resolve()
    with _CHECKED_LOCK:
        if key in _CHECKED:
            return
    rows = [row[0] for row in db.execute("PRAGMA quick_check(5)").fetchall()]
    if rows != ["ok"]:
        raise corrupt_error(path, "; ".join(str(r) for r in rows[:3]))
    with _CHECKED_LOCK:
        _CHECKED.add(key)


def corrupt_error(path: Path, detail: str) -> DatabaseError:
    """``db-corrupt``: names the newest good backup and the exact command that restores it."""
    from core.backup import backups_dir, newest_good_backup, restore_command

    backup = newest_good_backup(backups_dir(path))
    if backup is None:
        return DatabaseError(
            f"cannot open database {path}: it is damaged ({detail}) and there is no good backup in {backups_dir(path)}",
            code="db-corrupt",
            hint=f"move {path} aside to start with an empty database; FAQs can be re-imported from an export",
        )
    return DatabaseError(
        f"cannot open database {path}: it is damaged ({detail}); the newest good backup is {backup.path.name} "
        f"({backup.reason}, {backup.created:%Y-%m-%d %H:%M} UTC): restore it with `{restore_command(backup.path, path.parent)}`",
        code="db-corrupt",
        hint="stop the kiosk and the admin app first; the restore keeps a copy of the damaged file in backups/",
    )
