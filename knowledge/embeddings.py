"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (no download, no Chroma default function).

Which model a kiosk embeds with is :func:`choose_model`'s answer: the packaged (or configured) model,
unless the overnight fine-tune (:mod:`knowledge.finetune`) switched the kiosk's knowledge base to a
model trained on its own phrasings. The switch is one small file, ``$KIOSK_HOME/models/finetuned.json``,
replaced atomically; it names, per knowledge base, a folder under ``$KIOSK_HOME/models`` that holds the
fine-tuned sentence-transformers model together with the Chroma index and the classifiers built with
it (vectors of two models are not comparable, so each model keeps its own).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import KnowledgeError

_LOGGER = logging.getLogger(__name__)

POINTER = "finetuned.json"  # in $KIOSK_HOME/models: {"active": {kb: {"folder": ..., "base": ...}}}
INDEX_DIR = "chroma"  # inside a fine-tuned folder: the index built with that model
CACHE_DIR = "cache"  # inside a fine-tuned folder: the classifiers trained on that model's vectors


@dataclass(frozen=True)
class EmbeddingChoice:
    """The sentence encoder a kiosk matches with, and where the index and classifiers built with it live."""

    model_path: Path
    index_dir: Path | None = None  # None: the kiosk home's chroma/
    cache_dir: Path | None = None  # None: the kiosk home's cache/
    finetuned: str = ""  # the fine-tuned folder's name; "" for the base model


def read_pointer(models_dir: Path) -> dict[str, dict[str, str]]:
    """The fine-tuned model active for each knowledge base (empty when none, or the file is unreadable)."""
    path = Path(models_dir) / POINTER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        _LOGGER.warning("ignoring %s (%s): matching uses the base embedding model", path, exc)
        return {}
    active = data.get("active") if isinstance(data, dict) else None
    return {k: v for k, v in active.items() if isinstance(v, dict)} if isinstance(active, dict) else {}


def choose_model(base: Path, models_dir: Path, kb: str) -> EmbeddingChoice:
    """The model to embed with for a kiosk answering from ``kb``: its fine-tuned model when the pointer names one
    that was trained from ``base`` and is complete on disk, else ``base`` itself."""
    entry = read_pointer(models_dir).get(kb)
    if not entry:
        return EmbeddingChoice(Path(base))
    folder = Path(models_dir) / str(entry.get("folder", ""))
    if entry.get("base") and Path(str(entry["base"])) != Path(base):
        _LOGGER.warning("the fine-tuned model %s was trained from another base model: using %s", folder.name, base)
        return EmbeddingChoice(Path(base))
    if not entry.get("folder") or not (folder / "modules.json").is_file() or not (folder / INDEX_DIR).is_dir():
        _LOGGER.warning("the fine-tuned model %s named in %s is missing: using %s", folder.name, POINTER, base)
        return EmbeddingChoice(Path(base))
    return EmbeddingChoice(folder, folder / INDEX_DIR, folder / CACHE_DIR, folder.name)


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
