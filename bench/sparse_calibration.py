"""Fit the calibrator used for knowledge bases with (almost) no alternates: ``SPARSE_CALIBRATION``.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/sparse_calibration.py --json

A knowledge base whose entries have one phrasing each (a bank's FAQ list as imported) gives the
per-knowledge-base calibration of :mod:`knowledge.classifier` nothing to hold out, so its
calibrator is fitted once, here, on CLINC150's ``tune`` split (as ``bench/matching.py --split tune``):
a third of the intents (seeded) is left out of the knowledge base, the others become entries built
from their first training query alone; the held-out queries of the kept intents are in scope, those
of the left-out intents (near misses, as in the per-knowledge-base calibration) and ``oos_train``
are out of scope. The held-out questions go through the real index and classifier; each gives
:data:`knowledge.classifier.CALIBRATION_TOP` candidate rows of (log p + log N, margin, cosine), N
being the number of entries (so that one calibration serves 65 entries and 1,500). The log-p weight
and the bias are fitted (margin and cosine weights as in :data:`knowledge.classifier.DEFAULT_CALIBRATION`),
out-of-scope rows weighing half; then the bias is lowered until :data:`OOS_TARGET` of the
out-of-scope questions score below the clarify threshold, as a kiosk should rather hand off than
answer a near miss. The faq-typos and demo data sets are never used for it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from knowledge.classifier import CALIBRATION_TOP, DEFAULT_CALIBRATION, calibrated, candidate_features  # noqa: E402

_LOGGER = logging.getLogger(__name__)


def features(services, kb: str, rows: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, correct, is_oos) rows for the held-out questions, as :meth:`Retriever.match` scores them."""
    retriever = services.retriever
    retriever.prepare(kb)
    state = retriever._state[kb]
    feats, correct, oos = [], [], []
    for text, expected in rows:
        query = retriever._corrected(state.speller, text, {})
        vector = services.embedder.embed_query(query)
        log_probs = np.zeros(len(state.entries))
        log_probs[state.class_order] = state.classifier.log_probabilities(vector, query)
        dense = np.maximum.reduceat(state.vectors @ vector, np.asarray(state.starts[:-1]))
        f = candidate_features(log_probs, dense)
        top = np.argsort(-f[:, 0])[:CALIBRATION_TOP]
        feats.append(f[top])
        correct.append(np.array([state.entries[j] == expected for j in top]) & bool(expected))
        oos.append(np.full(len(top), not expected))
    return np.vstack(feats), np.concatenate(correct), np.concatenate(oos)


def fit_log_p(feats: np.ndarray, correct: np.ndarray, is_oos: np.ndarray) -> tuple[float, float]:
    """(log-p weight, bias) of the weighted logistic calibrator, margin and cosine weights fixed."""
    from scipy.optimize import minimize

    weights = np.where(is_oos, 0.5 / is_oos.sum(), 0.5 / (~is_oos).sum())
    y = correct.astype(np.float64)
    offset = DEFAULT_CALIBRATION[1] * feats[:, 1] + DEFAULT_CALIBRATION[2] * feats[:, 2]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-np.clip(feats[:, 0] * w[0] + w[1] + offset, -30.0, 30.0)))
        nll = -(weights * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum()
        grad_z = weights * (p - y)
        return float(nll + 1e-3 * w[0] ** 2), np.array([grad_z @ feats[:, 0] + 2e-3 * w[0], grad_z.sum()])

    result = minimize(loss, np.array([0.82, -1.0]), jac=True, method="L-BFGS-B", options={"gtol": 1e-9})
    return float(result.x[0]), float(result.x[1])


OOS_TARGET = 0.95
SEED = 0


def tune_rows() -> tuple[list, list[tuple[str, str]]]:
    """(entries of two thirds of CLINC150's intents, one phrasing each; held-out (text, expected) rows)."""
    import random

    from bench.matching import clinc150, entries_from

    kept, held = clinc150("tune")
    intents = sorted({label for _, label in kept})
    random.Random(SEED).shuffle(intents)
    left_out = set(intents[: len(intents) // 3])
    entries, ids = entries_from([(t, label) for t, label in kept if label not in left_out], 0)
    return entries, [(t, ids[label] if label and label not in left_out else "") for t, label in held]


def main() -> None:
    import tempfile

    from bench.matching import _services
    from core.settings import DialogSection

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    entries, rows = tune_rows()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as home:
        services = _services(Path(home))
        services.store.create_kb("clinc150", title="clinc150", language="en")
        services.store.replace_all("clinc150", entries, changed_by="bench")
        feats, correct, is_oos = features(services, "clinc150", rows)
    feats[:, 0] += np.log(len(entries))  # log p relative to the uniform 1 / N
    a, bias = fit_log_p(feats, correct, is_oos)
    clarify = DialogSection().clarify_threshold
    top_oos = feats.reshape(-1, CALIBRATION_TOP, 3)[is_oos.reshape(-1, CALIBRATION_TOP)[:, 0]]
    while True:  # the out-of-scope questions' best candidates below the clarify threshold
        weights = (a, DEFAULT_CALIBRATION[1], DEFAULT_CALIBRATION[2], bias)
        best = calibrated(top_oos.reshape(-1, 3), weights).reshape(-1, CALIBRATION_TOP).max(axis=1)
        if (best < clarify).mean() >= OOS_TARGET:
            break
        bias -= 0.05
    scores = calibrated(feats, weights)
    out = {
        "entries": len(entries),
        "questions": len(rows),
        "out_of_scope": int(is_oos.reshape(-1, CALIBRATION_TOP)[:, 0].sum()),
        "calibration": tuple(round(float(w), 3) for w in weights),
        "oos_below_clarify": round(float((best < clarify).mean()), 3),
        "mean_score_correct": round(float(scores[correct].mean()), 3),
    }
    print(json.dumps(out) if args.json else out, file=sys.stdout, flush=True)


if __name__ == "__main__":
    main()
