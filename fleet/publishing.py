"""Settings and avatar packs published like knowledge, every kiosk's target, and roll-back (a part of FleetStore).

Each kind is a numbered series of immutable versions, each for one site, one group of sites (``site_group``)
or every site (both NULL). A kiosk's target is, per knowledge base, per avatar pack and for its settings, the
newest version published for its site, for a group holding its site, or for all (:mod:`fleet.groups`). Rolling back publishes the content of an earlier version again as
the newest, so kiosks simply move forward and the history stays whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from fleet.central_settings import check_central, settings_digest
from fleet.errors import DownloadInvalidError, FleetInputError
from fleet.groups import FOR_SITE, target_label
from fleet.packs import archive_digest, check_pack_name, verify_archive

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

_LOGGER = logging.getLogger(__name__)

KINDS = ("kb", "settings", "avatar")


@dataclass(frozen=True)
class Targets:
    """What one kiosk should run: knowledge bases, its settings version (or none) and avatar packs."""

    kb: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] | None = None
    avatars: dict[str, dict[str, Any]] = field(default_factory=dict)


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    from fleet.store import iso

    return {**row, "published_at": iso(row["published_at"])}


class PublishingQueries:
    """Mixed into :class:`fleet.store.FleetStore` (which provides ``tx``, ``_audit`` and ``check_target``)."""

    tx: Callable[[], AbstractContextManager[psycopg.Connection]]
    _audit: Callable[..., None]
    check_target: Callable[[psycopg.Connection, str | None, str | None], None]

    # -- targets ------------------------------------------------------------
    @staticmethod
    def _targets(conn: psycopg.Connection, site: str) -> Targets:
        params = {"site": site}
        kb = conn.execute(
            f"""SELECT DISTINCT ON (kb) kb, version, sha256 FROM kb_versions
                WHERE {FOR_SITE} ORDER BY kb, version DESC""",
            params,
        ).fetchall()
        settings = conn.execute(
            f"""SELECT version, sha256 FROM settings_versions WHERE {FOR_SITE}
                ORDER BY version DESC LIMIT 1""",
            params,
        ).fetchone()
        avatars = conn.execute(
            f"""SELECT DISTINCT ON (name) name, version, sha256, size FROM avatar_versions
                WHERE {FOR_SITE} ORDER BY name, version DESC""",
            params,
        ).fetchall()
        return Targets(
            kb={r["kb"]: {"version": r["version"], "sha256": r["sha256"]} for r in kb},
            settings=None if settings is None else {"version": settings["version"], "sha256": settings["sha256"]},
            avatars={r["name"]: {"version": r["version"], "sha256": r["sha256"], "size": r["size"]} for r in avatars},
        )

    def targets(self, site: str) -> Targets:
        with self.tx() as conn:
            return self._targets(conn, site)

    # -- settings -----------------------------------------------------------
    def publish_settings(
        self,
        settings: dict[str, Any],
        *,
        site: str | None,
        group: str | None = None,
        source: str = "",
        actor: str = "cli",
        rollback_of: int | None = None,
    ) -> int:
        """Check ``settings`` (``{section: {key: value}}``, only centrally publishable keys) and store the next
        settings version for ``site`` or ``group`` (neither: every site); returns it. Refused whole: nothing stored."""
        values = check_central(settings, source or "settings")
        digest = settings_digest(values)
        with self.tx() as conn:
            self.check_target(conn, site, group)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('settings'))")
            row = conn.execute("SELECT COALESCE(MAX(version), 0) + 1 AS v FROM settings_versions").fetchone()
            version = int(row["v"])
            conn.execute(
                """INSERT INTO settings_versions (version, site, site_group, settings, sha256, source, rollback_of,
                       published_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                [version, site, group, Jsonb(values), digest, source, rollback_of, actor],
            )
            keys = sum(len(body) for body in values.values())
            what = f"rollback to v{rollback_of}" if rollback_of else f"{keys} keys"
            self._audit(
                conn, actor, "publish-settings", f"settings v{version}", f"{what} for {target_label(site, group)}"
            )
        return version

    def settings_payload(self, version: int) -> dict[str, Any] | None:
        with self.tx() as conn:
            row = conn.execute(
                "SELECT version, site, site_group, sha256, settings FROM settings_versions WHERE version = %s",
                [version],
            ).fetchone()
        return dict(row) if row else None

    def settings_versions(self) -> list[dict[str, Any]]:
        with self.tx() as conn:
            rows = conn.execute(
                """SELECT version, site, site_group, settings, sha256, source, rollback_of, published_by,
                       published_at FROM settings_versions ORDER BY version DESC"""
            ).fetchall()
        return [_iso(r) for r in rows]

    # -- avatar packs -------------------------------------------------------
    def publish_avatar(
        self,
        name: str,
        archive: bytes,
        *,
        site: str | None,
        group: str | None = None,
        source: str = "",
        actor: str = "cli",
        rollback_of: int | None = None,
    ) -> int:
        """Check ``archive`` (a .tar.gz of the pack folder: members, size, a manifest naming ``name``) and store it
        as the next version of avatar pack ``name`` for ``site`` or ``group`` (neither: every site); the version."""
        check_pack_name(name)
        digest = archive_digest(archive)
        try:
            verify_archive(archive, name=name, expected_sha256=digest)
        except DownloadInvalidError as exc:
            raise FleetInputError(exc.message, code="fleet-avatar-invalid", hint="nothing was published") from exc
        with self.tx() as conn:
            self.check_target(conn, site, group)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"avatar:{name}"])
            row = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 AS v FROM avatar_versions WHERE name = %s", [name]
            ).fetchone()
            version = int(row["v"])
            conn.execute(
                """INSERT INTO avatar_versions (name, version, site, site_group, archive, size, sha256, source,
                       rollback_of, published_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [name, version, site, group, archive, len(archive), digest, source, rollback_of, actor],
            )
            what = f"rollback to v{rollback_of}" if rollback_of else f"{len(archive)} bytes"
            self._audit(conn, actor, "publish-avatar", f"{name} v{version}", f"{what} for {target_label(site, group)}")
        return version

    def avatar_payload(self, name: str, version: int) -> dict[str, Any] | None:
        """A published pack: ``name``, ``version``, ``site``, ``sha256``, ``size`` and the ``archive`` bytes."""
        with self.tx() as conn:
            row = conn.execute(
                """SELECT name, version, site, site_group, sha256, size, archive FROM avatar_versions
                   WHERE name = %s AND version = %s""",
                [name, version],
            ).fetchone()
        return None if row is None else {**row, "archive": bytes(row["archive"])}

    def avatar_versions(self, name: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE name = %s", [name]) if name else ("", [])
        with self.tx() as conn:
            rows = conn.execute(
                f"""SELECT name, version, site, site_group, size, sha256, source, rollback_of, published_by,
                        published_at FROM avatar_versions {where} ORDER BY name, version DESC""",
                params,
            ).fetchall()
        return [_iso(r) for r in rows]

    # -- roll back ----------------------------------------------------------
    def rollback(
        self, kind: str, name: str, to_version: int, *, site: str | None, group: str | None = None, actor: str = "cli"
    ) -> int:
        """Publish the content of ``name``'s version ``to_version`` again as its newest version, for ``site`` or
        ``group`` (neither: every site); returns the new version. ``kind``: ``kb``, ``settings`` (``name`` ignored) or
        ``avatar``."""
        if kind not in KINDS:
            raise FleetInputError(f"cannot roll back {kind!r}", hint=f"one of: {', '.join(KINDS)}")
        with self.tx() as conn:
            if kind == "kb":
                row = conn.execute(
                    "SELECT title, entries, documents FROM kb_versions WHERE kb = %s AND version = %s",
                    [name, to_version],
                ).fetchone()
            elif kind == "settings":
                row = conn.execute("SELECT settings FROM settings_versions WHERE version = %s", [to_version]).fetchone()
            else:
                row = conn.execute(
                    "SELECT archive FROM avatar_versions WHERE name = %s AND version = %s", [name, to_version]
                ).fetchone()
        if row is None:
            label = "settings" if kind == "settings" else f"{kind} {name!r}"
            raise FleetInputError(
                f"no version {to_version} of {label} to roll back to",
                code="fleet-version-unknown",
                hint="`kiosk fleet versions` lists what was published",
            )
        source = f"rollback to v{to_version}"
        if kind == "kb":
            return self.publish(  # type: ignore[attr-defined]
                name,
                row["entries"],
                documents=row["documents"],
                site=site,
                group=group,
                title=row["title"],
                source=source,
                actor=actor,
                rollback_of=to_version,
            )
        if kind == "settings":
            return self.publish_settings(
                row["settings"], site=site, group=group, source=source, actor=actor, rollback_of=to_version
            )
        return self.publish_avatar(
            name, bytes(row["archive"]), site=site, group=group, source=source, actor=actor, rollback_of=to_version
        )
