"""Named groups of sites (a metro's "Line 2" = its stations, a bank's "North region"), a part of FleetStore.

A version is published for one site, for one group or for every site. A kiosk's target, per knowledge base,
per avatar pack and for its settings, is the **newest** version among those published for its site, for any
group its site belongs to, or for all: the same rule as between a site and all before groups existed, so
publishing is always "this becomes what they run now", whatever its reach. Group membership is read when the
kiosk asks, so changing a group moves its kiosks at their next sync. The kiosk protocol is unchanged: a kiosk
only ever sees the versions it should run.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fleet.errors import FleetInputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    import psycopg

GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_GROUP_SITES = 1000

# the SQL condition "this version is for the kiosk of site %(site)s" (all, its site, or a group holding it)
FOR_SITE = """((site IS NULL AND site_group IS NULL) OR site = %(site)s
    OR site_group IN (SELECT m.site_group FROM site_group_members m WHERE m.site = %(site)s))"""


def check_group_name(name: str) -> str:
    if not GROUP_NAME.fullmatch(name):
        raise FleetInputError(
            f"group name {name!r} is not valid",
            code="fleet-group-invalid",
            hint="use 1-64 letters, digits, '.', '_' or '-' (e.g. line-2, north-region)",
        )
    return name


def target_label(site: str | None, group: str | None) -> str:
    """How the audit, the CLI and the pages name a target."""
    return f"site {site}" if site else f"group {group}" if group else "all sites"


class GroupQueries:
    """Mixed into :class:`fleet.store.FleetStore` (which provides ``tx``, ``_audit`` and ``require_site``)."""

    tx: Callable[[], AbstractContextManager[psycopg.Connection]]
    _audit: Callable[..., None]
    require_site: Callable[[psycopg.Connection, str], None]

    def set_group(self, name: str, sites: list[str], *, actor: str = "cli") -> list[str]:
        """Create group ``name`` with exactly ``sites``, or replace its sites; returns them, sorted."""
        check_group_name(name)
        members = sorted({s.strip() for s in sites if s.strip()})
        if not members:
            raise FleetInputError(f"group {name!r} needs at least one site", code="fleet-group-invalid")
        if len(members) > MAX_GROUP_SITES:
            raise FleetInputError(f"{len(members)} sites; a group holds at most {MAX_GROUP_SITES}")
        with self.tx() as conn:
            for site in members:
                self.require_site(conn, site)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"group:{name}"])
            before = self._members(conn, name)
            conn.execute(
                """INSERT INTO site_groups (name, updated_by) VALUES (%s, %s)
                   ON CONFLICT (name) DO UPDATE SET updated_by = excluded.updated_by, updated_at = now()""",
                [name, actor],
            )
            conn.execute("DELETE FROM site_group_members WHERE site_group = %s", [name])
            conn.execute(
                "INSERT INTO site_group_members (site_group, site) SELECT %s, unnest(%s::text[])", [name, members]
            )
            was = f" (was: {', '.join(before)})" if before else " (new)"
            self._audit(conn, actor, "group", name, f"sites: {', '.join(members)}{was}")
        return members

    @staticmethod
    def _members(conn: psycopg.Connection, name: str) -> list[str]:
        rows = conn.execute(
            "SELECT site FROM site_group_members WHERE site_group = %s ORDER BY site", [name]
        ).fetchall()
        return [r["site"] for r in rows]

    def require_group(self, conn: psycopg.Connection, name: str) -> list[str]:
        """The sites of group ``name``; a clear error when there is no such group."""
        if conn.execute("SELECT 1 FROM site_groups WHERE name = %s", [name]).fetchone() is None:
            known = [r["name"] for r in conn.execute("SELECT name FROM site_groups ORDER BY name").fetchall()]
            raise FleetInputError(
                f"no group named {name!r}",
                code="fleet-group-unknown",
                hint=f"known: {', '.join(known) or 'none yet'}; `kiosk fleet group {name} --sites A,B` creates it",
            )
        return self._members(conn, name)

    def group_sites(self, name: str) -> list[str]:
        with self.tx() as conn:
            return self.require_group(conn, name)

    def groups(self) -> list[dict[str, Any]]:
        """Every group: ``name``, ``sites``, ``updated_by``, ``updated_at``."""
        from fleet.store import iso

        with self.tx() as conn:
            rows = conn.execute(
                """SELECT g.name, g.updated_by, g.updated_at,
                          COALESCE(array_agg(m.site ORDER BY m.site) FILTER (WHERE m.site IS NOT NULL), '{}') AS sites
                   FROM site_groups g LEFT JOIN site_group_members m ON m.site_group = g.name
                   GROUP BY g.name ORDER BY g.name"""
            ).fetchall()
        return [{**r, "sites": list(r["sites"]), "updated_at": iso(r["updated_at"])} for r in rows]

    def groups_of(self, site: str) -> list[str]:
        """The groups site ``site`` belongs to."""
        with self.tx() as conn:
            rows = conn.execute(
                "SELECT site_group FROM site_group_members WHERE site = %s ORDER BY site_group", [site]
            ).fetchall()
        return [r["site_group"] for r in rows]

    def check_target(self, conn: psycopg.Connection, site: str | None, group: str | None) -> None:
        """A publishing target exists: one site, one group, or neither (every site)."""
        if site is not None and group is not None:
            raise FleetInputError("publish for a site or for a group, not both", code="fleet-target-invalid")
        if site is not None:
            self.require_site(conn, site)
        if group is not None:
            self.require_group(conn, group)

    def delivers_to(self, kiosk_site: str, site: str | None, group: str | None) -> bool:
        """Whether a version published for ``site``/``group`` is for a kiosk of ``kiosk_site`` (downloads)."""
        if site is not None:
            return site == kiosk_site
        if group is None:
            return True
        with self.tx() as conn:
            row = conn.execute(
                "SELECT 1 FROM site_group_members WHERE site_group = %s AND site = %s", [group, kiosk_site]
            ).fetchone()
        return row is not None
