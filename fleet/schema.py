"""The fleet server's PostgreSQL schema: versioned migrations, applied once under an advisory lock.

Like :mod:`core.db` for a kiosk's SQLite, the history lives here in order; ``schema_version``
records what a database has seen. Several server processes may start at once: the first takes the
lock and migrates, the others wait and find nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg

from fleet.errors import FleetDatabaseError

_LOGGER = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6B696F736B  # pg_advisory_lock key: "kiosk"

_M001 = """
CREATE TABLE sites (
    name TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE kiosks (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL REFERENCES sites(name),
    credential_hash TEXT NOT NULL UNIQUE,
    revoked BOOLEAN NOT NULL DEFAULT false,
    kb_versions JSONB NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'joined',
    software_version TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    health JSONB NOT NULL DEFAULT '{}',
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen TIMESTAMPTZ
);
CREATE INDEX kiosks_site ON kiosks(site);
CREATE TABLE enrolment_codes (
    code_hash TEXT PRIMARY KEY,
    site TEXT NOT NULL REFERENCES sites(name),
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    kiosk_id TEXT REFERENCES kiosks(id)
);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    site TEXT REFERENCES sites(name),
    disabled BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_name_nocase ON users(lower(name));
CREATE TABLE kb_versions (
    kb TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    site TEXT REFERENCES sites(name),
    entries JSONB NOT NULL,
    entry_count INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    published_by TEXT NOT NULL DEFAULT '',
    published_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kb, version)
);
CREATE INDEX kb_versions_target ON kb_versions(site, kb, version DESC);
CREATE TABLE turns (
    kiosk_id TEXT NOT NULL REFERENCES kiosks(id),
    turn_id BIGINT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    site TEXT NOT NULL,
    kb TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    answer TEXT NOT NULL,
    mode TEXT NOT NULL,
    faq_id TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kiosk_id, turn_id, ts)
);
CREATE INDEX turns_ts ON turns(ts);
CREATE INDEX turns_site_ts ON turns(site, ts);
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    ts TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_ts ON audit(ts);
"""

_M002 = """
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    ip TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures(lower(username), ts);
CREATE INDEX kiosks_last_seen ON kiosks(last_seen);
"""


def _sql(text: str) -> Callable[[psycopg.Connection], None]:
    def apply(conn: psycopg.Connection) -> None:
        conn.execute(text)

    return apply


MIGRATIONS: list[tuple[int, str, Callable[[psycopg.Connection], None]]] = [
    (1, "fleet", _sql(_M001)),
    (2, "web-sessions", _sql(_M002)),
]


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    """One connection, with an error a person can act on when the database is not there."""
    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.Error as exc:
        raise FleetDatabaseError(
            f"cannot connect to the fleet database: {str(exc).strip().splitlines()[-1]}",
            hint="check --database-url (postgresql://USER:PASSWORD@HOST:PORT/DB) and that PostgreSQL runs; "
            "scripts/fleet-db.sh start DIR starts a throwaway one",
        ) from exc


def schema_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(found[0]) if found else 0


def migrate(url: str) -> int:
    """Bring the database at ``url`` to the newest schema; returns its version."""
    newest = MIGRATIONS[-1][0]
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            current = schema_version(conn)
            if current > newest:
                raise FleetDatabaseError(
                    f"fleet database schema version {current} is newer than this program ({newest})",
                    code="fleet-db-too-new",
                    hint="upgrade the kiosk software on the server",
                )
            for version, name, apply in MIGRATIONS:
                if version <= current:
                    continue
                with conn.transaction():
                    apply(conn)
                    conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", [version, name])
                _LOGGER.info("fleet database migrated to version %d (%s)", version, name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
    return newest
