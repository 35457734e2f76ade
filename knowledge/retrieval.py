"""Hybrid question matching: dense (Chroma) + lexical (FTS5) + the alternates classifier.

:class:`Retriever` keeps one knowledge base's index and classifier in step with
SQLite (it re-syncs when the KB's version changes, so admin edits reach a running
kiosk without a restart) and turns a visitor's question into candidates with
scores in [0, 1]. A question's typos are corrected first against the knowledge
base's own words (:mod:`knowledge.spelling`, built at index time); a question
with nothing to correct is matched as typed (``timings_ms["corrected"] = 1``
says when it was corrected).

A visitor never waits for a long build. :meth:`Retriever.match` prepares the
knowledge base on a background thread; a short sync (an admin edit) is waited
for, but once the build turns out to embed more than ``inline_embed``
(:data:`INLINE_EMBED`) records (a first start, a big import, a build resumed
after a crash) or to train the classifier on more phrasings than that, or while
another process is building the index, questions are answered from the lexical
index alone (SQLite FTS5, scored by word overlap) until it is done. Such a result
carries ``timings_ms["lexical_only"] = 1``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.text import SEARCH_STOPWORDS
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
from knowledge.spelling import Speller, known_words
from knowledge.store import FaqStore
from knowledge.training import train_in_child

_LOGGER = logging.getLogger(__name__)

DENSE_K = 30
LEXICAL_K = 20
# A build that embeds more records than this (some seconds on a busy 2-core PC; the demos need ~380) leaves
# questions to the lexical index meanwhile.
INLINE_EMBED = 512
LEXICAL_CONFIDENCE = 0.9  # the score of a lexical-only match whose words are exactly an entry's phrasing
LEXICAL_TIED = 0.6  # share of it left to an entry whose words another entry matches as well (the policy asks)
LEXICAL_MARGIN = 0.3  # overlap margin over the best other entry at which an entry keeps its whole score
RECHECK_S = 10.0  # while another process builds the index, how often to look whether it is done
_POLL_S = 0.05
_WORD = re.compile(r"\w+", re.UNICODE)


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
    speller: Speller | None = None  # the knowledge base's vocabulary, for typed questions' typos


def _stem(word: str) -> str:
    """A light stemmer, enough to pair singular and plural, "-ing" and "-ed" forms."""
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _terms(text: str) -> frozenset[str]:
    """The content words of ``text``, stemmed (the words :func:`core.text.fts_query` searches for)."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    return frozenset(_stem(w) for w in ([w for w in words if w not in SEARCH_STOPWORDS] or words))


def _overlap(query: frozenset[str], phrasing: frozenset[str]) -> float:
    """F1 of the shared content words: 1 when the question says exactly the phrasing's words."""
    if not query or not phrasing:
        return 0.0
    return 2.0 * len(query & phrasing) / (len(query) + len(phrasing))


@dataclass
class _LexicalView:
    """A knowledge base's phrasings grouped by entry, for lexical-only scoring (one per KB version)."""

    version: int
    questions: dict[str, str]
    phrasings: dict[str, list[str]]
    terms: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    speller: Speller | None = None

    def best(self, faq_id: str, query: frozenset[str]) -> tuple[float, str]:
        texts = self.phrasings.get(faq_id, [])
        if faq_id not in self.terms:
            self.terms[faq_id] = [_terms(t) for t in texts]
        return max(
            ((_overlap(query, t), text) for t, text in zip(self.terms[faq_id], texts, strict=True)), default=(0.0, "")
        )


class Retriever:
    """Matching over one kiosk's knowledge bases."""

    def __init__(self, *, store: FaqStore, index: VectorIndex, embedder: Embedder, cache_dir: Path) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.cache_dir = Path(cache_dir)
        self._state: dict[str, _KbState] = {}
        self._lock = threading.RLock()
        self._builds: dict[str, threading.Thread] = {}  # background preparations, by kb
        self._build_errors: dict[str, Exception] = {}
        self._builds_lock = threading.Lock()
        self._long: set[str] = set()  # kbs whose preparation now embeds more than inline_embed records
        self._other_writer: dict[str, float] = {}  # kb -> when its index was found incomplete, built elsewhere
        self._lexical: dict[str, _LexicalView] = {}
        self.inline_embed = INLINE_EMBED
        self.train_in_child = False  # the live kiosk: fit the classifier in a child process (knowledge/training.py)

    # -- keeping the index in step with SQLite ------------------------------
    def prepare(
        self, kb: str, *, force: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> SyncReport | None:
        """Sync the index and classifier if the KB changed since the last call; ``None`` if nothing to do.

        Blocks until done (see :meth:`ensure_prepared` for a caller that must not). When another process is
        writing the index and it is still incomplete, the report says so (``skipped``, ``missing``) and the
        knowledge base stays unprepared: matching answers from the lexical index.
        """
        with self._lock:
            self.store.require_kb(kb)
            state = self._state.setdefault(kb, _KbState())
            version = self.store.kb_version(kb)
            if version == state.version and not force:
                return None

            def on_progress(done: int, total: int) -> None:
                if total > self.inline_embed:
                    self._long_build(kb, f"{total} records to embed")
                if progress:
                    progress(done, total)

            try:
                return self._prepare(kb, state, version, on_progress)
            except Exception as exc:
                if self.index.building(kb):
                    self.index.report(kb, "failed", error=str(exc)[:300])
                raise
            finally:
                self._long.discard(kb)

    def _prepare(
        self, kb: str, state: _KbState, version: int, progress: Callable[[int, int], None]
    ) -> SyncReport | None:
        """The body of :meth:`prepare`, under its lock."""
        phrasings = self.store.phrasings(kb)
        chunks = [(f"{doc}#{pos}", text) for doc, pos, text in self.store.chunks(kb)]
        report = self.index.sync(kb, [(fid, text) for fid, _, text in phrasings], chunks, progress=progress)
        if report.skipped and report.missing:
            _LOGGER.warning(
                "index %s: another process is building it (%d records still missing); "
                "answering from the lexical index meanwhile",
                kb,
                report.missing,
            )
            self._other_writer[kb] = time.monotonic()
            return report
        self._other_writer.pop(kb, None)
        state.questions = {fid: text for fid, kind, text in phrasings if kind == "question"}
        state.has_documents = bool(chunks)
        answers = [e.answer for e in self.store.list(kb, enabled=True)]
        state.speller = self._speller([text for _, _, text in phrasings] + answers + [text for _, text in chunks])
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
        if self.index.building(kb):
            self.index.report(kb, "ready")
        _LOGGER.debug("knowledge base %s prepared (version %d)", kb, version)
        return report

    def _speller(self, texts: list[str]) -> Speller:
        model_path = getattr(self.embedder, "model_path", None)
        return Speller.build(texts, known_words(Path(model_path) / "vocab.txt" if model_path else None))

    @staticmethod
    def _corrected(speller: Speller | None, text: str, timings: dict[str, float]) -> str:
        """``text`` with its typos corrected against the knowledge base's words (``text`` itself if none)."""
        if speller is None:
            return text
        corrected = speller.correct(text)
        if corrected != text:
            _LOGGER.debug("spelling: %r read as %r", text, corrected)
            timings["corrected"] = 1.0
        return corrected

    def _long_build(self, kb: str, why: str) -> None:
        """Mark the preparation under way as long: questions meanwhile are matched from the lexical index."""
        if kb not in self._long:
            _LOGGER.info("knowledge base %s: %s; until that ends, questions are matched lexically", kb, why)
            self._long.add(kb)

    def ensure_prepared(self, kb: str) -> bool:
        """Prepare ``kb`` unless that means a long build; then build it in the background and return False.

        False while the knowledge base is not ready for full matching (a long build under way here or in
        another process): :meth:`match` answers from the lexical index meanwhile.
        """
        return not self._pending(kb)

    def wait(self, kb: str, timeout: float | None = None) -> bool:
        """Wait for a background build of ``kb`` to end; whether the knowledge base is prepared now."""
        with self._builds_lock:
            thread = self._builds.get(kb)
        if thread is not None:
            thread.join(timeout)
        return self._current(kb)

    def _current(self, kb: str) -> bool:
        state = self._state.get(kb)
        return state is not None and state.version == self.store.kb_version(kb)

    def _pending(self, kb: str) -> str:
        """Why matching ``kb`` is lexical-only now; empty once it is prepared (after waiting for a short sync)."""
        for _ in range(3):  # again if the knowledge base changed while it was being prepared
            if self._current(kb):
                return ""
            self.store.require_kb(kb)
            seen = self._other_writer.get(kb)
            if seen is not None and time.monotonic() - seen < RECHECK_S:
                return "another process is building the index"
            thread = self._start_build(kb)
            while thread.is_alive():
                if kb in self._long:
                    return "the index is being built"
                thread.join(_POLL_S)
            error = self._build_errors.pop(kb, None)
            if error is not None:
                raise error
            if kb in self._other_writer:
                return "another process is building the index"
        return ""

    def _start_build(self, kb: str) -> threading.Thread:
        with self._builds_lock:
            thread = self._builds.get(kb)
            if thread is None or not thread.is_alive():
                self._build_errors.pop(kb, None)
                thread = threading.Thread(target=self._build, args=(kb,), name=f"kiosk-index-{kb}", daemon=True)
                self._builds[kb] = thread
                thread.start()
            return thread

    def _build(self, kb: str) -> None:
        try:
            self.prepare(kb)
        except Exception as exc:  # handed to the caller waiting for it, or to the next question
            _LOGGER.error("preparing knowledge base %s failed: %s", kb, exc)
            self._build_errors[kb] = exc

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
        if len(ids) > self.inline_embed:
            self._long_build(kb, f"training the classifier on {len(ids)} phrasings")
        counts = {} if self.index.building(kb) else {"done": len(ids), "total": len(ids)}
        self.index.report(kb, "training", entries=len(set(keys)), **counts)
        model = (train_in_child if self.train_in_child else IntentClassifier.train)(keys, vectors, texts)
        if model is not None:
            for old in path.parent.glob(f"{kb}-*.npz"):
                old.unlink(missing_ok=True)
            model.save(path)
        return model

    # -- matching -------------------------------------------------------------
    def match(self, kb: str, text: str, k: int = 5) -> MatchResult:
        t0 = time.perf_counter()
        pending = self._pending(kb)
        if pending:
            return self._lexical_match(kb, text, k, t0, pending)
        state = self._state[kb]
        t1 = time.perf_counter()
        flags: dict[str, float] = {}
        text = self._corrected(state.speller, text, flags)  # the typed question's typos, corrected
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
        return MatchResult(candidates[:k], passages, {**{key: round(v, 2) for key, v in timings.items()}, **flags})

    def _lexical_view(self, kb: str) -> _LexicalView:
        version = self.store.kb_version(kb)
        view = self._lexical.get(kb)
        if view is None or view.version != version:
            questions: dict[str, str] = {}
            phrasings: dict[str, list[str]] = {}
            for fid, kind, text in self.store.phrasings(kb):
                phrasings.setdefault(fid, []).append(text)
                if kind == "question":
                    questions[fid] = text
            view = self._lexical[kb] = _LexicalView(version, questions, phrasings)
            view.speller = self._speller([text for texts in phrasings.values() for text in texts])
        return view

    def _lexical_match(self, kb: str, text: str, k: int, t0: float, why: str) -> MatchResult:
        """Candidates from the lexical index alone, scored by word overlap (no embedding, no classifier)."""
        view = self._lexical_view(kb)
        flags: dict[str, float] = {}
        text = self._corrected(view.speller, text, flags)
        t1 = time.perf_counter()
        hits = self.store.lexical_search(kb, text, LEXICAL_K)
        t2 = time.perf_counter()
        best_lex = max((s for _, s in hits), default=0.0)
        query = _terms(text)
        scored = [(fid, bm25, *view.best(fid, query)) for fid, bm25 in hits if fid in view.questions]
        overlaps = [*sorted((overlap for _, _, overlap, _ in scored), reverse=True), 0.0, 0.0]
        candidates = []
        for fid, bm25, overlap, matched in scored:
            rival = overlaps[1] if overlap == overlaps[0] else overlaps[0]
            margin = min(max((overlap - rival) / LEXICAL_MARGIN, 0.0), 1.0)
            score = LEXICAL_CONFIDENCE * overlap * (LEXICAL_TIED + (1.0 - LEXICAL_TIED) * margin)
            relative = bm25 / best_lex if best_lex > 0 else 0.0
            candidates.append(Candidate(fid, score, view.questions[fid], matched, 0.0, relative, 0.0))
        candidates.sort(key=lambda c: (-c.score, -c.lexical, c.faq_id))
        t3 = time.perf_counter()
        _LOGGER.info("matching in %s from the lexical index only: %s", kb, why)
        timings = {
            "prepare": (t1 - t0) * 1000,
            "lexical": (t2 - t1) * 1000,
            "score": (t3 - t2) * 1000,
            "match_total": (t3 - t0) * 1000,
        }
        return MatchResult(
            candidates[:k], [], {**{key: round(v, 2) for key, v in timings.items()}, "lexical_only": 1.0, **flags}
        )
