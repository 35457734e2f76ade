"""``kiosk kb``, ``kiosk ask`` and ``kiosk eval``: the knowledge base and the answer policy from the shell."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import click

from core.backup import backup_quietly
from core.errors import KnowledgeError
from kiosk.context import AppContext, pass_app
from knowledge.entries import Document, slugify
from knowledge.io import FORMATS, ImportFailedError, decode, export, parse_file

EVAL_KEYS = ("n", "in_scope_n", "oos_n", "top1", "top3", "in_scope_accuracy", "oos_recall", "ms_per_query")
KB_OPTION = click.option("--kb", "kb_name", default=None, help="Knowledge base (default: dialog.knowledge_base).")


class _Progress:
    """A click progress bar fed with (done, total) callbacks."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _prepare_index(services, name: str, label: str = "indexing", *, force: bool = False):
    """Bring ``name``'s index up to date with a progress bar on stderr; an interrupted build resumes."""
    progress = _Progress(label)
    try:
        report = services.retriever.prepare(name, force=force, progress=progress)
    finally:
        progress.close()
    if report is not None and report.skipped and report.missing:
        click.echo(
            f"the index of {name!r} is being built by another process ({report.missing} phrasings to go): "
            "answering from the lexical index",
            err=True,
        )
    elif report is not None and report.added and report.kept:
        click.echo(f"index {name}: resumed, {report.kept} already indexed, {report.added} embedded", err=True)
    return report


@click.group()
def kb() -> None:
    """Knowledge bases: list, import, export, reindex."""


@kb.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def kb_list(app: AppContext, as_json: bool) -> None:
    """Knowledge bases in this kiosk home (the default one is created on first use)."""
    services = app.services
    services.kb_name()  # make sure the default exists
    infos = services.store.list_kbs()
    if as_json:
        click.echo(json.dumps([info.__dict__ for info in infos], indent=2))
        return
    default = app.settings.dialog.knowledge_base
    for info in infos:
        mark = "*" if info.name == default else " "
        click.echo(
            f"{mark} {info.name:<12} {info.faq_count:>5} entries {info.alternate_count:>6} alternates "
            f"{info.document_count:>3} documents  {info.title}"
        )


@kb.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@KB_OPTION
@click.option("--replace", is_flag=True, help="Entries not in FILE are removed (soft delete, restorable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Default: from the extension.")
@click.option("--title", default="", help="Title of a new knowledge base (the institution's name).")
@click.option("--dry-run", is_flag=True, help="Check the file and report, change nothing.")
@click.option("--skip-bad", is_flag=True, help="Import the good rows and report the bad ones.")
@pass_app
def kb_import(
    app: AppContext,
    file: Path,
    kb_name: str | None,
    replace: bool,
    fmt: str | None,
    title: str,
    dry_run: bool,
    skip_bad: bool,
) -> None:
    """Import FAQs from CSV, JSONL or Markdown. A file with any bad row imports nothing (unless --skip-bad)."""
    name = kb_name or app.settings.dialog.knowledge_base
    result = parse_file(file, fmt)
    if result.problems or not result.entries:
        for problem in result.problems:
            click.echo(f"{file.name}: {problem}", err=True)
        if not (skip_bad and result.only_bad_rows):
            result.raise_for_problems(file.name)
        if replace:  # the skipped rows' entries would be deleted: refuse rather than lose them
            raise ImportFailedError(
                f"{file.name}: {len(result.problems)} bad row(s); --skip-bad cannot be used with --replace",
                hint="fix the rows named above, or import without --replace",
            )
        click.echo(f"{file.name}: {len(result.problems)} bad row(s) skipped (listed above)", err=True)
        problems = f"{len(result.problems)} bad row(s) skipped"
    else:
        problems = "no problems"
    click.echo(f"{file.name}: {len(result.entries)} entries, {result.alternate_count} alternates, {problems}")
    if dry_run:
        return
    services = app.services
    store = services.store
    if not store.kb_exists(name):
        store.create_kb(name, title=title or name)
    elif not replace:
        existing = {e.id for e in store.list(name)}
        updated = sum(e.id in existing for e in result.entries)
        if updated:
            click.echo(f"{updated} existing entries will be updated (new revisions)")
    if replace:
        saved = backup_quietly(app.home.database, "pre-import")  # a failed backup is logged, never blocks
        if saved is not None:
            click.echo(f"backup of the database before the import: {saved.path}", err=True)
    with click.progressbar(length=len(result.entries), label="storing", file=sys.stderr) as bar:
        count = store.replace_all(name, result.entries, replace_existing=replace, changed_by="cli", progress=bar.update)
    report = _prepare_index(services, name)
    click.echo(f"imported {count} entries into {name!r}")
    if report is not None:
        click.echo(f"index: +{report.added} -{report.removed} phrasings, {report.total} in all")


@kb.command("add-document")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@KB_OPTION
@click.option("--id", "doc_id", default=None, help="Document id (default: from the file name).")
@click.option("--title", default=None)
@pass_app
def kb_add_document(app: AppContext, file: Path, kb_name: str | None, doc_id: str | None, title: str | None) -> None:
    """Add a longer Markdown or text document; the kiosk answers from its passages."""
    services = app.services
    name = services.kb_name(kb_name)
    body = decode(file.read_bytes(), file.name)
    doc = services.store.add_document(
        name, Document(doc_id or slugify(file.stem), title or file.stem.replace("-", " "), body)
    )
    services.retriever.prepare(name)
    click.echo(f"added {doc.id!r} to {name!r}: {len(doc.chunks)} passages")


@kb.command("export")
@KB_OPTION
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Default: stdout.")
@click.option("--spreadsheet-safe", is_flag=True, help="Escape cells a spreadsheet would run as formulas.")
@pass_app
def kb_export(app: AppContext, kb_name: str | None, fmt: str, out: Path | None, spreadsheet_safe: bool) -> None:
    """Export a knowledge base (re-importable)."""
    services = app.services
    name = services.kb_name(kb_name)
    text = export(services.store.list(name), fmt, title=services.store.kb_title(name), spreadsheet=spreadsheet_safe)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@kb.command("reindex")
@KB_OPTION
@click.option("--all", "all_kbs", is_flag=True, help="Every knowledge base.")
@pass_app
def kb_reindex(app: AppContext, kb_name: str | None, all_kbs: bool) -> None:
    """Rebuild the Chroma index and the classifier from SQLite."""
    services = app.services
    names = [i.name for i in services.store.list_kbs()] if all_kbs else [services.kb_name(kb_name)]
    for name in names:
        start = time.perf_counter()
        services.index.drop(name)
        report = _prepare_index(services, name, f"indexing {name}", force=True)
        total = report.total if report else 0
        click.echo(f"{name}: {total} phrasings indexed in {time.perf_counter() - start:.1f} s")


@click.command()
@click.argument("text")
@KB_OPTION
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-llm", is_flag=True, help="Never generate; answer from entries only.")
@click.option(
    "--language", default=None, metavar="CODE", help="Answer from the entries in this language (multilingual KBs)."
)
@pass_app
def ask(app: AppContext, text: str, kb_name: str | None, as_json: bool, no_llm: bool, language: str | None) -> None:
    """Ask the kiosk a question in text; prints its answer."""
    from dialog.policy import Conversation

    policy = app.services.policy(kb_name, with_llm=not no_llm)
    _prepare_index(app.services, policy.kb)  # a (resumed) build shows its progress, on stderr
    answer = policy.answer(text, Conversation(language=language or ""))
    if as_json:
        click.echo(json.dumps(answer.to_dict()))
        return
    click.echo(answer.text)
    score = "" if answer.score is None else f", score {answer.score:.2f}"
    click.echo(f"[{answer.mode}{', ' + answer.faq_id if answer.faq_id else ''}{score}]", err=True)
    for choice in answer.choices:
        click.echo(f"  - {choice.question}  ({choice.faq_id})")


@click.group("eval")
def eval_group() -> None:
    """Measure the answer policy on a labelled question file."""


@eval_group.command("retrieval")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@KB_OPTION
@click.option("--json", "as_json", is_flag=True)
@click.option("--errors", "show_errors", is_flag=True, help="Also list the rows answered wrongly.")
@pass_app
def eval_retrieval(app: AppContext, file: Path, kb_name: str | None, as_json: bool, show_errors: bool) -> None:
    """FILE is CSV ``text,expected_id`` (empty expected_id = out of scope)."""
    rows = _read_eval_rows(file)
    services = app.services
    policy = services.policy(kb_name, log_turns=False)
    _prepare_index(services, policy.kb)
    known = {e.id for e in services.store.list(policy.kb)}
    unknown = sorted({exp for _, exp in rows if exp and exp not in known})
    if unknown:
        raise KnowledgeError(
            f"{file.name}: expected_id not in {policy.kb!r}: {', '.join(unknown[:10])}", code="eval-invalid"
        )
    from dialog.evaluation import evaluate

    report, errors = evaluate(policy, rows)
    report = {key: report[key] for key in EVAL_KEYS}  # the documented contract
    if as_json:
        click.echo(json.dumps(report))
    else:
        for key, value in report.items():
            click.echo(f"{key:<18} {value}")
    if show_errors:
        for err in errors:
            click.echo(json.dumps(err), err=True)


def _read_eval_rows(file: Path) -> list[tuple[str, str]]:
    text = decode(file.read_bytes(), file.name)
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"text", "expected_id"} <= set(reader.fieldnames):
        raise ImportFailedError(f"{file.name}: header must be text,expected_id (got {reader.fieldnames})")
    rows = []
    for row in reader:
        if (row.get("text") or "").strip():
            rows.append((row["text"].strip(), (row.get("expected_id") or "").strip()))
    if not rows:
        raise ImportFailedError(f"{file.name}: no rows")
    return rows


@kb.command("finetune")
@KB_OPTION
@click.option("--minutes", type=click.FloatRange(0.1, 600.0), default=None, help="Training time budget.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def kb_finetune(app: AppContext, kb_name: str | None, minutes: float | None, as_json: bool) -> None:
    """Fine-tune the sentence embedding on the knowledge base's own phrasings now; switch to it if a held-out check
    improves by more than [learning] min_gain (the kiosk does this at night by itself: [learning] finetune_at)."""
    from knowledge.finetune import FinetuneOptions, FinetuneStoppedError, finetune_kb

    services = app.services
    name = services.kb_name(kb_name)
    learning = app.settings.learning
    options = FinetuneOptions(
        minutes=minutes if minutes is not None else learning.max_minutes, min_gain=learning.min_gain
    )
    try:
        report = finetune_kb(
            store=services.store,
            kb=name,
            base_model=services.models.require("embeddings"),
            models_dir=app.home.models_dir,
            options=options,
            should_stop=lambda: False,
        )
    except KeyboardInterrupt:
        raise FinetuneStoppedError("the fine-tune was interrupted: nothing changed") from None
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(f"{name}: {report.outcome}: {report.reason}")
    if report.before_top1 is not None:
        click.echo(
            f"  held-out top-1 {report.before_top1:.1%} → {report.after_top1:.1%} on {report.heldout} phrasings; "
            f"{report.steps} steps ({report.epochs:.2f} passes) in {report.train_seconds:.0f} s, "
            f"{report.total_seconds:.0f} s in all"
        )
    if report.outcome == "switched":
        applies = name == app.settings.dialog.knowledge_base
        click.echo(
            f"  model: {app.home.models_dir / report.model} ({report.model_mb:.0f} MB, index of {report.index_records} "
            f"phrasings); {'the kiosk uses it from its next start' if applies else 'used when it is the kiosk knowledge base'}"
        )
