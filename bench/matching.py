"""Question-matching benchmark on Banking77, CLINC150 and the demo knowledge bases.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/matching.py --dataset all --json
    .venv/bin/python bench/matching.py --dataset banking77 --alternates 10 --json
    .venv/bin/python bench/matching.py --dataset clinc150 --split tune      # for tuning, never reported
    .venv/bin/python bench/matching.py --dataset clinc150 --target-oos-recall 0.85 --json
    .venv/bin/python bench/matching.py --dataset small --json
    .venv/bin/python bench/matching.py --dataset faq-typos --json

Each intent becomes one FAQ entry (question = its first training query, the next
ones its alternates, answer "Answer for <intent>"), written into a temporary
kiosk home through the real code path (``KioskServices``, ``FaqStore.replace_all``,
``Retriever.prepare``); then every held-out query goes through
``AnswerPolicy.decide``, exactly what ``kiosk eval retrieval`` does.

Splits (fixed seeds):
- banking77 ``dev``: a stratified 15 % of ``train.csv`` held out, the KB built from the other 85 %;
  ``tune``: a further stratified 15 % of those 85 % held out, the KB built from the rest.
- clinc150 ``dev``: KB from ``train``, evaluated on ``val`` + ``oos_val``;
  ``tune``: 20 % of each intent of ``train`` held out, plus ``oos_train``, the KB built from the rest.
- demo: the shipped demo KBs against ``bench/data/<name>_eval.csv``.
- small: an operator's first knowledge base, too small to calibrate on itself (fewer than 6
  entries: :data:`knowledge.classifier.DEFAULT_CALIBRATION` scores it): :data:`SMALL_SUBSETS`
  random sets of 2, 3 and 5 entries of each demo KB, each asked all of that demo's held-out
  questions (those of entries outside the set, and the demo's own out-of-scope ones, are out of scope).
- faq-typos: a real FAQ list with long answers and no alternates (``bench/data/faq_typos.json``), its
  questions typed with typos by a fixed, seeded procedure, plus out-of-scope questions (``bench/faq_typos.py``).

Thresholds are the settings' defaults (``dialog.faq_threshold`` / ``dialog.clarify_threshold``)
unless ``--target-oos-recall R`` is given: then the answer threshold is chosen on the ``tune``
split (the lowest of :data:`THRESHOLD_GRID` whose out-of-scope recall there is at least R,
the out-of-scope threshold :data:`CLARIFY_GAP` below it) and the ``dev`` split is measured with
it, as an operator would set the two settings for a kiosk that should answer more readily.

The data sets are read from ``../shared/datasets`` (relative to the repository root) and
never copied into the repository; a missing data set is skipped with a message.
Prints one JSON object per run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.home import KioskHome  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from dialog.evaluation import evaluate  # noqa: E402
from knowledge.entries import FaqEntry, slugify  # noqa: E402

_LOGGER = logging.getLogger(__name__)

DATASETS = ROOT.parent / "shared" / "datasets"
DEMOS = ("bank", "metro", "museum")
SEED = 0
THRESHOLD_GRID = (0.45, 0.4, 0.35, 0.3, 0.25, 0.2)
CLARIFY_GAP = 0.05
SMALL_SIZES = (2, 3, 5)
SMALL_SUBSETS = 8  # per size and demo knowledge base


class DatasetMissingError(Exception):
    """A data set is not available here."""


def _stratified_split(rows: list[tuple[str, str]], fraction: float, seed: int):
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    kept, held = [], []
    for label in sorted(by_label):
        group = list(by_label[label])
        rng.shuffle(group)
        n_held = max(1, round(len(group) * fraction))
        held.extend(group[:n_held])
        kept.extend(group[n_held:])
    return kept, held


def banking77(split: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    path = DATASETS / "banking77" / "train.csv"
    if not path.exists():
        raise DatasetMissingError(f"{path} not found (Banking77 is read from ../shared/datasets, never copied here)")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [(r["text"].strip(), r["category"].strip()) for r in csv.DictReader(fh) if r["text"].strip()]
    kept, held = _stratified_split(rows, 0.15, SEED)
    if split == "tune":
        kept, held = _stratified_split(kept, 0.15, SEED + 1)
    return kept, held


def clinc150(split: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    path = DATASETS / "clinc150" / "data_full_train_val.json"
    if not path.exists():
        raise DatasetMissingError(f"{path} not found (CLINC150 is read from ../shared/datasets, never copied here)")
    data = json.loads(path.read_text(encoding="utf-8"))
    train = [(t, i) for t, i in data["train"]]
    if split == "tune":
        kept, held = _stratified_split(train, 0.2, SEED)
        return kept, held + [(t, "") for t, _ in data["oos_train"]]
    return train, [(t, i) for t, i in data["val"]] + [(t, "") for t, _ in data["oos_val"]]


def entries_from(rows: list[tuple[str, str]], alternates: int | None) -> tuple[list[FaqEntry], dict[str, str]]:
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in rows:
        if text not in by_label[label]:
            by_label[label].append(text)
    entries, ids = [], {}
    for label in sorted(by_label):
        texts = by_label[label]
        ids[label] = slugify(label)
        alts = texts[1:] if alternates is None else texts[1 : 1 + alternates]
        entries.append(
            FaqEntry(id=ids[label], question=texts[0], answer=f"Answer for {label}.", alternates=tuple(alts))
        )
    return entries, ids


def _settings(faq_threshold: float | None = None) -> Settings:
    settings = load_settings(None)
    if faq_threshold is None:
        return settings
    dialog = dataclasses.replace(
        settings.dialog, faq_threshold=faq_threshold, clarify_threshold=round(faq_threshold - CLARIFY_GAP, 4)
    )
    return dataclasses.replace(settings, dialog=dialog)


def _services(home: Path, settings: Settings | None = None):
    from runtime.services import KioskServices

    kiosk_home = KioskHome(home)
    return KioskServices(settings=settings or load_settings(None), home=kiosk_home)


@contextlib.contextmanager
def _dataset_kb(name: str, split: str, alternates: int | None, settings: Settings | None = None):
    """(services, rows): a temporary kiosk home holding the data set's split as knowledge base ``name``,
    and its held-out questions as ``(text, expected_id)`` rows."""
    kept, held = banking77(split) if name == "banking77" else clinc150(split)
    entries, ids = entries_from(kept, alternates)
    rows = [(t, ids.get(label, "") if label else "") for t, label in held]
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as home:
        services = _services(Path(home), settings)
        services.store.create_kb(name, title=name, language="en")
        services.store.replace_all(name, entries, changed_by="bench")
        yield services, rows


def run_benchmark(
    name: str, split: str, alternates: int | None, faq_threshold: float | None = None
) -> dict[str, object]:
    with _dataset_kb(name, split, alternates, _settings(faq_threshold)) as (services, rows):
        return _measure(services, name, rows, split)


def choose_threshold(name: str, alternates: int | None, target_oos_recall: float) -> dict[str, object]:
    """The lowest answer threshold of THRESHOLD_GRID whose out-of-scope recall on the tune split reaches the target."""
    from dialog.policy import AnswerPolicy

    chosen: dict[str, object] = {}
    with _dataset_kb(name, "tune", alternates) as (services, rows):
        if all(expected for _, expected in rows):
            raise DatasetMissingError(f"{name}'s tune split has no out-of-scope questions to choose a threshold on")
        services.retriever.prepare(name)
        for threshold in THRESHOLD_GRID:
            dialog = _settings(threshold).dialog
            policy = AnswerPolicy(
                kb=name,
                store=services.store,
                retriever=services.retriever,
                dialog=dialog,
                llm_settings=services.settings.llm,
                llm=None,
                turn_log=None,
            )
            report, _ = evaluate(policy, rows)
            _LOGGER.info("tune split at %.2f: %s", threshold, report)
            if report["oos_recall"] is not None and report["oos_recall"] < target_oos_recall:
                break
            chosen = {
                "faq_threshold": threshold,
                "clarify_threshold": dialog.clarify_threshold,
                "tune_in_scope_accuracy": report["in_scope_accuracy"],
                "tune_oos_recall": report["oos_recall"],
            }
    if not chosen:
        raise DatasetMissingError(
            f"no threshold reaches {target_oos_recall} out-of-scope recall on {name}'s tune split"
        )
    return chosen


def run_demo(name: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as home:
        services = _services(Path(home))
        services.kb_name(name)  # installs the demo
        return _measure(services, name, _eval_rows(name), "eval")


def _eval_rows(name: str) -> list[tuple[str, str]]:
    path = ROOT / "bench" / "data" / f"{name}_eval.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [(r["text"].strip(), (r.get("expected_id") or "").strip()) for r in csv.DictReader(fh)]
    return [r for r in rows if r[0]]


def run_faq_typos() -> dict[str, object]:
    """The FAQ list without alternates, asked with typos (see :mod:`bench.faq_typos`)."""
    from bench.faq_typos import load

    entries, rows = load()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as home:
        services = _services(Path(home))
        services.store.create_kb("faq-typos", title="Public services", language="en")
        services.store.replace_all("faq-typos", entries, changed_by="bench")
        return _measure(services, "faq-typos", rows, "typed")


def run_small() -> list[dict[str, object]]:
    """Knowledge bases of 2, 3 and 5 entries drawn from the demos (see the module's docstring)."""
    from knowledge.demo import demo_file
    from knowledge.io import parse_jsonl

    rng = random.Random(SEED)
    totals: dict[int, dict[str, float]] = {k: defaultdict(float) for k in SMALL_SIZES}
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as home:
        services = _services(Path(home))
        for demo in DEMOS:
            parsed = parse_jsonl(demo_file(demo).read_text(encoding="utf-8"))
            entries = [e for e in parsed.entries if e.language == "en"]
            questions = _eval_rows(demo)
            for size in SMALL_SIZES:
                for i in range(SMALL_SUBSETS):
                    kb = f"small-{demo}-{size}-{i}"
                    chosen = rng.sample(entries, size)
                    ids = {e.id for e in chosen}
                    services.store.create_kb(kb, title="Small", language="en")
                    services.store.replace_all(kb, chosen, changed_by="bench")
                    services.retriever.prepare(kb)
                    policy = services.policy(kb, with_llm=False, log_turns=False)
                    report, _ = evaluate(policy, [(t, e if e in ids else "") for t, e in questions])
                    total = totals[size]
                    total["knowledge_bases"] += 1
                    for key, count in (("in_scope", "in_scope_n"), ("oos", "oos_n")):
                        total[f"{key}_n"] += report[count]  # type: ignore[operator]
                    total["answered"] += report["in_scope_accuracy"] * report["in_scope_n"]  # type: ignore[operator]
                    total["top1"] += report["top1"] * report["in_scope_n"]  # type: ignore[operator]
                    total["oos_ok"] += report["oos_recall"] * report["oos_n"]  # type: ignore[operator]
    return [
        {
            "dataset": "small",
            "entries": size,
            "knowledge_bases": int(t["knowledge_bases"]),
            "in_scope_n": int(t["in_scope_n"]),
            "oos_n": int(t["oos_n"]),
            "top1": round(t["top1"] / t["in_scope_n"], 4),
            "in_scope_accuracy": round(t["answered"] / t["in_scope_n"], 4),
            "oos_recall": round(t["oos_ok"] / t["oos_n"], 4),
        }
        for size, t in totals.items()
    ]


def _measure(services, kb: str, rows: list[tuple[str, str]], split: str) -> dict[str, object]:
    start = time.perf_counter()
    services.retriever.prepare(kb)
    index_seconds = time.perf_counter() - start
    entries = services.store.list(kb)
    policy = services.policy(kb, with_llm=False, log_turns=False)
    policy.decide("warm up the embedding model")
    report, _ = evaluate(policy, rows)
    return {
        "dataset": kb,
        "split": split,
        "n_entries": len(entries),
        "n_alternates": sum(len(e.alternates) for e in entries),
        "index_seconds": round(index_seconds, 1),
        **report,
    }


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dataset", choices=("banking77", "clinc150", "demo", "small", "faq-typos", "all"), default="all"
    )
    parser.add_argument("--alternates", type=int, default=None, help="at most N alternates per entry")
    parser.add_argument("--split", choices=("dev", "tune"), default="dev")
    parser.add_argument(
        "--target-oos-recall",
        type=_fraction,
        default=None,
        help="choose the answer threshold on the tune split for this out-of-scope recall, then measure dev",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line (the default prints a table)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    names = ["banking77", "clinc150", "demo", "small", "faq-typos"] if args.dataset == "all" else [args.dataset]
    for name in names:
        try:
            if name == "demo":
                results = [run_demo(demo) for demo in DEMOS]
            elif name == "small":
                results = run_small()
            elif name == "faq-typos":
                results = [run_faq_typos()]
            elif args.target_oos_recall is not None:
                point = choose_threshold(name, args.alternates, args.target_oos_recall)
                result = run_benchmark(name, "dev", args.alternates, float(point["faq_threshold"]))
                results = [{**result, "operating_point": {"target_oos_recall": args.target_oos_recall, **point}}]
            else:
                results = [run_benchmark(name, args.split, args.alternates)]
        except DatasetMissingError as exc:
            print(f"skipped {name}: {exc}", file=sys.stderr)
            continue
        for result in results:
            if args.alternates is not None and name not in ("demo", "small", "faq-typos"):
                result["alternates_cap"] = args.alternates
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
