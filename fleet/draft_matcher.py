""" "Try a question" on a draft: the kiosk's own answer policy over the draft's entries, before publishing.

The server process keeps one private kiosk home in a temporary folder (SQLite, Chroma, the packaged
MiniLM, the classifier: :class:`runtime.services.KioskServices`, exactly what a kiosk answers with). A
draft is copied into it only when its revision differs from the one loaded last, and the index then
re-syncs incrementally (only changed phrasings are embedded), so the first question after an edit
costs a moment and the next ones are instant. No language model, nothing logged.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.entries import FaqEntry

if TYPE_CHECKING:
    from dialog.events import Answer
    from knowledge.embeddings import Embedder
    from runtime.services import KioskServices

_LOGGER = logging.getLogger(__name__)

MAX_QUESTION = 500


@dataclass
class TriedAnswer:
    answer: Answer
    matched: FaqEntry | None
    candidates: list[dict[str, Any]] = field(default_factory=list)


class DraftMatcher:
    """Answers questions from drafts with the real matcher; one per server process, thread-safe."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = Path(root) if root else Path(tempfile.mkdtemp(prefix="kiosk-fleet-try-"))
        if root is None:
            weakref.finalize(self, shutil.rmtree, str(self._root), True)
        self._lock = threading.Lock()
        self._loaded: dict[str, int] = {}  # kb -> draft revision copied into the private home
        self._services: KioskServices | None = None

    def _wired(self) -> KioskServices:
        if self._services is None:
            from core.home import KioskHome
            from core.settings import load_settings
            from runtime.services import KioskServices

            home = KioskHome(self._root).ensure()
            self._services = KioskServices(settings=load_settings(None, env={}), home=home)
        return self._services

    def loaded_embedder(self) -> Embedder | None:
        """The sentence encoder if a question already loaded it (the unanswered page groups by meaning then)."""
        return None if self._services is None else self._services.loaded_embedder()

    def loaded_revision(self, kb: str) -> int | None:
        return self._loaded.get(kb)

    def _load(self, kb: str, revision: int, entries: list[FaqEntry]) -> None:
        services = self._wired()
        store = services.store
        if self._loaded.get(kb) == revision:
            return
        if not store.kb_exists(kb):
            store.create_kb(kb, title=kb)
        if entries:
            store.replace_all(kb, entries, replace_existing=True, changed_by="draft")
        else:
            for entry in store.list(kb):
                store.delete(kb, entry.id, changed_by="draft")
        services.retriever.prepare(kb)  # blocking: the page waits for the real index, never a lexical stand-in
        self._loaded[kb] = revision
        _LOGGER.info("try a question: draft of %s revision %d loaded (%d entries)", kb, revision, len(entries))

    def ask(self, kb: str, revision: int, entries: list[FaqEntry], question: str) -> TriedAnswer:
        """The answer to ``question`` from these entries (``revision`` names them: loaded again only when new)."""
        with self._lock:
            self._load(kb, revision, entries)
            services = self._wired()
            answer = services.policy(kb, with_llm=False, log_turns=False).answer(question[:MAX_QUESTION])
            matched = services.store.get(kb, answer.faq_id) if answer.faq_id else None
        candidates = [
            {"faq_id": c.faq_id, "score": c.score, "question": c.question, "matched": c.matched,
             "dense": c.dense, "lexical": c.lexical}
            for c in answer.candidates[:5]
        ]  # fmt: skip
        return TriedAnswer(answer, matched, candidates)
