"""The kiosk database: one SQLite file, the source of truth, with versioned migrations.

WAL (readers never block the writer), ``busy_timeout`` (two processes, e.g. the
kiosk and the admin app, wait instead of failing), foreign keys on. Each
package owns the code that reads and writes its tables; the schema's history
lives here, in order, so every process upgrades the file the same way.
"""

from __future__ import annotations

import logging
import sqlite3
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


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """All-or-nothing: ``BEGIN IMMEDIATE`` ... commit, or roll back on any exception.

    Nested use joins the outer transaction. (sqlite-utils' own write helpers commit
    on their own, so multi-step writes use plain SQL inside this block.)
    """
    conn = db.conn
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


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "knowledge", _m001_knowledge),
    (2, "turns", _m002_turns),
    (3, "admin", _m003_admin),
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
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        if path is not None:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}", hint="is it a kiosk database?") from exc
    return db
