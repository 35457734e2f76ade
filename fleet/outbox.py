"""The kiosk's side of the fleet in its own SQLite: the turn outbox and the published versions applied.

A turn is written locally first (:mod:`dialog.turns`); it stays unshipped (``turns.shipped_at`` is
NULL) until the server has acknowledged it, however long the kiosk is offline. Applying a published
version is one SQLite transaction: the entries and the version marker change together, or neither.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from core.db import transaction, utcnow
from fleet.errors import DownloadInvalidError
from fleet.faults import pause_point
from knowledge.entries import FaqEntry
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

_ENTRY_KEYS = {"id", "question", "answer", "spoken_answer", "alternates", "category", "language", "enabled"}


def pending_turns(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT id, ts, kb, text, answer, mode, faq_id FROM turns WHERE shipped_at IS NULL ORDER BY id LIMIT ?",
        [limit],
    ).fetchall()
    keys = ("id", "ts", "kb", "text", "answer", "mode", "faq_id")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def pending_count(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT COUNT(*) FROM turns WHERE shipped_at IS NULL").fetchone()[0])


def mark_shipped(db: sqlite_utils.Database, ids: Sequence[int]) -> None:
    if not ids:
        return
    now = utcnow()
    with transaction(db):
        db.conn.executemany("UPDATE turns SET shipped_at = ? WHERE id = ?", [(now, int(i)) for i in ids])


def applied_versions(db: sqlite_utils.Database) -> dict[str, int]:
    return {kb: int(v) for kb, v in db.execute("SELECT kb, version FROM fleet_kb_versions").fetchall()}


def entries_from_payload(raw: Any) -> list[FaqEntry]:
    """The downloaded entries as :class:`FaqEntry` objects; any surprise refuses the whole download."""
    if not isinstance(raw, list) or not raw:
        raise DownloadInvalidError("the downloaded version holds no entries", hint="publish it again on the server")
    entries = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict) or not set(item) <= _ENTRY_KEYS or not {"id", "question", "answer"} <= set(item):
            raise DownloadInvalidError(f"entry {n} of the downloaded version is malformed")
        try:
            entry = FaqEntry(**{**item, "alternates": tuple(item.get("alternates") or ())})
        except TypeError as exc:
            raise DownloadInvalidError(f"entry {n} of the downloaded version is malformed: {exc}") from exc
        problems = entry.problems()
        if problems:
            raise DownloadInvalidError(f"entry {n} ({entry.id!r}) cannot be stored: {'; '.join(problems)}")
        entries.append(entry)
    return entries


def apply_version(store: FaqStore, kb: str, version: int, sha256: str, title: str, entries: list[FaqEntry]) -> int:
    """Make ``entries`` what the kiosk answers under ``kb`` (old entries soft-deleted), in one transaction."""
    with transaction(store.db):
        if not store.kb_exists(kb):
            store.create_kb(kb, title=title or kb)
        count = store.replace_all(kb, entries, replace_existing=True, changed_by="fleet")
        store.db.execute(
            """INSERT INTO fleet_kb_versions (kb, version, sha256, applied_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(kb) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256,
                   applied_at = excluded.applied_at""",
            [kb, version, sha256, utcnow()],
        )
        pause_point("applying")
    _LOGGER.info("fleet: %s version %d applied (%d entries)", kb, version, count)
    return count
