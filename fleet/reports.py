"""The fleet pages' read-only queries over stored turns: unanswered questions and analytics per site and kiosk.

Every figure is one SQL aggregate over ``turns`` (indexed by site and time, and by mode and time), so the
pages cost the same for 10 kiosks or 500. Days are UTC calendar days, like the kiosk's analytics page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dialog.policy import MODES
from fleet.store import FleetStore, iso

UNANSWERED_MODES = ("fallback", "clarify")  # the hand-off, and "did you mean ...?"
ANSWERED_MODES = ("faq", "generated", "smalltalk")
PERIODS = (7, 30, 90, 365)
MAX_UNANSWERED = 5000
TOP_ENTRIES = 10


@dataclass(frozen=True)
class Scope:
    """Which turns a page looks at: a period, and optionally one site, one kiosk, one knowledge base."""

    days: int = 30
    site: str | None = None
    kiosk: str | None = None
    kb: str | None = None

    def first_day(self, today: datetime | None = None) -> datetime:
        today = (today or datetime.now(UTC)).astimezone(UTC)
        start = (today - timedelta(days=self.days - 1)).date()
        return datetime(start.year, start.month, start.day, tzinfo=UTC)

    def where(self, today: datetime | None = None) -> tuple[str, list[Any]]:
        clauses, params = ["ts >= %s"], [self.first_day(today)]
        for column, value in (("site", self.site), ("kiosk_id", self.kiosk), ("kb", self.kb)):
            if value:
                clauses.append(f"{column} = %s")
                params.append(value)
        return " AND ".join(clauses), params


def unanswered_turns(store: FleetStore, scope: Scope) -> list[dict[str, Any]]:
    """Hand-off and clarify turns, newest first (the grouping's order), at most :data:`MAX_UNANSWERED`."""
    where, params = scope.where()
    with store.tx() as conn:
        rows = conn.execute(
            f"""SELECT kiosk_id AS kiosk, site, kb, ts, text, mode FROM turns
                WHERE {where} AND mode = ANY(%s) AND text <> '' ORDER BY ts DESC LIMIT %s""",
            [*params, list(UNANSWERED_MODES), MAX_UNANSWERED],
        ).fetchall()
    return [{**r, "ts": iso(r["ts"])} for r in rows]


def analytics(store: FleetStore, scope: Scope, *, today: datetime | None = None) -> dict[str, Any]:
    """Turns per day, the mode mix, answered vs handed off per site and per kiosk, the top entries."""
    where, params = scope.where(today)
    start = scope.first_day(today).date()
    with store.tx() as conn:
        days = {
            r["day"]: r["n"]
            for r in conn.execute(
                f"SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, COUNT(*) AS n FROM turns "
                f"WHERE {where} GROUP BY 1",
                params,
            )
        }
        modes = {
            r["mode"]: r["n"]
            for r in conn.execute(f"SELECT mode, COUNT(*) AS n FROM turns WHERE {where} GROUP BY 1", params)
        }
        split = """COUNT(*) AS total, COUNT(*) FILTER (WHERE mode = ANY(%s)) AS answered,
                   COUNT(*) FILTER (WHERE mode = 'fallback') AS handed_off,
                   COUNT(*) FILTER (WHERE mode = 'clarify') AS clarified, MAX(ts) AS last_turn"""
        per_site = conn.execute(
            f"SELECT site, {split} FROM turns WHERE {where} GROUP BY site ORDER BY site",
            [list(ANSWERED_MODES), *params],
        ).fetchall()
        per_kiosk = conn.execute(
            f"SELECT kiosk_id AS kiosk, site, {split} FROM turns WHERE {where} GROUP BY kiosk_id, site "
            "ORDER BY site, kiosk_id",
            [list(ANSWERED_MODES), *params],
        ).fetchall()
        # each top entry's question, from the newest version of its knowledge base that has it
        top = conn.execute(
            f"""WITH top AS (SELECT kb, faq_id, COUNT(*) AS n FROM turns
                             WHERE {where} AND faq_id IS NOT NULL AND faq_id <> ''
                             GROUP BY kb, faq_id ORDER BY n DESC, kb, faq_id LIMIT %s)
                SELECT top.kb, top.faq_id, top.n, q.question FROM top LEFT JOIN LATERAL (
                    SELECT e->>'question' AS question FROM kb_versions v, jsonb_array_elements(v.entries) e
                    WHERE v.kb = top.kb AND e->>'id' = top.faq_id ORDER BY v.version DESC LIMIT 1
                ) q ON true ORDER BY top.n DESC, top.kb, top.faq_id""",
            [*params, TOP_ENTRIES],
        ).fetchall()
    per_day = [((start + timedelta(days=i)).isoformat(), days.get((start + timedelta(days=i)).isoformat(), 0))
               for i in range(scope.days)]  # fmt: skip
    mode_mix = [(m, modes.get(m, 0)) for m in MODES] + [(m, n) for m, n in sorted(modes.items()) if m not in MODES]
    rows = [{**r, "last_turn": iso(r["last_turn"])} for r in per_kiosk]
    return {
        "since": start.isoformat(),
        "total": sum(modes.values()),
        "answered": sum(modes.get(m, 0) for m in ANSWERED_MODES),
        "handed_off": modes.get("fallback", 0),
        "clarified": modes.get("clarify", 0),
        "per_day": per_day,
        "mode_mix": mode_mix,
        "per_site": [{**r, "last_turn": iso(r["last_turn"])} for r in per_site],
        "per_kiosk": rows,
        "top": [dict(r) for r in top],
    }
