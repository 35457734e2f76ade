"""The Chroma index: one collection per knowledge base, derived from SQLite and rebuildable.

Each phrasing (question or alternate) of each live entry is one Chroma record
whose id is a hash of (entry id, text). Syncing therefore only needs the set of
ids: records that SQLite no longer has are deleted, new ones are embedded and
added, and unchanged ones cost nothing. Document chunks live in a second
collection the same way.

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

from core.errors import KnowledgeError
from knowledge.embeddings import Embedder

_LOGGER = logging.getLogger(__name__)

ADD_BATCH = 512


@dataclass(frozen=True)
class SyncReport:
    kb: str
    added: int
    removed: int
    total: int
    skipped: bool = False  # another process holds the writer lock


@dataclass(frozen=True)
class Hit:
    key: str  # faq id, or "doc_id#position" for document chunks
    similarity: float  # cosine similarity in [-1, 1]
    text: str


def record_id(key: str, text: str) -> str:
    return hashlib.sha1(f"{key}\x1f{text}".encode()).hexdigest()[:20]


class VectorIndex:
    """Chroma persistent client under ``$KIOSK_HOME/chroma``."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        self.path = Path(path)
        self.embedder = embedder
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

    def _sync_one(
        self,
        kind: str,
        kb: str,
        records: Sequence[tuple[str, str]],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[int, int, int]:
        collection = self._collection(kind, kb)
        wanted = {record_id(key, text): (key, text) for key, text in records}
        present = set(collection.get(include=[])["ids"])
        stale = sorted(present - set(wanted))
        new = [i for i in wanted if i not in present]
        for start in range(0, len(stale), 5000):
            collection.delete(ids=stale[start : start + 5000])
        for start in range(0, len(new), ADD_BATCH):
            batch = new[start : start + ADD_BATCH]
            texts = [wanted[i][1] for i in batch]
            vectors = self.embedder.embed(texts)
            collection.add(
                ids=batch,
                embeddings=vectors,
                documents=texts,
                metadatas=[{"key": wanted[i][0]} for i in batch],
            )
            if progress:
                progress(min(start + ADD_BATCH, len(new)), len(new))
        return len(new), len(stale), len(wanted)

    def sync(
        self,
        kb: str,
        phrasings: Sequence[tuple[str, str]],
        chunks: Sequence[tuple[str, str]] = (),
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncReport:
        """Make the index equal to SQLite's ``phrasings`` (faq_id, text) and ``chunks`` (key, text)."""
        with self.writer() as is_writer:
            if not is_writer:
                _LOGGER.info("index %s: another process is the writer; using the index as it is", kb)
                return SyncReport(kb, 0, 0, self.count(kb), skipped=True)
            added, removed, total = self._sync_one("faq", kb, phrasings, progress)
            c_added, c_removed, _ = self._sync_one("doc", kb, chunks, None)
        if added or removed or c_added or c_removed:
            _LOGGER.info("index %s: +%d -%d phrasings, +%d -%d chunks", kb, added, removed, c_added, c_removed)
        return SyncReport(kb, added + c_added, removed + c_removed, total)

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
