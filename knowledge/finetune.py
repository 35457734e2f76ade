"""The overnight fine-tune: the sentence embedding trained on one knowledge base's own phrasings (SetFit-style).

Each entry's phrasings (its question and alternates) are positives of one another, the other entries'
phrasings in the same batch their negatives (sentence-transformers' MultipleNegativesRankingLoss, both
directions), on the CPU, seeded, within a time budget. Before training, a stable share of the alternates
of every entry with at least three phrasings is held out; after training, the real matcher
(:class:`knowledge.retrieval.Retriever`: index, classifier, calibration) is built once with the current
model and once with the new one on the remaining phrasings, and each is asked the held-out ones. The new
model is kept only if its held-out top-1 beats the current model's by more than ``min_gain``.

A kept model goes to ``$KIOSK_HOME/models/embeddings-<kb>-<timestamp>/`` (a sentence-transformers folder)
with the knowledge base's Chroma index and classifier built with it beside the model (``chroma/``,
``cache/``) and a report (``finetune.json``); only then is the pointer ``models/finetuned.json`` replaced
(one atomic rename), which :func:`knowledge.embeddings.choose_model` reads. Until that rename nothing a
kiosk uses has changed. Every run's report, whatever its outcome, is also kept in
``models/finetune-last.json`` (what the nightly schedule compares the knowledge base's version with).

``python -m knowledge.finetune --home DIR --kb NAME`` runs it in its own process (the nightly job does,
at low priority, so a visitor's question never waits for it); ``kiosk kb finetune`` runs it in the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.db import utcnow
from core.errors import KioskError, KnowledgeError
from knowledge.embeddings import CACHE_DIR, INDEX_DIR, POINTER, Embedder, choose_model
from knowledge.entries import FaqEntry, slugify
from knowledge.index import VectorIndex
from knowledge.retrieval import Retriever
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

PREFIX = "embeddings-"
PARTIAL = ".partial"  # a model still being trained: removed if the run ends any other way than kept
LAST_RUN = "finetune-last.json"
REPORT = "finetune.json"
LOCK = ".finetune.lock"
STOPPED = 3  # exit status of ``python -m knowledge.finetune`` when it was told to stop


class FinetuneStoppedError(KnowledgeError):
    """The fine-tune was told to stop (a visitor arrived, Ctrl+C): nothing it made is kept."""

    code = "finetune-stopped"


@dataclass(frozen=True)
class FinetuneOptions:
    """How one fine-tune trains and decides (defaults: what the Banking77 bench was run with)."""

    minutes: float = 20.0  # training time budget; the held-out check and the index build come on top
    epochs: int = 3  # passes over the phrasings (each phrasing once an anchor per pass)
    batch_size: int = 32  # distinct entries per batch: each pair's negatives are the batch's other pairs
    learning_rate: float = 2e-5
    heldout_fraction: float = 0.15  # of each entry's phrasings (entries with >= 3 phrasings)
    max_heldout: int = 600  # held-out questions in all (a bounded check on a large knowledge base)
    min_gain: float = 0.005  # held-out top-1 the new model must gain over the current one, beyond this fraction
    # (negative: a slightly worse model is switched to as well: for experiments and the bench)
    min_phrasings: float = 2.0  # phrasings per entry on average, below which a knowledge base is skipped
    seed: int = 0
    threads: int = 2  # torch threads while training
    max_steps: int | None = None  # at most this many optimizer steps (tests, quick benches)


@dataclass
class FinetuneReport:
    """What one run did: its outcome (switched, kept, skipped, stopped), why, and what it measured."""

    kb: str
    outcome: str = "skipped"
    reason: str = ""
    kb_version: int = 0
    entries: int = 0
    phrasings: int = 0
    heldout: int = 0
    train_pairs: int = 0
    steps: int = 0
    epochs: float = 0.0
    before_top1: float | None = None  # held-out top-1 of the current model's matcher
    after_top1: float | None = None  # ... and of the fine-tuned one's
    min_gain: float = 0.0
    train_seconds: float = 0.0
    check_seconds: float = 0.0
    index_seconds: float = 0.0
    total_seconds: float = 0.0
    model: str = ""  # the folder under $KIOSK_HOME/models now active (switched)
    model_mb: float = 0.0
    index_records: int = 0
    current_model: str = ""  # what the kiosk matched with before this run
    started: str = ""
    finished: str = ""

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        for key in ("train_seconds", "check_seconds", "index_seconds", "total_seconds", "epochs", "model_mb"):
            data[key] = round(float(data[key]), 2)
        for key in ("before_top1", "after_top1"):
            data[key] = None if data[key] is None else round(float(data[key]), 4)
        return data


# -- the data ------------------------------------------------------------------
def _unique(texts: list[str]) -> list[str]:
    seen: set[str] = set()
    return [t for t in texts if t and not (t in seen or seen.add(t))]


def _rank(seed: int, faq_id: str, text: str) -> str:
    """A stable pseudo-random order: the same phrasings are held out night after night."""
    return hashlib.sha1(f"{seed}\x1f{faq_id}\x1f{text}".encode()).hexdigest()


def too_few(groups: dict[str, list[str]], options: FinetuneOptions) -> str:
    """Why this knowledge base cannot be fine-tuned on (empty: it can)."""
    phrasings = sum(len(texts) for texts in groups.values())
    if len(groups) < 2:
        return f"it has {len(groups)} entries; the fine-tune contrasts entries with one another and needs 2 or more"
    if phrasings / len(groups) < options.min_phrasings:
        return (
            f"it has {phrasings / len(groups):.1f} phrasings per entry on average; the fine-tune needs "
            f"{options.min_phrasings:g} (add alternates, e.g. approve visitors' questions in the admin app)"
        )
    if not any(len(texts) >= 3 for texts in groups.values()):
        return "no entry has 3 phrasings: none can be held out to check the fine-tuned model"
    return ""


def split_phrasings(
    groups: dict[str, list[str]], options: FinetuneOptions
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """(phrasings to train on, by entry; held-out ``(text, entry id)``): from each entry with >= 3 phrasings a
    stable share of its alternates (never its question; two phrasings always stay), ``max_heldout`` in all."""
    held: list[tuple[str, str]] = []
    for fid, texts in groups.items():
        if len(texts) < 3:
            continue
        n = min(max(1, round(len(texts) * options.heldout_fraction)), len(texts) - 2)
        held += [(t, fid) for t in sorted(texts[1:], key=lambda t, f=fid: _rank(options.seed, f, t))[:n]]
    if len(held) > options.max_heldout:
        held = sorted(held, key=lambda h: _rank(options.seed, h[1], h[0]))[: options.max_heldout]
    out = set(held)
    train = {fid: [t for t in texts if (t, fid) not in out] for fid, texts in groups.items()}
    return train, sorted(held, key=lambda h: (h[1], h[0]))


def epoch_batches(groups: dict[str, list[str]], batch_size: int, rng: random.Random) -> list[list[tuple[str, str]]]:
    """One pass: every phrasing once as an anchor with another phrasing of its entry as its positive, in batches
    where no entry appears twice (the batch's other pairs are the negatives, so they must be other entries)."""
    pending: dict[str, list[tuple[str, str]]] = {}
    for fid, texts in groups.items():
        if len(texts) < 2:
            continue
        pairs = []
        for i, text in enumerate(texts):
            j = rng.randrange(len(texts) - 1)
            pairs.append((text, texts[j if j < i else j + 1]))
        rng.shuffle(pairs)
        pending[fid] = pairs
    batches = []
    while len(pending) >= 2:  # the entries with most pairs left go first: all run out together, batches stay full
        chosen = sorted(pending, key=lambda f: (-len(pending[f]), rng.random()))[:batch_size]
        batches.append([pending[f].pop() for f in chosen])
        for fid in chosen:
            if not pending[fid]:
                del pending[fid]
    return batches


# -- training -------------------------------------------------------------------
def _check(should_stop: Callable[[], bool]) -> None:
    if should_stop():
        raise FinetuneStoppedError("the fine-tune was stopped", hint="it starts over on its next run")


def train_model(
    base: Path,
    groups: dict[str, list[str]],
    out_dir: Path,
    options: FinetuneOptions,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[int, float, int]:
    """Fine-tune ``base`` on ``groups`` into ``out_dir``; (optimizer steps, passes done, pairs per pass).

    Stops early, keeping what it learned, when the time budget or ``max_steps`` is spent.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hf_logging.disable_progress_bar()
    torch.manual_seed(options.seed)
    torch.set_num_threads(max(1, options.threads))
    rng = random.Random(options.seed)
    model = SentenceTransformer(str(base), device="cpu")
    loss = MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"))
    epochs = [epoch_batches(groups, options.batch_size, rng) for _ in range(max(1, options.epochs))]
    total = sum(len(e) for e in epochs)
    if options.max_steps is not None:
        total = min(total, options.max_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.learning_rate)
    warmup = max(1, total // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    deadline = time.monotonic() + options.minutes * 60.0
    steps, done = 0, 0.0
    model.train()
    for batches in epochs:
        taken = 0
        for batch in batches:
            _check(should_stop)
            if steps >= total or time.monotonic() >= deadline:
                break
            features = [model.preprocess([a for a, _ in batch]), model.preprocess([p for _, p in batch])]
            value = loss(features, torch.zeros(0))
            value.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            steps += 1
            taken += 1
        done += taken / max(1, len(batches))
        if taken < len(batches):
            break
    _check(should_stop)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    pairs = sum(len(b) for b in epochs[0])
    _LOGGER.info("fine-tune: %d steps (%.2f passes over %d pairs) saved to %s", steps, done, pairs, out_dir)
    return steps, done, pairs


# -- the held-out check ---------------------------------------------------------------
def heldout_top1(
    model_path: Path,
    entries: list[FaqEntry],
    heldout: list[tuple[str, str]],
    should_stop: Callable[[], bool] = lambda: False,
) -> float:
    """Top-1 of the real matcher built with ``model_path`` on ``entries``, asked the ``heldout`` questions."""
    with tempfile.TemporaryDirectory(prefix="kiosk-finetune-check-") as work:
        root = Path(work)
        store = FaqStore.open(root / "check.db")
        store.create_kb("check", title="held-out check")
        store.replace_all("check", entries, changed_by="finetune")
        embedder = Embedder(model_path)
        index = VectorIndex(root / "chroma", embedder, status_root=root)
        retriever = Retriever(store=store, index=index, embedder=embedder, cache_dir=root / "cache")
        retriever.prepare("check", progress=lambda done, total: _check(should_stop))
        right = 0
        for i, (text, fid) in enumerate(heldout):
            if i % 16 == 0:
                _check(should_stop)
            top = retriever.match("check", text, k=1).top
            right += top is not None and top.faq_id == fid
    return right / len(heldout) if heldout else 0.0


# -- the files -----------------------------------------------------------------
def _write_json(path: Path, data: object) -> None:
    """Write ``path`` so that a reader sees the old file or the new one, never a half-written one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def switch(models_dir: Path, kb: str, folder: str, base: Path) -> None:
    """Make ``folder`` the model of ``kb``: one atomic replacement of ``finetuned.json``."""
    data = _read_json(models_dir / POINTER)
    active = data.get("active") if isinstance(data.get("active"), dict) else {}
    active[kb] = {"folder": folder, "base": str(base), "switched": utcnow()}
    _write_json(models_dir / POINTER, {"active": active})
    _LOGGER.info("knowledge base %s now matches with the fine-tuned model %s", kb, folder)


def last_runs(models_dir: Path) -> dict[str, dict]:
    """The last report of each knowledge base's fine-tune (``finetune-last.json``)."""
    return {k: v for k, v in _read_json(Path(models_dir) / LAST_RUN).items() if isinstance(v, dict)}


def _record(models_dir: Path, report: FinetuneReport) -> None:
    runs = last_runs(models_dir)
    runs[report.kb] = report.to_dict()
    _write_json(models_dir / LAST_RUN, runs)


def _folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _prune(models_dir: Path, kb: str, keep: set[str]) -> None:
    """Remove this knowledge base's fine-tuned folders but ``keep`` (the active one and the one it replaced, which
    a kiosk started before the switch may still use), and any leftover of a run that was killed."""
    for path in models_dir.glob(f"{PREFIX}{slugify(kb)}-*"):
        if path.is_dir() and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
            _LOGGER.info("removed the old fine-tuned model %s", path.name)


@contextlib.contextmanager
def _exclusive(models_dir: Path) -> Iterator[None]:
    with open(models_dir / LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KnowledgeError(
                "a fine-tune is already running in this kiosk home",
                code="finetune-busy",
                hint="wait for it to end (the nightly job, or another `kiosk kb finetune`)",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_partials(models_dir: Path) -> None:
    """Remove what runs that were killed left half-made: models in training, folders never switched to."""
    for path in Path(models_dir).glob(f"{PREFIX}*"):
        if path.is_dir() and (path.name.endswith(PARTIAL) or not (path / REPORT).is_file()):
            shutil.rmtree(path, ignore_errors=True)


def cleanup(models_dir: Path) -> None:
    """:func:`remove_partials`, unless a fine-tune is running now (its folders are not leftovers)."""
    if not Path(models_dir).is_dir():
        return
    with contextlib.suppress(KnowledgeError), _exclusive(Path(models_dir)):
        remove_partials(models_dir)


# -- one run ------------------------------------------------------------------
def finetune_kb(
    *,
    store: FaqStore,
    kb: str,
    base_model: Path,
    models_dir: Path,
    options: FinetuneOptions | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> FinetuneReport:
    """Fine-tune on ``kb``'s phrasings; switch the kiosk to the new model if the held-out check says so."""
    options = options or FinetuneOptions()
    began = time.perf_counter()
    models_dir = Path(models_dir)
    store.require_kb(kb)
    models_dir.mkdir(parents=True, exist_ok=True)
    report = FinetuneReport(kb=kb, started=utcnow(), min_gain=options.min_gain)
    with _exclusive(models_dir):
        remove_partials(models_dir)
        report.kb_version = store.kb_version(kb)
        entries = store.list(kb, enabled=True)
        groups = {e.id: _unique([e.question, *e.alternates]) for e in entries}
        report.entries, report.phrasings = len(groups), sum(len(t) for t in groups.values())
        current = choose_model(base_model, models_dir, kb)
        report.current_model = current.finetuned or str(current.model_path)
        report.reason = too_few(groups, options)
        if report.reason:
            _LOGGER.info("fine-tune of %s skipped: %s", kb, report.reason)
            return _finish(models_dir, report, began)
        train, heldout = split_phrasings(groups, options)
        report.heldout = len(heldout)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        final = models_dir / f"{PREFIX}{slugify(kb)}-{stamp}"
        partial = final.with_name(final.name + PARTIAL)
        try:
            t0 = time.perf_counter()
            report.steps, report.epochs, report.train_pairs = train_model(
                base_model, train, partial, options, should_stop
            )
            t1 = time.perf_counter()
            check = [dataclasses.replace(e, alternates=tuple(train[e.id][1:])) for e in entries]
            report.before_top1 = heldout_top1(current.model_path, check, heldout, should_stop)
            report.after_top1 = heldout_top1(partial, check, heldout, should_stop)
            t2 = time.perf_counter()
            report.train_seconds, report.check_seconds = t1 - t0, t2 - t1
            if report.after_top1 - report.before_top1 <= options.min_gain:
                report.outcome = "kept"
                report.reason = (
                    f"held-out top-1 {report.after_top1:.1%} after vs {report.before_top1:.1%} now: "
                    f"not better by more than {options.min_gain:.1%}; the current model stays"
                )
                shutil.rmtree(partial, ignore_errors=True)
                return _finish(models_dir, report, began)
            os.replace(partial, final)  # complete, not yet used by anything: the index is built beside it
            report.index_records = _build_index(store, kb, final, should_stop)
            report.index_seconds = time.perf_counter() - t2
            report.outcome, report.model = "switched", final.name
            report.reason = f"held-out top-1 {report.before_top1:.1%} → {report.after_top1:.1%}"
            report.model_mb = _folder_mb(final)
            report.total_seconds = time.perf_counter() - began
            _write_json(final / REPORT, report.to_dict())
            switch(models_dir, kb, final.name, base_model)
            _prune(models_dir, kb, {final.name, current.finetuned})
        except FinetuneStoppedError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            report.outcome, report.reason = "stopped", exc.message
            return _finish(models_dir, report, began, record=False)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            if report.outcome != "switched":
                shutil.rmtree(final, ignore_errors=True)
            raise
        return _finish(models_dir, report, began)


def _build_index(store: FaqStore, kb: str, folder: Path, should_stop: Callable[[], bool]) -> int:
    """The knowledge base's Chroma index and classifier built with the model in ``folder``, inside it."""
    embedder = Embedder(folder)
    index = VectorIndex(folder / INDEX_DIR, embedder, status_root=folder)
    retriever = Retriever(store=store, index=index, embedder=embedder, cache_dir=folder / CACHE_DIR)
    retriever.prepare(kb, force=True, progress=lambda done, total: _check(should_stop))
    return index.count(kb)


def _finish(models_dir: Path, report: FinetuneReport, began: float, *, record: bool = True) -> FinetuneReport:
    report.total_seconds = time.perf_counter() - began
    report.finished = utcnow()
    if record:  # a stopped run is not one: the nightly schedule tries again
        _record(models_dir, report)
    _LOGGER.info("fine-tune of %s: %s (%s)", report.kb, report.outcome, report.reason)
    return report


# -- python -m knowledge.finetune (the nightly job's process) ----------------------------
def lower_priority() -> None:
    """Be the last to run: nice 19, one core (the kiosk's turn keeps the others)."""
    with contextlib.suppress(OSError):
        os.nice(19)
    with contextlib.suppress(AttributeError, OSError):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})


def main(argv: list[str] | None = None) -> int:
    from core.home import KioskHome
    from core.models import ModelManager
    from core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m knowledge.finetune", description=__doc__.split("\n")[0])
    parser.add_argument("--home", default=None)
    parser.add_argument("--kb", required=True)
    parser.add_argument("--minutes", type=float, default=FinetuneOptions.minutes)
    parser.add_argument("--min-gain", type=float, default=FinetuneOptions.min_gain)
    parser.add_argument("--low-priority", action="store_true", help="nice 19, one core, one torch thread")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.low_priority:
        lower_priority()
    options = FinetuneOptions(minutes=args.minutes, min_gain=args.min_gain, threads=1 if args.low_priority else 2)
    try:
        home = KioskHome.resolve(args.home)
        settings = load_settings(home.settings_file)
        report = finetune_kb(
            store=FaqStore.open(home.database),
            kb=args.kb,
            base_model=ModelManager(settings=settings, home=home).require("embeddings"),
            models_dir=home.models_dir,
            options=options,
            should_stop=stop.is_set,
        )
    except KioskError as exc:
        print(json.dumps({"kb": args.kb, "outcome": "failed", "error": exc.to_dict()}), flush=True)
        return 2
    print(json.dumps(report.to_dict()), flush=True)
    return STOPPED if report.outcome == "stopped" else 0


if __name__ == "__main__":
    sys.exit(main())
