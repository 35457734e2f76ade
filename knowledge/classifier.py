"""A small classifier learned from the alternates, trained at index time on CPU.

Multinomial logistic regression over the sentence embeddings of every phrasing:
the alternates an operator writes are training examples for their entry. It is
deterministic (fixed solver, no random state involved), takes seconds for
10,000 alternates, and is cached on disk under a fingerprint of the training
set, so it is retrained only when the knowledge base changes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)

FORMAT_VERSION = 1


def fingerprint(record_ids: Sequence[str], params: str = "") -> str:
    digest = hashlib.sha1(f"v{FORMAT_VERSION}|{params}".encode())
    for rid in sorted(record_ids):
        digest.update(rid.encode())
    return digest.hexdigest()[:16]


@dataclass
class IntentClassifier:
    """Linear softmax model: probabilities over the knowledge base's entries."""

    classes: list[str]
    coef: np.ndarray  # (n_classes, dim)
    intercept: np.ndarray  # (n_classes,)
    temperature: float = 1.0

    @classmethod
    def train(cls, keys: Sequence[str], vectors: np.ndarray, *, c: float = 8.0) -> IntentClassifier | None:
        labels = sorted(set(keys))
        if len(labels) < 2:
            return None
        from sklearn.linear_model import LogisticRegression

        start = time.perf_counter()
        model = LogisticRegression(C=c, max_iter=400, tol=1e-4)
        model.fit(vectors, list(keys))
        _LOGGER.info(
            "classifier trained on %d phrasings, %d entries in %.1f s",
            len(keys),
            len(labels),
            time.perf_counter() - start,
        )
        return cls(
            list(model.classes_),
            model.coef_.astype(np.float32),
            model.intercept_.astype(np.float32),
        )

    def probabilities(self, vector: np.ndarray) -> dict[str, float]:
        logits = (self.coef @ vector + self.intercept) / self.temperature
        logits -= logits.max()
        exp = np.exp(logits)
        probs = exp / exp.sum()
        return dict(zip(self.classes, probs.tolist(), strict=True))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            classes=np.array(self.classes, dtype=object).astype(str),
            coef=self.coef,
            intercept=self.intercept,
            temperature=np.array([self.temperature]),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentClassifier | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    [str(c) for c in data["classes"]],
                    data["coef"],
                    data["intercept"],
                    float(data["temperature"][0]),
                )
        except (OSError, KeyError, ValueError) as exc:
            _LOGGER.warning("ignoring unreadable classifier cache %s: %s", path, exc)
            return None
