"""Hybrid question matching: dense (Chroma) + lexical (FTS5) + the alternates classifier.

:class:`Retriever` keeps one knowledge base's index and classifier in step with
SQLite (it re-syncs when the KB's version changes, so admin edits reach a running
kiosk without a restart) and turns a visitor's question into candidates with
scores in [0, 1].
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knowledge.classifier import IntentClassifier, fingerprint
from knowledge.embeddings import Embedder
from knowledge.index import SyncReport, VectorIndex
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


def _squash(x: float, centre: float, width: float) -> float:
    return 1.0 / (1.0 + math.exp(-(x - centre) / width))


def combine(classifier: float, dense: float, lexical: float) -> float:
    """One confidence in [0, 1] from the three signals (see bench/matching.py for how it was tuned)."""
    dense_conf = _squash(dense, 0.62, 0.07)
    score = 0.6 * classifier + 0.3 * dense_conf + 0.1 * lexical * dense_conf
    return max(0.0, min(1.0, score))


@dataclass
class _KbState:
    version: int = -2
    classifier: IntentClassifier | None = None
    questions: dict[str, str] = field(default_factory=dict)
    has_documents: bool = False
    keys: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))


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
            ids, keys, vectors = self.index.vectors(kb)
            state.keys, state.vectors = np.array(keys, dtype=object), vectors
            state.classifier = self._classifier(kb, ids, keys, vectors)
            state.version = version
            return report

    def _classifier(self, kb: str, ids: list[str], keys: list[str], vectors: np.ndarray) -> IntentClassifier | None:
        if not ids:
            return None
        path = self.cache_dir / "classifiers" / f"{kb}-{fingerprint(ids)}.npz"
        if path.exists():
            loaded = IntentClassifier.load(path)
            if loaded is not None:
                return loaded
        model = IntentClassifier.train(keys, vectors)
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
        dense_hits = self.index.query(kb, vector, DENSE_K)
        t3 = time.perf_counter()
        lexical_hits = self.store.lexical_search(kb, text, LEXICAL_K)
        t4 = time.perf_counter()

        dense: dict[str, tuple[float, str]] = {}
        for hit in dense_hits:
            if hit.key not in dense or hit.similarity > dense[hit.key][0]:
                dense[hit.key] = (hit.similarity, hit.text)
        best_lex = max((s for _, s in lexical_hits), default=0.0)
        lexical = {fid: (s / best_lex if best_lex > 0 else 0.0) for fid, s in lexical_hits}
        probs = state.classifier.probabilities(vector) if state.classifier else {}
        top_probs = sorted(probs, key=probs.get, reverse=True)[:k]

        candidates = []
        for fid in set(dense) | set(lexical) | set(top_probs):
            if fid not in state.questions:
                continue
            sim, matched = dense.get(fid, (self._similarity(state, fid, vector), ""))
            p = probs.get(fid, 1.0 if len(state.questions) == 1 else 0.0)
            lex = lexical.get(fid, 0.0)
            candidates.append(
                Candidate(fid, combine(p, sim, lex), state.questions[fid], matched or state.questions[fid], sim, lex, p)
            )
        candidates.sort(key=lambda c: c.score, reverse=True)

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

    @staticmethod
    def _similarity(state: _KbState, faq_id: str, vector: np.ndarray) -> float:
        """Best cosine similarity over an entry's phrasings, for candidates outside the dense top-k."""
        mask = state.keys == faq_id
        if not mask.any():
            return 0.0
        return float((state.vectors[mask] @ vector).max())
