"""Answers from a knowledge base's documents (exhibit texts): the passage sentence that answers, and how sure.

The policy asks once per question, while deciding: a passage the retrieval found close enough answers the
question only when :func:`dialog.extractive.extract` finds a sentence in it that does (its confidence at
least ``MIN_CONFIDENCE``); otherwise the question goes on to the entries and, failing them, the hand-off,
so "how much is the egg worth?" over a text that never says is handed off rather than answered with some
other sentence about the egg. The same extract is what the visitor hears (cached, so it is worked out once).

The answer is the passage's own sentence, without the LLM: on a loaded 2-core kiosk, letting SmolLM2 compose
whenever the sentence was less sure took the dev set's p95 latency from 0.4 s to 16 s (its prompt is read
before any time cap applies) for one more fact in 51. The LLM composes only a question about several things
at once ("who made it and when?") that no one sentence is sure of, within ``policy.DOCUMENT_LLM_S``, and only
a composition that passes the grounding check is said.

Sentences are ranked with the knowledge base's own sentence embedder when the retriever has it loaded
(the question's vector is the one the retrieval already made; sentence vectors are kept in a bounded
cache), and each passage's document title names what its sentences are about.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from dialog.extractive import Extract, extract
from knowledge.retrieval import Passage
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

MIN_CONFIDENCE = 0.25  # below this no sentence of the passages answers the question: not answered from them
SURE_CONFIDENCE = 0.35  # at or above this the passage's sentence is the answer even to a two-part question
_CACHE = 2048  # sentence vectors kept
_EXTRACTS = 32  # recent extracts kept (a decision made earlier is answered from the same one)


class DocumentAnswers:
    """Extractive answers from one store's documents, with the retriever's embedder when it is loaded."""

    def __init__(self, *, store: FaqStore, retriever: object) -> None:
        self.store = store
        self.retriever = retriever
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._titles: dict[str, tuple[int, dict[str, str]]] = {}  # kb -> (version, doc id -> title)
        self._extracts: OrderedDict[tuple[str, str, tuple[str, ...]], Extract | None] = OrderedDict()
        self._lock = threading.Lock()  # the pause decision and the answer may ask from two threads

    def extract(self, kb: str, question: str, passages: Sequence[Passage]) -> Extract | None:
        """The sentence or two of ``passages`` that answer ``question`` (see :mod:`dialog.extractive`)."""
        with self._lock:
            return self._extract(kb, question, passages)

    def _extract(self, kb: str, question: str, passages: Sequence[Passage]) -> Extract | None:
        key = (kb, question, tuple(f"{p.key}:{hash(p.text)}" for p in passages))
        if key in self._extracts:
            self._extracts.move_to_end(key)
            return self._extracts[key]
        embedder = getattr(self.retriever, "embedder", None)
        usable = embedder is not None and getattr(embedder, "loaded", False)
        found = extract(
            question,
            [p.text for p in passages],
            similarity=self._similarity if usable else None,
            topics=self._topics(kb, passages),
            priors=[p.similarity for p in passages],
        )
        self._extracts[key] = found
        if len(self._extracts) > _EXTRACTS:
            self._extracts.popitem(last=False)
        return found

    def _topics(self, kb: str, passages: Sequence[Passage]) -> list[str]:
        """Each passage's document title ("great auk egg"), read again only when the knowledge base changes."""
        version = self.store.kb_version(kb)
        cached = self._titles.get(kb)
        if cached is None or cached[0] != version:
            cached = (version, {doc.id: doc.title for doc in self.store.documents(kb)})
            self._titles[kb] = cached
        return [cached[1].get(p.key.rsplit("#", 1)[0], "") for p in passages]

    def _similarity(self, question: str, sentences: Sequence[str]) -> list[float]:
        embedder = self.retriever.embedder  # type: ignore[attr-defined]
        missing = list(dict.fromkeys(s for s in sentences if s not in self._vectors))
        if missing:
            for sentence, vector in zip(missing, embedder.embed(missing), strict=True):
                self._vectors[sentence] = vector
        for sentence in sentences:
            self._vectors.move_to_end(sentence)
        while len(self._vectors) > _CACHE:
            self._vectors.popitem(last=False)
        asked = embedder.embed_query(question)
        return [float(self._vectors[s] @ asked) for s in sentences]
