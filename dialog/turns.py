"""The turn log: every turn, redacted, with its mode, entry, score, candidates and stage timings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlite_utils

from core.db import transaction, utcnow
from dialog.redact import redact


@dataclass(frozen=True)
class TurnRecord:
    kb: str
    text: str
    answer: str
    mode: str
    faq_id: str | None = None
    score: float | None = None
    candidates: list[dict] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    session_id: str = ""
    source: str = "text"  # text | voice | touch
    reason: str = ""


class TurnLog:
    """Writes turns to the ``turns`` table; redaction happens here, so nothing unredacted is stored."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def record(self, turn: TurnRecord) -> int:
        with transaction(self.db):
            cursor = self.db.execute(
                """INSERT INTO turns (ts, kb, session_id, source, text, answer, mode, faq_id, score,
                       candidates, timings, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    utcnow(),
                    turn.kb,
                    turn.session_id,
                    turn.source,
                    redact(turn.text),
                    redact(turn.answer),
                    turn.mode,
                    turn.faq_id,
                    turn.score,
                    json.dumps(turn.candidates),
                    json.dumps(turn.timings_ms),
                    turn.reason,
                ],
            )
        return int(cursor.lastrowid)

    def recent(self, limit: int = 50, kb: str | None = None) -> list[dict]:
        where, params = ("WHERE kb = ?", [kb]) if kb else ("", [])
        rows = self.db.query(f"SELECT * FROM turns {where} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [{**r, "candidates": json.loads(r["candidates"]), "timings": json.loads(r["timings"])} for r in rows]
