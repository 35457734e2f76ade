"""The Chroma index: one collection per knowledge base, derived from SQLite and rebuildable.

Each phrasing (question or alternate) of each live entry is one Chroma record
whose id is a hash of (entry id, text). Syncing therefore only needs the set of
ids: records that SQLite no longer has are deleted, new ones are embedded and
added, and unchanged ones cost nothing. Document chunks live in a second
collection the same way.

That makes a build resumable: records are embedded and upserted in batches of
:data:`ADD_BATCH`, each batch committed by Chroma, and nothing marks an index
"complete" but its ids. After a crash or a ``kill -9`` the next sync finds the
batches already stored, keeps them and embeds only the rest. While it works, the
writer keeps ``$KIOSK_HOME/index_status.json`` up to date (kb, state, done, total,
kept, embedded, started, updated, pid: see :func:`core.heartbeat.write_index_status`)
for the admin app's health page.

Exactly one process writes: :meth:`VectorIndex.sync` takes an exclusive file
lock; a process that cannot get it leaves the index to the writer and reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.db import utcnow
from core.errors import KnowledgeError
from core.heartbeat import write_index_status
from knowledge.embeddings import Embedder

_LOGGER = logging.getLogger(__name__)

ADD_BATCH = 256  # records embedded and committed together: what a kill can cost at most
DELETE_BATCH = 5000


@dataclass(frozen=True)
class SyncReport:
    kb: str
    added: int
    removed: int
    total: int
    skipped: bool = False  # another process holds the writer lock
    missing: int = 0  # records SQLite has and the index still lacks (non-zero only when skipped)
    kept: int = 0  # records already in the index (same id: same entry and text), not embedded again


@dataclass
class _Plan:
    """What one collection lacks and has too much of."""

    kind: str
    collection: object
    wanted: dict[str, tuple[str, str]]  # record id -> (key, text)
    stale: list[str]
    new: list[str]


@dataclass(frozen=True)
class Hit:
    key: str  # faq id, or "doc_id#position" for document chunks
    similarity: float  # cosine similarity in [-1, 1]
    text: str


def record_id(key: str, text: str) -> str:
    return hashlib.sha1(f"{key}\x1f{text}".encode()).hexdigest()[:20]


class VectorIndex:
    """Chroma persistent client under ``$KIOSK_HOME/chroma``."""

    def __init__(
        self, path: Path, embedder: Embedder, *, status_root: Path | None = None, batch_size: int = ADD_BATCH
    ) -> None:
        self.path = Path(path)
        self.embedder = embedder
        self.batch_size = batch_size
        # the progress file goes to the kiosk home (the index lives in $KIOSK_HOME/chroma)
        self.status_root = Path(status_root) if status_root is not None else self.path.parent
        self._status: dict[str, dict[str, object]] = {}  # builds in progress in this process, by kb
        self._client = None

    @property
    def client(self):
        if self._client is None:
            os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            self.path.mkdir(parents=True, exist_ok=True)
            try:
                self._client = chromadb.PersistentClient(
                    path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False)
                )
            except Exception as exc:
                raise KnowledgeError(
                    f"cannot open the Chroma index at {self.path}: {exc}",
                    code="kb-index-unavailable",
                    hint="`kiosk kb reindex` rebuilds it from the database",
                ) from exc
        return self._client

    @staticmethod
    def _name(kind: str, kb: str) -> str:
        return f"{kind}-{kb}-v1"

    def _collection(self, kind: str, kb: str):
        return self.client.get_or_create_collection(
            name=self._name(kind, kb), metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    @contextlib.contextmanager
    def writer(self) -> Iterator[bool]:
        """Yield True when this process holds the single-writer lock (non-blocking)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".writer.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _plan(self, kind: str, kb: str, records: Sequence[tuple[str, str]], *, repair: bool) -> _Plan:
        collection = self._collection(kind, kb)
        wanted = {record_id(key, text): (key, text) for key, text in records}
        try:
            present = set(collection.get(include=[])["ids"])
        except Exception as exc:  # a collection Chroma cannot read (a crash at a bad moment): rebuild it
            if not repair:
                _LOGGER.warning("index %s: %s records unreadable (%s)", kb, kind, exc)
                return _Plan(kind, collection, wanted, [], list(wanted))
            _LOGGER.warning("index %s: %s records unreadable (%s); rebuilding them", kb, kind, exc)
            with contextlib.suppress(Exception):
                self.client.delete_collection(self._name(kind, kb))
            collection, present = self._collection(kind, kb), set()
        return _Plan(kind, collection, wanted, sorted(present - set(wanted)), [i for i in wanted if i not in present])

    def sync(
        self,
        kb: str,
        phrasings: Sequence[tuple[str, str]],
        chunks: Sequence[tuple[str, str]] = (),
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncReport:
        """Make the index equal to SQLite's ``phrasings`` (faq_id, text) and ``chunks`` (key, text).

        Only records the index lacks are embedded; ``progress(done, to_embed)`` is called before the first
        batch and after each one (not at all when nothing needs embedding).
        """
        with self.writer() as is_writer:
            plans = [
                self._plan("faq", kb, phrasings, repair=is_writer),
                self._plan("doc", kb, chunks, repair=is_writer),
            ]
            total = len(plans[0].wanted)
            if not is_writer:
                missing = sum(len(p.new) for p in plans)
                _LOGGER.info(
                    "index %s: another process is the writer; using the index as it is (%d records missing)",
                    kb,
                    missing,
                )
                return SyncReport(kb, 0, 0, total, skipped=True, missing=missing)
            return self._apply(kb, plans, total, progress)

    def _apply(
        self, kb: str, plans: list[_Plan], total: int, progress: Callable[[int, int], None] | None
    ) -> SyncReport:
        records = sum(len(p.wanted) for p in plans)
        kept = records - sum(len(p.new) for p in plans)
        removed = 0
        for plan in plans:
            for start in range(0, len(plan.stale), DELETE_BATCH):
                plan.collection.delete(ids=plan.stale[start : start + DELETE_BATCH])
            removed += len(plan.stale)
        work = [(plan, rid) for plan in plans for rid in plan.new]
        if work:
            if kept:
                _LOGGER.info(
                    "index %s: resuming: %d of %d records already indexed, embedding the other %d",
                    kb,
                    kept,
                    records,
                    len(work),
                )
            else:
                _LOGGER.info("index %s: embedding %d records", kb, len(work))
            self._status.pop(kb, None)
            self.report(kb, "indexing", done=kept, total=records, kept=kept, embedded=0, removed=removed)
            if progress:
                progress(0, len(work))
        for start in range(0, len(work), self.batch_size):
            batch = work[start : start + self.batch_size]
            for plan in plans:
                ids = [rid for p, rid in batch if p is plan]
                if not ids:
                    continue
                texts = [plan.wanted[i][1] for i in ids]
                plan.collection.upsert(  # idempotent: a record stored twice stays one record
                    ids=ids,
                    embeddings=self.embedder.embed(texts),
                    documents=texts,
                    metadatas=[{"key": plan.wanted[i][0]} for i in ids],
                )
            done = start + len(batch)
            self.report(kb, "indexing", done=kept + done, embedded=done)
            if progress:
                progress(done, len(work))
        faq, doc = plans
        if work or removed:
            _LOGGER.info(
                "index %s: +%d -%d phrasings, +%d -%d chunks, %d kept",
                kb,
                len(faq.new),
                len(faq.stale),
                len(doc.new),
                len(doc.stale),
                kept,
            )
            self.report(kb, "indexed", done=records, total=records)
        return SyncReport(kb, len(work), removed, total, kept=kept)

    # -- the progress file ----------------------------------------------------
    def building(self, kb: str) -> bool:
        """Whether this process has a build of ``kb`` under way (embedding, removing or training: see report)."""
        return kb in self._status

    def report(self, kb: str, state: str, **fields: object) -> None:
        """Record the build's ``state`` (indexing, indexed, training, ready, failed) in the progress file."""
        now = utcnow()
        record = self._status.setdefault(kb, {"kb": kb, "started": now})
        record.update(fields, state=state, updated=now)
        if state in ("ready", "failed"):
            self._status.pop(kb, None)
        try:
            write_index_status(self.status_root, **record)
        except OSError as exc:
            _LOGGER.debug("cannot write the index progress file: %s", exc)

    def drop(self, kb: str) -> None:
        with self.writer() as is_writer:
            if not is_writer:
                raise KnowledgeError("the index is being written by another process", code="kb-index-busy")
            for kind in ("faq", "doc"):
                with contextlib.suppress(Exception):
                    self.client.delete_collection(self._name(kind, kb))

    def count(self, kb: str) -> int:
        return self._collection("faq", kb).count()

    def query(self, kb: str, vector: np.ndarray, k: int = 20, *, kind: str = "faq") -> list[Hit]:
        collection = self._collection(kind, kb)
        n = min(k, collection.count())
        if n == 0:
            return []
        result = collection.query(
            query_embeddings=[vector.tolist()], n_results=n, include=["metadatas", "distances", "documents"]
        )
        return [
            Hit(meta["key"], 1.0 - float(dist), doc)
            for meta, dist, doc in zip(
                result["metadatas"][0], result["distances"][0], result["documents"][0], strict=True
            )
        ]

    def vectors(self, kb: str) -> tuple[list[str], list[str], np.ndarray]:
        """(record ids, keys, embeddings) of every phrasing: what the classifier trains on."""
        data = self._collection("faq", kb).get(include=["metadatas", "embeddings"])
        ids = list(data["ids"])
        keys = [m["key"] for m in data["metadatas"]]
        embeddings = np.asarray(data["embeddings"], dtype=np.float32) if ids else np.zeros((0, 384), np.float32)
        return ids, keys, embeddings
