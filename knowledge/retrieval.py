"""Hybrid question matching: dense (Chroma) + lexical (FTS5) + the alternates classifier.

:class:`Retriever` keeps one knowledge base's index and classifier in step with
SQLite (it re-syncs when the KB's version changes, so admin edits reach a running
kiosk without a restart) and turns a visitor's question into candidates with
scores in [0, 1].
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knowledge.classifier import (
    DEFAULT_CALIBRATION,
    SINGLE_ENTRY_CALIBRATION,
    IntentClassifier,
    calibrated,
    candidate_features,
    fingerprint,
)
from knowledge.embeddings import Embedder
from knowledge.index import SyncReport, VectorIndex, record_id
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

DENSE_K = 30
LEXICAL_K = 20


@dataclass(frozen=True)
class Candidate:
    faq_id: str
    score: float  # calibrated confidence in [0, 1]
    question: str  # the entry's canonical question (for clarify choices)
    matched: str  # the phrasing that matched best
    dense: float  # best cosine similarity over the entry's phrasings
    lexical: float  # BM25 relative to the best lexical hit, [0, 1]
    classifier: float  # probability from the alternates classifier

    def to_dict(self) -> dict[str, object]:
        return {"faq_id": self.faq_id, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Passage:
    key: str  # "doc_id#position"
    text: str
    similarity: float


@dataclass(frozen=True)
class MatchResult:
    candidates: list[Candidate]
    passages: list[Passage] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def combine(classifier: float, dense: float, lexical: float, *, calibration: Sequence[float] | None = None) -> float:
    """Calibrated confidence in [0, 1] for one candidate taken alone (``classifier`` is its probability).

    :meth:`Retriever.match` scores every candidate against all the others (the margin to the best other
    entry is one of the calibrator's inputs); this is the same calibrator for a candidate whose best rival
    has the rest of the probability. ``lexical`` is kept for callers; the classifier's TF-IDF views carry
    the lexical signal now.
    """
    del lexical
    p = min(max(classifier, 1e-12), 1.0)
    log_probs = np.log(np.array([p, max(1.0 - p, 1e-12)]))
    feats = candidate_features(log_probs, np.array([dense, -1.0]))[:1]
    return float(calibrated(feats, calibration or DEFAULT_CALIBRATION)[0])


@dataclass
class _KbState:
    version: int = -2
    classifier: IntentClassifier | None = None
    questions: dict[str, str] = field(default_factory=dict)
    has_documents: bool = False
    # every phrasing's embedding, grouped by entry: entries[j] owns rows starts[j]:starts[j + 1]
    entries: list[str] = field(default_factory=list)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))
    texts: list[str] = field(default_factory=list)
    class_order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # classifier -> entries


class Retriever:
    """Matching over one kiosk's knowledge bases."""

    def __init__(self, *, store: FaqStore, index: VectorIndex, embedder: Embedder, cache_dir: Path) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.cache_dir = Path(cache_dir)
        self._state: dict[str, _KbState] = {}
        self._lock = threading.RLock()

    # -- keeping the index in step with SQLite ------------------------------
    def prepare(
        self, kb: str, *, force: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> SyncReport | None:
        """Sync the index and classifier if the KB changed since the last call; ``None`` if nothing to do."""
        with self._lock:
            self.store.require_kb(kb)
            state = self._state.setdefault(kb, _KbState())
            version = self.store.kb_version(kb)
            if version == state.version and not force:
                return None
            phrasings = self.store.phrasings(kb)
            chunks = [(f"{doc}#{pos}", text) for doc, pos, text in self.store.chunks(kb)]
            report = self.index.sync(kb, [(fid, text) for fid, _, text in phrasings], chunks, progress=progress)
            state.questions = {fid: text for fid, kind, text in phrasings if kind == "question"}
            state.has_documents = bool(chunks)
            by_id = {record_id(fid, text): text for fid, _, text in phrasings}
            ids, keys, vectors = self.index.vectors(kb)
            keep = [i for i, (rid, key) in enumerate(zip(ids, keys, strict=True)) if key in state.questions]
            ids = [ids[i] for i in keep]
            keys = [keys[i] for i in keep]
            vectors = vectors[keep] if keep else np.zeros((0, vectors.shape[1] or 384), np.float32)
            texts = [by_id.get(rid, state.questions.get(key, "")) for rid, key in zip(ids, keys, strict=True)]
            order = sorted(range(len(keys)), key=lambda i: (keys[i], ids[i]))
            keys = [keys[i] for i in order]
            ids = [ids[i] for i in order]
            state.texts = [texts[i] for i in order]
            state.vectors = np.ascontiguousarray(vectors[order]) if order else vectors
            state.entries = sorted(set(keys))
            state.starts = np.searchsorted(np.array(keys, dtype=object), np.array(state.entries, dtype=object))
            state.starts = np.append(state.starts, len(keys)).astype(np.int64)
            state.classifier = self._classifier(kb, ids, keys, state.vectors, state.texts)
            position = {fid: j for j, fid in enumerate(state.entries)}
            state.class_order = (
                np.array([position[c] for c in state.classifier.classes], dtype=np.int64)
                if state.classifier is not None
                else np.zeros(0, dtype=np.int64)
            )
            state.version = version
            return report

    def ready(self, kb: str) -> bool:
        """Whether matching ``kb`` now would start at once: the embedding model loaded, the knowledge base indexed.

        Cheap, and never waits: while another thread prepares the knowledge base it is not ready.
        """
        if not self.embedder.loaded or not self._lock.acquire(blocking=False):
            return False
        try:
            state = self._state.get(kb)
            return state is not None and state.version == self.store.kb_version(kb)
        finally:
            self._lock.release()

    @staticmethod
    def _best_row(state: _KbState, sims: np.ndarray, j: int) -> int:
        """Index of entry ``j``'s best-matching phrasing."""
        start, end = state.starts[j], state.starts[j + 1]
        return start + int(np.argmax(sims[start:end]))

    def _classifier(
        self, kb: str, ids: list[str], keys: list[str], vectors: np.ndarray, texts: list[str]
    ) -> IntentClassifier | None:
        if len(set(keys)) < 2:
            return None
        path = self.cache_dir / "classifiers" / f"{kb}-{fingerprint(ids)}.npz"
        if path.exists():
            loaded = IntentClassifier.load(path)
            if loaded is not None and set(loaded.classes) == set(keys):
                return loaded
        model = IntentClassifier.train(keys, vectors, texts)
        if model is not None:
            for old in path.parent.glob(f"{kb}-*.npz"):
                old.unlink(missing_ok=True)
            model.save(path)
        return model

    # -- matching -------------------------------------------------------------
    def match(self, kb: str, text: str, k: int = 5) -> MatchResult:
        t0 = time.perf_counter()
        self.prepare(kb)
        state = self._state[kb]
        t1 = time.perf_counter()
        vector = self.embedder.embed_query(text)
        t2 = time.perf_counter()
        n_entries = len(state.entries)
        if n_entries:
            sims = state.vectors @ vector
            dense = np.maximum.reduceat(sims, np.asarray(state.starts[:-1]))  # best phrasing per entry
        else:
            sims = dense = np.zeros(0)
        t3 = time.perf_counter()
        lexical_hits = self.store.lexical_search(kb, text, LEXICAL_K)
        t4 = time.perf_counter()

        best_lex = max((s for _, s in lexical_hits), default=0.0)
        lexical = {fid: (s / best_lex if best_lex > 0 else 0.0) for fid, s in lexical_hits}
        log_probs = np.zeros(n_entries)
        if state.classifier is not None:
            log_probs[state.class_order] = state.classifier.log_probabilities(vector, text)
            calibration = state.classifier.calibration
        else:
            calibration = SINGLE_ENTRY_CALIBRATION if n_entries == 1 else DEFAULT_CALIBRATION
        scores = calibrated(candidate_features(log_probs, dense), calibration) if n_entries else np.zeros(0)

        shortlist = set(np.argsort(-scores)[: max(k, DENSE_K)].tolist())
        position = {fid: j for j, fid in enumerate(state.entries)}
        shortlist |= {position[fid] for fid in lexical if fid in position}
        candidates = [
            Candidate(
                fid,
                float(scores[j]),
                state.questions[fid],
                state.texts[self._best_row(state, sims, j)] or state.questions[fid],
                float(dense[j]),
                lexical.get(fid, 0.0),
                float(np.exp(log_probs[j])),
            )
            for j in shortlist
            if (fid := state.entries[j]) in state.questions
        ]
        candidates.sort(key=lambda c: (-c.score, -c.classifier, c.faq_id))

        passages: list[Passage] = []
        if state.has_documents:
            passages = [Passage(h.key, h.text, h.similarity) for h in self.index.query(kb, vector, 3, kind="doc")]
        t5 = time.perf_counter()
        timings = {
            "prepare": (t1 - t0) * 1000,
            "embed": (t2 - t1) * 1000,
            "dense": (t3 - t2) * 1000,
            "lexical": (t4 - t3) * 1000,
            "score": (t5 - t4) * 1000,
            "match_total": (t5 - t0) * 1000,
        }
        return MatchResult(candidates[:k], passages, {key: round(v, 2) for key, v in timings.items()})
