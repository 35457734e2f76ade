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


_M004 = """
CREATE TABLE kb_drafts (
    kb TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    base_version INTEGER,
    revision INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE kb_draft_entries (
    kb TEXT NOT NULL REFERENCES kb_drafts(kb) ON DELETE CASCADE,
    faq_id TEXT NOT NULL,
    seq BIGSERIAL,
    entry JSONB NOT NULL,
    entry_rev INTEGER NOT NULL DEFAULT 1,
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kb, faq_id)
);
CREATE INDEX kb_draft_entries_order ON kb_draft_entries(kb, seq);
CREATE TABLE kb_draft_imports (
    token_hash TEXT PRIMARY KEY,
    kb TEXT NOT NULL REFERENCES kb_drafts(kb) ON DELETE CASCADE,
    username TEXT NOT NULL,
    filename TEXT NOT NULL DEFAULT '',
    replace_existing BOOLEAN NOT NULL DEFAULT false,
    entries JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX turns_mode_ts ON turns(mode, ts);
"""

# settings and avatar packs published like knowledge, documents inside knowledge versions, what each kiosk
# applied of them, silence alerts (with their webhook delivery) and the server's own settings (retention)
_M003 = """
ALTER TABLE kb_versions ADD COLUMN documents JSONB NOT NULL DEFAULT '[]';
ALTER TABLE kb_versions ADD COLUMN document_count INTEGER NOT NULL DEFAULT 0;
CREATE TABLE settings_versions (
    version INTEGER PRIMARY KEY,
    site TEXT REFERENCES sites(name),
    settings JSONB NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    rollback_of INTEGER,
    published_by TEXT NOT NULL DEFAULT '',
    published_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX settings_versions_target ON settings_versions(site, version DESC);
CREATE TABLE avatar_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    site TEXT REFERENCES sites(name),
    archive BYTEA NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    rollback_of INTEGER,
    published_by TEXT NOT NULL DEFAULT '',
    published_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
CREATE INDEX avatar_versions_target ON avatar_versions(site, name, version DESC);
ALTER TABLE kb_versions ADD COLUMN rollback_of INTEGER;
ALTER TABLE kiosks ADD COLUMN settings_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kiosks ADD COLUMN avatar_versions JSONB NOT NULL DEFAULT '{}';
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    kiosk_id TEXT NOT NULL REFERENCES kiosks(id),
    site TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'silent',
    last_seen TIMESTAMPTZ,
    raised_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    cleared_at TIMESTAMPTZ,
    notify_state TEXT NOT NULL DEFAULT 'none' CHECK (notify_state IN ('none', 'pending', 'sent', 'failed')),
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    notify_after TIMESTAMPTZ,
    notify_error TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_open ON alerts(kiosk_id, kind) WHERE cleared_at IS NULL;
CREATE INDEX alerts_notify ON alerts(notify_state, notify_after);
CREATE TABLE server_settings (
    key TEXT PRIMARY KEY,
    value JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""


# named groups of sites (a metro's "Line 2", a bank's "North region"), a group as a publishing target beside a
# site and all (at most one of the two set), and documents in knowledge drafts (copied from the version an
# existing draft was started from, so publishing it keeps them)
_M005 = """
CREATE TABLE site_groups (
    name TEXT PRIMARY KEY,
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE site_group_members (
    site_group TEXT NOT NULL REFERENCES site_groups(name) ON DELETE CASCADE,
    site TEXT NOT NULL REFERENCES sites(name),
    PRIMARY KEY (site_group, site)
);
CREATE INDEX site_group_members_site ON site_group_members(site);
ALTER TABLE kb_versions ADD COLUMN site_group TEXT REFERENCES site_groups(name);
ALTER TABLE kb_versions ADD CONSTRAINT kb_versions_one_target CHECK (site IS NULL OR site_group IS NULL);
CREATE INDEX kb_versions_group ON kb_versions(site_group, kb, version DESC) WHERE site_group IS NOT NULL;
ALTER TABLE settings_versions ADD COLUMN site_group TEXT REFERENCES site_groups(name);
ALTER TABLE settings_versions ADD CONSTRAINT settings_versions_one_target CHECK (site IS NULL OR site_group IS NULL);
ALTER TABLE avatar_versions ADD COLUMN site_group TEXT REFERENCES site_groups(name);
ALTER TABLE avatar_versions ADD CONSTRAINT avatar_versions_one_target CHECK (site IS NULL OR site_group IS NULL);
CREATE TABLE kb_draft_documents (
    kb TEXT NOT NULL REFERENCES kb_drafts(kb) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    seq BIGSERIAL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'en',
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kb, doc_id)
);
INSERT INTO kb_draft_documents (kb, doc_id, title, body, language, updated_by)
SELECT d.kb, doc->>'id', COALESCE(doc->>'title', doc->>'id'), doc->>'body', COALESCE(doc->>'language', 'en'),
       d.created_by
FROM kb_drafts d JOIN kb_versions v ON v.kb = d.kb AND v.version = d.base_version,
     jsonb_array_elements(v.documents) AS doc;
"""


def _sql(text: str) -> Callable[[psycopg.Connection], None]:
    def apply(conn: psycopg.Connection) -> None:
        conn.execute(text)

    return apply


MIGRATIONS: list[tuple[int, str, Callable[[psycopg.Connection], None]]] = [
    (1, "fleet", _sql(_M001)),
    (2, "web-sessions", _sql(_M002)),
    (3, "settings-avatars-alerts", _sql(_M003)),
    (4, "kb-drafts", _sql(_M004)),
    (5, "site-groups-draft-documents", _sql(_M005)),
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
            done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version").fetchall()}
            for version, name, apply in MIGRATIONS:
                if version in done:  # by number, not "up to the newest": one made on a branch may come later
                    continue
                with conn.transaction():
                    apply(conn)
                    conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", [version, name])
                _LOGGER.info("fleet database migrated to version %d (%s)", version, name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
    return newest
