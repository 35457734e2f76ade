"""The server's upkeep in PostgreSQL: turn retention and silence alerts (a part of FleetStore).

Both are safe with several server processes on one database: retention runs at most once per interval
whoever asks (an advisory lock and the time of the last run in ``server_settings``), an alert is raised
once per silent kiosk (a unique index on open alerts) and each webhook delivery is claimed by one
process for a while (``FOR UPDATE SKIP LOCKED`` and a lease), so a kiosk's silence is announced once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from fleet.errors import FleetInputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

_LOGGER = logging.getLogger(__name__)

RETENTION_LOCK = 0x6B696F736C  # pg advisory lock keys, beside schema.MIGRATION_LOCK
ALERTS_LOCK = 0x6B696F736D
PURGE_BATCH = 20_000
NOTIFY_LEASE = timedelta(seconds=60)
MAX_RETENTION_DAYS = 36500


def _iso(moment: datetime | None) -> str | None:
    from fleet.store import iso

    return iso(moment)


class UpkeepQueries:
    """Mixed into :class:`fleet.store.FleetStore` (which provides ``tx`` and ``_audit``)."""

    tx: Callable[[], AbstractContextManager[psycopg.Connection]]
    _audit: Callable[..., None]

    # -- server settings ----------------------------------------------------
    def server_setting(self, key: str, default: Any = None) -> Any:
        with self.tx() as conn:
            row = conn.execute("SELECT value FROM server_settings WHERE key = %s", [key]).fetchone()
        return default if row is None else row["value"]

    @staticmethod
    def _put_setting(conn: psycopg.Connection, key: str, value: Any) -> None:
        conn.execute(
            """INSERT INTO server_settings (key, value) VALUES (%s, %s)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()""",
            [key, Jsonb(value)],
        )

    # -- retention ----------------------------------------------------------
    def purge_turns(self, retention_days: int, *, actor: str = "retention", now: datetime | None = None) -> int:
        """Delete turns whose time is more than ``retention_days`` ago (in batches); one audit row. Returns how many."""
        if not 1 <= retention_days <= MAX_RETENTION_DAYS:
            raise FleetInputError(
                f"retention of {retention_days} days is out of range",
                code="fleet-retention-invalid",
                hint=f"1 to {MAX_RETENTION_DAYS} days (0 on `kiosk fleet serve` keeps turns for ever)",
            )
        cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
        deleted = 0
        while True:
            with self.tx() as conn:
                count = conn.execute(
                    """DELETE FROM turns WHERE ctid IN (SELECT ctid FROM turns WHERE ts < %s LIMIT %s)""",
                    [cutoff, PURGE_BATCH],
                ).rowcount
            deleted += count
            if count < PURGE_BATCH:
                break
        with self.tx() as conn:
            self._put_setting(conn, "retention_last_run", {"at": _iso(now or datetime.now(UTC)), "deleted": deleted})
            self._audit(conn, actor, "purge-turns", f"older than {retention_days} days", f"{deleted} turns deleted")
        _LOGGER.info("fleet retention: %d turns older than %d days deleted", deleted, retention_days)
        return deleted

    def purge_turns_if_due(self, retention_days: int, every: timedelta, *, now: datetime | None = None) -> int | None:
        """Run :meth:`purge_turns` unless some server process did within ``every``; ``None`` when not due."""
        now = now or datetime.now(UTC)
        with self.tx() as conn:
            if not conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", [RETENTION_LOCK]).fetchone()["ok"]:
                return None
            row = conn.execute("SELECT value FROM server_settings WHERE key = 'retention_last_run'").fetchone()
            last = datetime.fromisoformat(row["value"]["at"].replace("Z", "+00:00")) if row else None
            if last is not None and now - last < every:
                return None
            self._put_setting(conn, "retention_last_run", {"at": _iso(now), "deleted": None})  # claims this run
        return self.purge_turns(retention_days, now=now)

    # -- silence alerts -----------------------------------------------------
    def check_silence(self, silent_after: timedelta, *, notify: bool = False) -> tuple[int, int]:
        """Raise an alert for each kiosk not heard from for ``silent_after`` (revoked ones excepted) and clear those
        of kiosks that are back. ``notify``: new alerts wait for the webhook. Returns (raised, cleared)."""
        with self.tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [ALERTS_LOCK])
            raised = conn.execute(
                """INSERT INTO alerts (kiosk_id, site, kind, last_seen, notify_state, notify_after)
                   SELECT k.id, k.site, 'silent', k.last_seen, %s, now() FROM kiosks k
                   WHERE NOT k.revoked AND COALESCE(k.last_seen, k.joined_at) < now() - %s
                     AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.kiosk_id = k.id AND a.kind = 'silent'
                                     AND a.cleared_at IS NULL)""",
                ["pending" if notify else "none", silent_after],
            ).rowcount
            cleared = conn.execute(
                """UPDATE alerts a SET cleared_at = now(),
                       notify_state = CASE WHEN a.notify_state = 'pending' THEN 'none' ELSE a.notify_state END
                   FROM kiosks k WHERE a.kiosk_id = k.id AND a.kind = 'silent' AND a.cleared_at IS NULL
                     AND (k.revoked OR COALESCE(k.last_seen, k.joined_at) >= now() - %s)""",
                [silent_after],
            ).rowcount
            if raised or cleared:
                self._audit(conn, "alerts", "silence-check", "", f"{raised} raised, {cleared} cleared")
        return raised, cleared

    def alerts(self, *, open_only: bool = True, site: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Alerts, newest first: ``id, kiosk_id, site, kind, last_seen, raised_at, cleared_at, notify_state``."""
        clauses, params = ["TRUE"], []
        if open_only:
            clauses.append("cleared_at IS NULL")
        if site:
            clauses.append("site = %s")
            params.append(site)
        with self.tx() as conn:
            rows = conn.execute(
                f"""SELECT id, kiosk_id, site, kind, last_seen, raised_at, cleared_at, notify_state, notify_attempts,
                        notify_error FROM alerts WHERE {" AND ".join(clauses)} ORDER BY raised_at DESC, id DESC
                    LIMIT %s""",
                [*params, limit],
            ).fetchall()
        return [
            {
                **r,
                "last_seen": _iso(r["last_seen"]),
                "raised_at": _iso(r["raised_at"]),
                "cleared_at": _iso(r["cleared_at"]),
            }
            for r in rows
        ]

    def claim_notifications(self, limit: int = 20) -> list[dict[str, Any]]:
        """Pending webhook deliveries that are due, each leased to this process for a while."""
        with self.tx() as conn:
            rows = conn.execute(
                """UPDATE alerts SET notify_after = now() + %s, notify_attempts = notify_attempts + 1
                   WHERE id IN (SELECT id FROM alerts WHERE notify_state = 'pending' AND notify_after <= now()
                                ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
                   RETURNING id, kiosk_id, site, kind, last_seen, raised_at, notify_attempts""",
                [NOTIFY_LEASE, limit],
            ).fetchall()
        return [{**r, "last_seen": _iso(r["last_seen"]), "raised_at": _iso(r["raised_at"])} for r in rows]

    def notification_done(self, alert_id: int, *, ok: bool, error: str = "", retry_in: timedelta | None = None) -> None:
        """Record a delivery: sent, to be retried after ``retry_in``, or given up (``retry_in`` None)."""
        state = "sent" if ok else ("pending" if retry_in is not None else "failed")
        with self.tx() as conn:
            conn.execute(
                """UPDATE alerts SET notify_state = %s, notify_error = %s, notify_after = now() + %s
                   WHERE id = %s AND notify_state = 'pending'""",
                [state, error[:500], retry_in or timedelta(0), alert_id],
            )
            if not ok and retry_in is None:
                self._audit(conn, "alerts", "webhook-failed", str(alert_id), error[:500])
