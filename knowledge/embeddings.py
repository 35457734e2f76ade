"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (no download, no Chroma default function)."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import KnowledgeError

_LOGGER = logging.getLogger(__name__)


class Embedder:
    """Normalized float32 embeddings; loads the model on first use, caches recent queries."""

    def __init__(self, model_path: Path | str, *, batch_size: int = 64, cache_size: int = 512) -> None:
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()

                    self._model = SentenceTransformer(str(self.model_path), device="cpu")
                except Exception as exc:
                    raise KnowledgeError(
                        f"cannot load the embedding model at {self.model_path}: {exc}",
                        code="embeddings-unavailable",
                        hint="check `kiosk doctor`; set models.embeddings to a sentence-transformers folder",
                    ) from exc
                _LOGGER.info("embedding model loaded from %s", self.model_path)
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (embedding now would not load it first)."""
        return self._model is not None

    def warm(self) -> None:
        """Load the model now (ahead of the first question)."""
        self._load()

    @property
    def dimension(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._load()
        import torch

        # One visitor question is fastest on one thread, and stays fast while the VAD, the wake word and the
        # renderer use the other core (two threads on a busy 2-core machine were measured 6x slower).
        # Index building (many texts) uses every core.
        threads = 1 if len(texts) <= 8 else (os.cpu_count() or 1)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        key = text.strip().lower()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        vector = self.embed([text])[0]
        self._cache[key] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vector
