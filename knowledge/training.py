"""Train a knowledge base's intent classifier in a child process: the running kiosk keeps drawing meanwhile.

Fitting the classifier (:meth:`knowledge.classifier.IntentClassifier.train`) is mostly SciPy's L-BFGS-B,
whose Fortran core holds Python's global interpreter lock for each of its steps (tens of milliseconds
each on a few thousand phrasings). In the kiosk's process that froze the avatar and captions for
0.1-1 s at a time, for the whole 10-20 s a retrain takes after an FAQ edit. In a child process at a
lower priority the same fit leaves the window's thread alone, and the kiosk answers from the previous
classifier until the new one is loaded.

    python -m knowledge.training INPUT.npz OUTPUT.npz

reads ``keys``, ``vectors`` and ``texts`` from INPUT and writes the trained model (the same ``.npz`` as
the classifier cache) to OUTPUT, or nothing when there is nothing to train (fewer than two entries).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.classifier import IntentClassifier

_LOGGER = logging.getLogger(__name__)

CHILD_NICE = 10  # below the kiosk's window and audio, above nothing else that matters
CHILD_TIMEOUT_S = 3600.0


def train_in_child(keys: Sequence[str], vectors: np.ndarray, texts: Sequence[str]) -> IntentClassifier | None:
    """:meth:`IntentClassifier.train` run in a child process; in this process when the child fails."""
    with tempfile.TemporaryDirectory(prefix="kiosk-train-") as tmp:
        source, target = Path(tmp) / "input.npz", Path(tmp) / "model.npz"
        np.savez(
            source,
            keys=np.array(list(keys), dtype=str),
            vectors=np.asarray(vectors, dtype=np.float32),
            texts=np.array(list(texts), dtype=str),
        )
        command = [sys.executable, "-m", "knowledge.training", str(source), str(target)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        root = Path(__file__).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _LOGGER.warning("classifier training in a child process failed (%s): training here", exc)
            return IntentClassifier.train(keys, vectors, texts)
        if done.returncode != 0:
            _LOGGER.warning(
                "classifier training in a child process exited with %d (%s): training here",
                done.returncode,
                done.stderr.strip().splitlines()[-1:] or "no message",
            )
            return IntentClassifier.train(keys, vectors, texts)
        if not target.exists():
            return None  # nothing to train, as IntentClassifier.train says
        model = IntentClassifier.load(target)
        return model if model is not None else IntentClassifier.train(keys, vectors, texts)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m knowledge.training INPUT.npz OUTPUT.npz", file=sys.stderr)
        return 2
    with contextlib.suppress(OSError):  # a lower priority is a courtesy, not a condition
        os.nice(CHILD_NICE)
    with np.load(args[0], allow_pickle=False) as data:
        keys = [str(k) for k in data["keys"]]
        vectors = data["vectors"]
        texts = [str(t) for t in data["texts"]]
    model = IntentClassifier.train(keys, vectors, texts)
    if model is not None:
        model.save(Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
