"""The fleet server's queries over PostgreSQL: sites, kiosks, enrolment, published versions, turns, audit.

Every method takes a connection from the pool, does its work in one transaction and gives the
connection back, so any number of stateless server processes can share one database.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from fleet.errors import EnrolmentError, FleetDatabaseError, FleetInputError
from fleet.faults import pause_point
from fleet.groups import GroupQueries, target_label
from fleet.protocol import (
    CODE_ALPHABET,
    new_credential,
    new_enrolment_code,
    normalize_code,
    secret_hash,
    version_digest,
)
from fleet.publishing import PublishingQueries, Targets
from fleet.schema import connect, migrate
from fleet.upkeep import UpkeepQueries

_LOGGER = logging.getLogger(__name__)

CODE_TTL = timedelta(hours=24)
SITE_NAME_MAX = 64


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_site(name: str) -> str:
    ok = 0 < len(name) <= SITE_NAME_MAX and name[0].isalnum() and all(ch.isalnum() or ch in "._-" for ch in name)
    if not ok:
        raise FleetInputError(
            f"site name {name!r} is not valid", hint=f"use 1-{SITE_NAME_MAX} letters, digits, '.', '_' or '-'"
        )
    return name


MAX_DOCUMENTS = 500
MAX_DOCUMENT_CHARS = 2_000_000
_DOCUMENT_KEYS = {"id", "title", "body", "language"}


def check_documents(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents of a knowledge version, each ``{id, title, body, language}``: ids unique, bodies not empty."""
    if len(documents) > MAX_DOCUMENTS:
        raise FleetInputError(f"{len(documents)} documents; at most {MAX_DOCUMENTS} in one version")
    seen: set[str] = set()
    out = []
    for n, doc in enumerate(documents, 1):
        if not isinstance(doc, dict) or set(doc) - _DOCUMENT_KEYS or not {"id", "body"} <= set(doc):
            raise FleetInputError(f"document {n} is malformed", hint=f"keys: {', '.join(sorted(_DOCUMENT_KEYS))}")
        doc_id, body = doc["id"], doc["body"]
        if not isinstance(doc_id, str) or not doc_id.strip() or not isinstance(body, str) or not body.strip():
            raise FleetInputError(f"document {n} needs an id and a body", code="fleet-document-invalid")
        if len(body) > MAX_DOCUMENT_CHARS or "\x00" in body:
            raise FleetInputError(
                f"document {doc_id!r} is too long or holds NUL characters", code="fleet-document-invalid"
            )
        if doc_id in seen:
            raise FleetInputError(f"document id {doc_id!r} appears twice", code="fleet-document-invalid")
        seen.add(doc_id)
        out.append(
            {
                "id": doc_id,
                "title": str(doc.get("title") or doc_id),
                "body": body,
                "language": str(doc.get("language") or "en"),
            }
        )
    return out


@dataclass(frozen=True)
class KioskIdentity:
    id: str
    site: str
    revoked: bool


class FleetStore(PublishingQueries, GroupQueries, UpkeepQueries):
    """The server's one way into PostgreSQL (a connection pool; migrated on open).

    Publishing settings and avatar packs, targets and roll-back live in :mod:`fleet.publishing`; groups of
    sites in :mod:`fleet.groups`; retention and silence alerts in :mod:`fleet.upkeep`.
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, migrate_schema: bool = True) -> None:
        if migrate_schema:
            migrate(url)
        else:
            connect(url).close()  # a clear error now rather than a pool timeout later
        # checked as it leaves the pool (one empty query): after a PostgreSQL restart every pooled connection
        # is dead, and without the check each would fail one request with a 503 (bench/fleet.py --faults)
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": False},
            check=ConnectionPool.check_connection,
        )

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def tx(self) -> Iterator[psycopg.Connection]:
        """One connection, one transaction: committed on success, rolled back on any exception."""
        try:
            with self.pool.connection(timeout=15) as conn:
                conn.row_factory = dict_row
                yield conn
        except PoolTimeout as exc:
            raise FleetDatabaseError("the fleet database did not answer in time", hint="is PostgreSQL up?") from exc
        except psycopg.OperationalError as exc:
            raise FleetDatabaseError(f"fleet database error: {exc}", hint="is PostgreSQL up?") from exc

    # -- audit ------------------------------------------------------------
    @staticmethod
    def _audit(conn: psycopg.Connection, actor: str, action: str, target: str = "", detail: str = "") -> None:
        conn.execute(
            "INSERT INTO audit (actor, action, target, detail) VALUES (%s, %s, %s, %s)", [actor, action, target, detail]
        )

    def audit_entries(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.tx() as conn:
            rows = conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT %s", [limit]).fetchall()
        return [{**r, "ts": iso(r["ts"])} for r in rows]

    # -- sites ------------------------------------------------------------
    def sites(self) -> list[str]:
        with self.tx() as conn:
            return [r["name"] for r in conn.execute("SELECT name FROM sites ORDER BY name").fetchall()]

    def require_site(self, conn: psycopg.Connection, site: str) -> None:
        if conn.execute("SELECT 1 FROM sites WHERE name = %s", [site]).fetchone() is None:
            known = [r["name"] for r in conn.execute("SELECT name FROM sites ORDER BY name").fetchall()]
            raise FleetInputError(
                f"no site named {site!r}",
                code="fleet-site-unknown",
                hint=f"known: {', '.join(known) or 'none yet'}; `kiosk fleet enrol-code --site {site}` creates it",
            )

    # -- enrolment --------------------------------------------------------
    def create_enrolment_code(self, site: str, *, actor: str = "cli", ttl: timedelta = CODE_TTL) -> str:
        check_site(site)
        code = new_enrolment_code()
        with self.tx() as conn:
            conn.execute("INSERT INTO sites (name) VALUES (%s) ON CONFLICT DO NOTHING", [site])
            conn.execute(
                "INSERT INTO enrolment_codes (code_hash, site, created_by, expires_at) VALUES (%s, %s, %s, %s)",
                [secret_hash(normalize_code(code)), site, actor, datetime.now(UTC) + ttl],
            )
            self._audit(conn, actor, "enrol-code", site, f"expires in {ttl}")
        return code

    def join(self, code: str, *, software_version: str = "", ip: str = "") -> tuple[str, str, str]:
        """Spend a one-time code: a new kiosk id and credential (only its hash is kept). Raises when refused."""
        with self.tx() as conn:
            row = conn.execute(
                "SELECT site, expires_at, used_at FROM enrolment_codes WHERE code_hash = %s FOR UPDATE",
                [secret_hash(normalize_code(code))],
            ).fetchone()
            if row is None:
                raise EnrolmentError(
                    "unknown enrolment code", hint="check the code, or make a new one with `kiosk fleet enrol-code`"
                )
            if row["used_at"] is not None:
                raise EnrolmentError(
                    "this enrolment code was already used",
                    code="fleet-code-used",
                    hint="each code joins one kiosk once: make a new one with `kiosk fleet enrol-code`",
                )
            if row["expires_at"] <= datetime.now(UTC):
                raise EnrolmentError(
                    "this enrolment code has expired",
                    code="fleet-code-expired",
                    hint="make a new one with `kiosk fleet enrol-code`",
                )
            site = row["site"]
            suffix = "".join(secrets.choice(CODE_ALPHABET.lower()) for _ in range(8))
            kiosk_id = f"{site}-{suffix}"
            credential = new_credential(kiosk_id)
            conn.execute(
                "INSERT INTO kiosks (id, site, credential_hash, software_version) VALUES (%s, %s, %s, %s)",
                [kiosk_id, site, secret_hash(credential), software_version[:80]],
            )
            conn.execute(
                "UPDATE enrolment_codes SET used_at = now(), kiosk_id = %s WHERE code_hash = %s",
                [kiosk_id, secret_hash(normalize_code(code))],
            )
            self._audit(conn, kiosk_id, "join", site, ip)
        return kiosk_id, site, credential

    # -- kiosks -----------------------------------------------------------
    def kiosk_by_credential(self, credential: str) -> KioskIdentity | None:
        with self.tx() as conn:
            row = conn.execute(
                "SELECT id, site, revoked FROM kiosks WHERE credential_hash = %s", [secret_hash(credential)]
            ).fetchone()
        return None if row is None else KioskIdentity(row["id"], row["site"], row["revoked"])

    def revoke(self, kiosk_id: str, *, actor: str = "cli") -> None:
        with self.tx() as conn:
            if conn.execute("UPDATE kiosks SET revoked = true WHERE id = %s", [kiosk_id]).rowcount == 0:
                raise FleetInputError(
                    f"no kiosk {kiosk_id!r}", code="fleet-kiosk-unknown", hint="`kiosk fleet kiosks` lists them"
                )
            self._audit(conn, actor, "revoke", kiosk_id)

    def heartbeat(
        self, credential: str, report: dict[str, Any]
    ) -> tuple[KioskIdentity | None, dict[str, dict[str, Any]]]:
        """Record what the kiosk reports, in one round trip with its authentication; answer its target.

        Returns the kiosk (``None``: unknown credential; ``revoked``: nothing recorded) and the newest
        version of each knowledge base published for its site (:meth:`heartbeat_targets` adds settings
        and avatar packs).
        """
        kiosk, targets = self.heartbeat_targets(credential, report)
        return kiosk, targets.kb

    def heartbeat_targets(self, credential: str, report: dict[str, Any]) -> tuple[KioskIdentity | None, Targets]:
        """As :meth:`heartbeat`, answering every target: knowledge bases, settings and avatar packs."""
        with self.tx() as conn:
            conn.execute("SET LOCAL synchronous_commit = off")  # a heartbeat lost in a crash is harmless
            row = conn.execute(
                """UPDATE kiosks SET state = %s, kb_versions = %s, software_version = %s, last_error = %s,
                       health = %s, settings_version = %s, avatar_versions = %s, last_seen = now()
                   WHERE credential_hash = %s AND NOT revoked
                   RETURNING id, site""",
                [
                    report["state"],
                    Jsonb(report["kb_versions"]),
                    report["software_version"],
                    report["last_error"],
                    Jsonb(report["health"]),
                    int(report.get("settings_version") or 0),
                    Jsonb(report.get("avatar_versions") or {}),
                    secret_hash(credential),
                ],
            ).fetchone()
            if row is None:
                found = conn.execute(
                    "SELECT id, site, revoked FROM kiosks WHERE credential_hash = %s", [secret_hash(credential)]
                ).fetchone()
                return (None if found is None else KioskIdentity(found["id"], found["site"], True)), Targets()
            return KioskIdentity(row["id"], row["site"], False), self._targets(conn, row["site"])

    def target(self, site: str) -> dict[str, dict[str, Any]]:
        with self.tx() as conn:
            return self._targets(conn, site).kb

    def kiosks(self, site: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE site = %s", [site]) if site else ("", [])
        with self.tx() as conn:
            rows = conn.execute(
                f"""SELECT id, site, state, revoked, kb_versions, settings_version, avatar_versions,
                       software_version, last_error, health, joined_at, last_seen FROM kiosks {where}
                   ORDER BY site, id""",
                params,
            ).fetchall()
        return [{**r, "joined_at": iso(r["joined_at"]), "last_seen": iso(r["last_seen"])} for r in rows]

    # -- knowledge --------------------------------------------------------
    def publish(
        self,
        kb: str,
        entries: list[dict[str, Any]],
        *,
        site: str | None,
        group: str | None = None,
        title: str = "",
        source: str = "",
        actor: str = "cli",
        documents: list[dict[str, Any]] | None = None,
        rollback_of: int | None = None,
    ) -> int:
        """Store ``entries`` and ``documents`` (``{id, title, body, language}``) as the next version of ``kb`` for
        ``site`` or ``group`` (neither: every site); returns it. The version is the whole knowledge base: a kiosk answers from
        these entries and documents only. ``documents`` None keeps those of the newest version for the same target
        (publishing new entries does not drop the documents); ``[]`` publishes none."""
        if documents is not None:
            documents = check_documents(documents)
        with self.tx() as conn:
            self.check_target(conn, site, group)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"kb:{kb}"])
            if documents is None:
                documents = self._last_documents(conn, kb, site, group)
            if not entries and not documents:
                raise FleetInputError("nothing to publish: no entries and no documents", hint="check the file")
            digest = version_digest(entries, documents)
            row = conn.execute("SELECT COALESCE(MAX(version), 0) + 1 AS v FROM kb_versions WHERE kb = %s", [kb])
            version = int(row.fetchone()["v"])
            conn.execute(
                """INSERT INTO kb_versions (kb, version, title, site, site_group, entries, entry_count, documents,
                       document_count, sha256, source, rollback_of, published_by)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [
                    kb,
                    version,
                    title or kb,
                    site,
                    group,
                    Jsonb(entries),
                    len(entries),
                    Jsonb(documents),
                    len(documents),
                    digest,
                    source,
                    rollback_of,
                    actor,
                ],
            )
            what = f"{len(entries)} entries, {len(documents)} documents"
            if rollback_of:
                what = f"rollback to v{rollback_of}: {what}"
            self._audit(conn, actor, "publish", f"{kb} v{version}", f"{what} for {target_label(site, group)}")
        return version

    @staticmethod
    def _last_documents(conn: psycopg.Connection, kb: str, site: str | None, group: str | None) -> list[dict[str, Any]]:
        row = conn.execute(
            """SELECT documents FROM kb_versions WHERE kb = %s AND site IS NOT DISTINCT FROM %s
                   AND site_group IS NOT DISTINCT FROM %s
               ORDER BY version DESC LIMIT 1""",
            [kb, site, group],
        ).fetchone()
        return list(row["documents"]) if row else []

    def kb_payload(self, kb: str, version: int) -> dict[str, Any] | None:
        """A published version with its target ``site`` or ``site_group`` (both ``None``: every site)."""
        with self.tx() as conn:
            row = conn.execute(
                """SELECT kb, version, title, site, site_group, sha256, entries, documents FROM kb_versions
                   WHERE kb = %s AND version = %s""",
                [kb, version],
            ).fetchone()
        return dict(row) if row else None

    def versions(self, kb: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE kb = %s", [kb]) if kb else ("", [])
        with self.tx() as conn:
            rows = conn.execute(
                f"""SELECT kb, version, title, site, site_group, entry_count, document_count, sha256, source,
                        rollback_of, published_by, published_at FROM kb_versions {where} ORDER BY kb, version DESC""",
                params,
            ).fetchall()
        return [{**r, "published_at": iso(r["published_at"])} for r in rows]

    # -- turns ------------------------------------------------------------
    def store_turns(self, kiosk: KioskIdentity, turns: list[dict[str, Any]]) -> tuple[list[int], int]:
        """Insert a batch; a turn already stored (same kiosk, id and time) is skipped. Returns (acked ids, stored)."""
        if not turns:
            return [], 0
        columns: dict[str, list[Any]] = {k: [] for k in ("id", "ts", "kb", "text", "answer", "mode", "faq_id")}
        for turn in turns:
            for key, values in columns.items():
                values.append(turn[key])
        with self.tx() as conn:
            cursor = conn.execute(
                """INSERT INTO turns (kiosk_id, turn_id, ts, site, kb, text, answer, mode, faq_id)
                   SELECT %s, t.id, t.ts, %s, t.kb, t.text, t.answer, t.mode, t.faq_id
                   FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],
                               %s::text[]) AS t(id, ts, kb, text, answer, mode, faq_id)
                   ON CONFLICT DO NOTHING""",
                [kiosk.id, kiosk.site, *columns.values()],
            )
            stored = cursor.rowcount
            pause_point("turns-inserted")
        pause_point("turns-committed")
        return [t["id"] for t in turns], stored

    def turns(
        self,
        *,
        since: datetime | None = None,
        site: str | None = None,
        kiosk: str | None = None,
        limit: int = 0,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Turns in time order (``newest_first``: the latest ``limit`` ones first)."""
        clauses, params = [], []
        for column, op, value in (("ts", ">=", since), ("site", "=", site), ("kiosk_id", "=", kiosk)):
            if value is not None:
                clauses.append(f"{column} {op} %s")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        tail = ""
        if limit:
            tail = "LIMIT %s"
            params.append(limit)
        with self.tx() as conn:
            rows = conn.execute(
                f"""SELECT kiosk_id AS kiosk, site, turn_id, ts, kb, text, answer, mode, faq_id FROM turns {where}
                    ORDER BY ts {"DESC" if newest_first else "ASC"}, kiosk_id, turn_id {tail}""",
                params,
            ).fetchall()
        return [{**r, "ts": iso(r["ts"])} for r in rows]

    def iter_turns(
        self, *, since: datetime | None = None, site: str | None = None, kiosk: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every matching turn in time order, streamed from a server-side cursor (any number of them)."""
        clauses, params = ["TRUE"], []
        for column, op, value in (("ts", ">=", since), ("site", "=", site), ("kiosk_id", "=", kiosk)):
            if value is not None:
                clauses.append(f"{column} {op} %s")
                params.append(value)
        with self.tx() as conn, conn.cursor(name="fleet_turns_export") as cursor:
            cursor.itersize = 2000
            cursor.execute(
                f"""SELECT kiosk_id AS kiosk, site, turn_id, ts, kb, text, answer, mode, faq_id FROM turns
                    WHERE {" AND ".join(clauses)} ORDER BY ts, kiosk_id, turn_id""",
                params,
            )
            for row in cursor:
                yield {**row, "ts": iso(row["ts"])}

    def turn_count(self) -> int:
        with self.tx() as conn:
            return int(conn.execute("SELECT COUNT(*) AS n FROM turns").fetchone()["n"])
