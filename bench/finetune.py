"""The overnight fine-tune on Banking77 (and CLINC150): the matcher before and after, one JSON object per run.

    .venv/bin/python bench/finetune.py --alternates 10 --json
    .venv/bin/python bench/finetune.py --json                       # every alternate (slow on 2 cores)
    .venv/bin/python bench/finetune.py --dataset clinc150 --alternates 10 --json

The knowledge base and its held-out questions are those of ``bench/matching.py`` (Banking77 ``dev``: a
stratified 15 % of ``train.csv`` held out, seed 0; CLINC150: ``train`` against ``val`` + ``oos_val``), in
a temporary kiosk home whose ``dialog.knowledge_base`` is that knowledge base. It is measured through the
answer policy, then :func:`knowledge.finetune.finetune_kb` runs on it exactly as ``kiosk kb finetune``
does (its own held-out check on the knowledge base's phrasings included), forced to switch
(``min_gain`` -1) so that the fine-tuned model can be measured whatever the check said; ``would_switch``
reports the check's decision at the default margin. The "after" figures come from new services that
resolve the model through the switch pointer, like a kiosk started after the switch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.matching import DatasetMissingError, _measure, _services, banking77, clinc150, entries_from  # noqa: E402
from core.settings import load_settings  # noqa: E402
from knowledge.finetune import FinetuneOptions, finetune_kb  # noqa: E402

KEYS = ("top1", "top3", "in_scope_accuracy", "oos_recall", "ms_per_query")


def run(name: str, alternates: int | None, options: FinetuneOptions) -> dict[str, object]:
    kept, held = banking77("dev") if name == "banking77" else clinc150("dev")
    entries, ids = entries_from(kept, alternates)
    rows = [(t, ids.get(label, "") if label else "") for t, label in held]
    defaults = load_settings(None, env={})
    settings = dataclasses.replace(defaults, dialog=dataclasses.replace(defaults.dialog, knowledge_base=name))
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-finetune-") as home:
        services = _services(Path(home), settings)
        services.store.create_kb(name, title=name, language="en")
        services.store.replace_all(name, entries, changed_by="bench")
        before = _measure(services, name, rows, "dev")
        began = time.perf_counter()
        report = finetune_kb(
            store=services.store,
            kb=name,
            base_model=services.models.require("embeddings"),
            models_dir=services.home.models_dir,
            options=dataclasses.replace(options, min_gain=-1.0),
        )
        finetune_seconds = time.perf_counter() - began
        after_services = _services(Path(home), settings)
        if not after_services.embedding_choice.finetuned:
            raise RuntimeError(f"the fine-tuned model was not switched to: {report.reason}")
        after = _measure(after_services, name, rows, "dev")
    gain = (report.after_top1 or 0.0) - (report.before_top1 or 0.0)
    return {
        "dataset": name,
        "split": "dev",
        "alternates_cap": alternates,
        "n_entries": before["n_entries"],
        "n_alternates": before["n_alternates"],
        "n_questions": before["n"],
        "before": {key: before[key] for key in KEYS},
        "after": {key: after[key] for key in KEYS},
        "heldout_check": {
            "n": report.heldout,
            "before_top1": report.before_top1,
            "after_top1": report.after_top1,
            "would_switch": gain > FinetuneOptions.min_gain,
        },
        "training": {
            "steps": report.steps,
            "epochs": round(report.epochs, 2),
            "pairs_per_epoch": report.train_pairs,
            "batch_size": options.batch_size,
            "threads": options.threads,
            "train_seconds": round(report.train_seconds, 1),
            "check_seconds": round(report.check_seconds, 1),
            "index_seconds": round(report.index_seconds, 1),
            "finetune_total_seconds": round(finetune_seconds, 1),
            "model_mb": round(report.model_mb, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("banking77", "clinc150"), default="banking77")
    parser.add_argument("--alternates", type=int, default=None, help="at most N alternates per entry")
    parser.add_argument("--minutes", type=float, default=FinetuneOptions.minutes, help="training time budget")
    parser.add_argument("--epochs", type=int, default=FinetuneOptions.epochs)
    parser.add_argument("--threads", type=int, default=FinetuneOptions.threads, help="torch threads while training")
    parser.add_argument("--json", action="store_true", help="one JSON object (the default prints it indented)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    options = FinetuneOptions(minutes=args.minutes, epochs=args.epochs, threads=args.threads)
    try:
        result = run(args.dataset, args.alternates, options)
    except DatasetMissingError as exc:
        print(f"skipped {args.dataset}: {exc}", file=sys.stderr)
        return
    print(json.dumps(result) if args.json else json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
