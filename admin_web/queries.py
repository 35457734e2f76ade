"""Read-side SQL over the ``turns`` table: conversation lists, analytics aggregates, retention purge.

Every list is paged in SQL and uses the ``turns_ts`` / ``turns_kb_mode`` indexes,
so the pages stay fast with hundreds of thousands of turns.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from core.db import transaction
from dialog.policy import MODES

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnFilter:
    kb: str = ""
    mode: str = ""
    date_from: str = ""  # YYYY-MM-DD, inclusive
    date_to: str = ""  # YYYY-MM-DD, inclusive
    search: str = ""

    def where(self) -> tuple[str, list]:
        clauses: list[str] = []
        params: list = []
        if self.kb:
            clauses.append("kb = ?")
            params.append(self.kb)
        if self.mode in MODES:
            clauses.append("mode = ?")
            params.append(self.mode)
        if _valid_date(self.date_from):
            clauses.append("ts >= ?")
            params.append(self.date_from)
        if _valid_date(self.date_to):
            clauses.append("ts < ?")
            params.append((datetime.fromisoformat(self.date_to) + timedelta(days=1)).date().isoformat())
        if self.search.strip():
            clauses.append("text LIKE ?")  # what the visitor said (the answer is the entry's own text)
            params.append(f"%{self.search.strip()}%")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _valid_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except (TypeError, ValueError):
        return False
    return True


def _decode(row: dict) -> dict:
    out = dict(row)
    for key, empty in (("candidates", []), ("timings", {})):
        try:
            out[key] = json.loads(row.get(key) or "null") or empty
        except ValueError:
            out[key] = empty
    return out


def list_turns(db: sqlite_utils.Database, flt: TurnFilter, *, limit: int, offset: int) -> tuple[list[dict], int]:
    where, params = flt.where()
    total = db.execute(f"SELECT COUNT(*) FROM turns{where}", params).fetchone()[0]
    rows = db.query(
        f"SELECT id, ts, kb, session_id, source, text, answer, mode, faq_id, score, timings FROM turns{where}"
        " ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [_decode(r) for r in rows], total


def get_turn(db: sqlite_utils.Database, turn_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM turns WHERE id = ?", [turn_id]))
    return _decode(rows[0]) if rows else None


def session_turns(db: sqlite_utils.Database, session_id: str, limit: int = 50) -> list[dict]:
    if not session_id:
        return []
    rows = db.query("SELECT * FROM turns WHERE session_id = ? ORDER BY ts, id LIMIT ?", [session_id, limit])
    return [_decode(r) for r in rows]


def unanswered_turns(db: sqlite_utils.Database, kb: str, *, days: int, limit: int = 1000) -> list[dict]:
    since = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    rows = db.query(
        "SELECT id, ts, kb, text, mode, score, candidates FROM turns"
        " WHERE kb = ? AND mode IN ('fallback', 'clarify') AND ts >= ? ORDER BY ts DESC LIMIT ?",
        [kb, since, limit],
    )
    return [_decode(r) for r in rows]


def purge_turns(
    db: sqlite_utils.Database, retention_days: int, *, now: datetime | None = None, keep_unshipped: bool = False
) -> int:
    """Delete turns older than ``retention_days``; returns how many went.

    ``keep_unshipped`` (a kiosk in a fleet): a turn the fleet server has not acknowledged yet stays, however
    old, until it is shipped (a kiosk may be cut off for days).
    """
    now = now or datetime.now(UTC)
    cutoff = (now - timedelta(days=retention_days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    shipped = " AND shipped_at IS NOT NULL" if keep_unshipped else ""
    with transaction(db):
        removed = db.execute(f"DELETE FROM turns WHERE ts < ?{shipped}", [cutoff]).rowcount
    if removed:
        _LOGGER.info("retention: deleted %d turns older than %d days", removed, retention_days)
    return removed


# -- analytics ------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def analytics(db: sqlite_utils.Database, kb: str, *, days: int, today: datetime | None = None) -> dict:
    today = today or datetime.now(UTC)
    start = (today - timedelta(days=days - 1)).date()
    since = start.isoformat()
    base, params = "FROM turns WHERE kb = ? AND ts >= ?", [kb, since]
    per_day_rows = dict(db.execute(f"SELECT substr(ts, 1, 10), COUNT(*) {base} GROUP BY 1", params).fetchall())
    per_day = [
        ((start + timedelta(days=i)).isoformat(), per_day_rows.get((start + timedelta(days=i)).isoformat(), 0))
        for i in range(days)
    ]
    per_hour_rows = dict(db.execute(f"SELECT CAST(substr(ts, 12, 2) AS INTEGER), COUNT(*) {base} GROUP BY 1", params))
    per_hour = [(f"{h:02d}", per_hour_rows.get(h, 0)) for h in range(24)]
    modes = dict(db.execute(f"SELECT mode, COUNT(*) {base} GROUP BY mode", params).fetchall())
    mode_mix = [(m, modes.get(m, 0)) for m in MODES]
    top = db.execute(
        f"SELECT lower(trim(text)) AS q, COUNT(*) AS n, MAX(mode) {base} AND text != '' GROUP BY q ORDER BY n DESC, q"
        " LIMIT 10",
        params,
    ).fetchall()
    stages: dict[str, list[float]] = {}
    for (timings,) in db.execute(f"SELECT timings {base} ORDER BY ts DESC LIMIT 5000", params):
        try:
            parsed = json.loads(timings or "{}")
        except ValueError:
            continue
        for stage, value in parsed.items():
            if isinstance(value, int | float):
                stages.setdefault(stage, []).append(float(value))
    latency = [
        {
            "stage": stage,
            "n": len(values),
            "p50": percentile(values, 0.5),
            "p90": percentile(values, 0.9),
            "p95": percentile(values, 0.95),
            "max": max(values),
        }
        for stage, values in sorted(stages.items(), key=lambda kv: (kv[0] != "total", kv[0]))
    ]
    total = sum(n for _, n in mode_mix)
    return {
        "days": days,
        "since": since,
        "total": total,
        "per_day": per_day,
        "per_hour": per_hour,
        "mode_mix": mode_mix,
        "top": [{"text": q, "count": n, "mode": m} for q, n, m in top],
        "latency": latency,
    }


def unanswered_texts(db: sqlite_utils.Database, kb: str, turn_ids: list[int]) -> list[str]:
    """What the visitor asked in these fallback / clarify turns of ``kb`` (stored redacted), oldest first.

    The unanswered page approves a whole group of similar questions by its turn ids; turns of another
    knowledge base or that were answered are ignored, so a forged id adds nothing.
    """
    ids = sorted({i for i in turn_ids if i > 0})[:500]
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    rows = db.execute(
        f"SELECT text FROM turns WHERE kb = ? AND mode IN ('fallback', 'clarify') AND id IN ({marks}) ORDER BY ts, id",
        [kb, *ids],
    ).fetchall()
    return [row[0] for row in rows if (row[0] or "").strip()]
