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
from knowledge.entries import Document, FaqEntry
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

_ENTRY_KEYS = {"id", "question", "answer", "spoken_answer", "alternates", "category", "language", "enabled"}
_DOCUMENT_KEYS = {"id", "title", "body", "language"}


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


def entries_from_payload(raw: Any, *, allow_empty: bool = False) -> list[FaqEntry]:
    """The downloaded entries as :class:`FaqEntry` objects; any surprise refuses the whole download."""
    if not isinstance(raw, list) or (not raw and not allow_empty):
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


def documents_from_payload(raw: Any) -> list[Document]:
    """The downloaded documents as :class:`Document` objects (each with an id and a body), or refused whole."""
    if not isinstance(raw, list):
        raise DownloadInvalidError("the downloaded version's documents are not a list")
    docs = []
    for n, item in enumerate(raw, 1):
        ok = isinstance(item, dict) and set(item) <= _DOCUMENT_KEYS and {"id", "body"} <= set(item)
        if not ok or not all(isinstance(v, str) for v in item.values()) or not item["id"] or not item["body"].strip():
            raise DownloadInvalidError(f"document {n} of the downloaded version is malformed")
        docs.append(Document(item["id"], item.get("title") or item["id"], item["body"], item.get("language") or "en"))
    return docs


def apply_version(
    store: FaqStore,
    kb: str,
    version: int,
    sha256: str,
    title: str,
    entries: list[FaqEntry],
    documents: list[Document] | None = None,
) -> int:
    """Make ``entries`` (and, when given, ``documents``) what the kiosk answers under ``kb`` in one transaction:
    old entries soft-deleted, documents not in the version removed. ``documents`` None leaves them alone."""
    with transaction(store.db):
        if not store.kb_exists(kb):
            store.create_kb(kb, title=title or kb)
        count = store.replace_all(kb, entries, replace_existing=True, changed_by="fleet")
        if documents is not None:
            keep = {doc.id for doc in documents}
            for old in store.documents(kb):
                if old.id not in keep:
                    store.delete_document(kb, old.id)
            for doc in documents:
                store.add_document(kb, doc)
        store.db.execute(
            """INSERT INTO fleet_kb_versions (kb, version, sha256, applied_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(kb) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256,
                   applied_at = excluded.applied_at""",
            [kb, version, sha256, utcnow()],
        )
        pause_point("applying")
    _LOGGER.info(
        "fleet: %s version %d applied (%d entries, %s documents)",
        kb,
        version,
        count,
        "unchanged" if documents is None else len(documents),
    )
    return count
