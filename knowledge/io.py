"""Import and export of knowledge bases: CSV, JSONL and Markdown.

Parsing never writes: it returns every entry it could read together with every
problem found (line number and reason). The caller stores nothing unless the
whole file is clean, so a broken file changes nothing.

CSV: header ``id,question,answer,alternates,category,language`` (optional
``spoken_answer``, ``enabled``); ``alternates`` is one cell of phrasings separated by ``|``.
JSONL: one object per line with the same keys; ``alternates`` is a list.
Markdown: ``## question`` headings with the answer below; optional leading
``id:``, ``alternates:`` (``|``-separated), ``category:`` and ``language:`` lines.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import KnowledgeError
from knowledge.entries import FaqEntry, slugify

FORMATS = ("csv", "jsonl", "md")
CSV_REQUIRED = ("id", "question", "answer", "alternates", "category", "language")
CSV_OPTIONAL = ("spoken_answer", "enabled")
MAX_FILE_BYTES = 50 * 1024 * 1024
_TRUE = {"1", "true", "yes", "y", "on", ""}
_FALSE = {"0", "false", "no", "n", "off"}


class ImportFailedError(KnowledgeError):
    code = "kb-import-invalid"


@dataclass(frozen=True)
class ImportProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParseResult:
    entries: list[FaqEntry] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # entry id -> line

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.entries)

    @property
    def alternate_count(self) -> int:
        return sum(len(e.alternates) for e in self.entries)

    def raise_for_problems(self, source: str) -> None:
        if self.ok:
            return
        problems = self.problems or [ImportProblem(0, "no entries found")]
        shown = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise ImportFailedError(
            f"{source}: {len(problems)} problem(s), nothing imported: {shown}{more}",
            hint="fix the file and import again; the knowledge base is unchanged",
        )


def detect_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise ImportFailedError(f"unknown format {explicit!r}", hint=f"one of: {', '.join(FORMATS)}")
        return explicit
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "md": "md", "markdown": "md"}.get(suffix)
    if fmt is None:
        raise ImportFailedError(
            f"{path.name}: cannot tell the format from the extension {path.suffix!r}",
            hint="use .csv, .jsonl or .md, or pass --format",
        )
    return fmt


def decode(data: bytes, source: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise ImportFailedError(f"{source}: file is larger than {MAX_FILE_BYTES // (1 << 20)} MB")
    if b"\x00" in data[:4096]:
        raise ImportFailedError(f"{source}: this looks like a binary file, not CSV, JSONL or Markdown text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailedError(
            f"{source}: not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})",
            hint="save the file as UTF-8",
        ) from exc


def _split_alternates(raw: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in raw.split("|") if a.strip())


def _add(result: ParseResult, entry: FaqEntry, line: int, seen: dict[str, int]) -> None:
    entry = entry.normalized()
    problems = entry.problems()
    if entry.id in seen:
        problems.append(f"id {entry.id!r} already used on line {seen[entry.id]}")
    if problems:
        result.problems += [ImportProblem(line, p) for p in problems]
        return
    seen[entry.id] = line
    result.entries.append(entry)
    result.lines[entry.id] = line


def _unique_slug(question: str, seen: dict[str, int], taken: set[str]) -> str:
    base = slugify(question)
    slug, n = base, 2
    while slug in seen or slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _parse_bool(raw: object) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def parse_csv(text: str) -> ParseResult:
    result = ParseResult()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        result.problems.append(ImportProblem(1, "empty file: expected a header row"))
        return result
    reader.fieldnames = header
    missing = [c for c in CSV_REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_REQUIRED + CSV_OPTIONAL]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        expected = ",".join(CSV_REQUIRED)
        result.problems.append(ImportProblem(1, f"header: {'; '.join(parts)} (expected {expected})"))
        return result
    seen: dict[str, int] = {}
    taken: set[str] = set()
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                result.problems.append(ImportProblem(line, f"more cells than the {len(header)} header columns"))
                continue
            if all(not (v or "").strip() for v in row.values()):
                continue
            if any(v is None for v in row.values()):
                result.problems.append(ImportProblem(line, f"fewer cells than the {len(header)} header columns"))
                continue
            enabled = _parse_bool(row.get("enabled", ""))
            if enabled is None:
                result.problems.append(ImportProblem(line, f"enabled must be true or false, got {row['enabled']!r}"))
                continue
            faq_id = row["id"].strip() or _unique_slug(row["question"], seen, taken)
            entry = FaqEntry(
                id=faq_id,
                question=row["question"],
                answer=row["answer"],
                spoken_answer=row.get("spoken_answer", "") or "",
                alternates=_split_alternates(row["alternates"]),
                category=row["category"],
                language=row["language"].strip() or "en",
                enabled=enabled,
            )
            _add(result, entry, line, seen)
    except csv.Error as exc:
        result.problems.append(ImportProblem(reader.line_num, f"malformed CSV: {exc}"))
    return result


def parse_jsonl(text: str) -> ParseResult:
    result = ParseResult()
    seen: dict[str, int] = {}
    taken: set[str] = set()
    allowed = set(CSV_REQUIRED + CSV_OPTIONAL)
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            result.problems.append(ImportProblem(line, f"not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(obj, dict):
            result.problems.append(ImportProblem(line, "each line must be a JSON object"))
            continue
        unknown = sorted(set(obj) - allowed)
        if unknown:
            result.problems.append(ImportProblem(line, f"unknown key(s) {', '.join(unknown)}"))
            continue
        alternates = obj.get("alternates", [])
        if isinstance(alternates, str):
            alternates = list(_split_alternates(alternates))
        if not isinstance(alternates, list) or not all(isinstance(a, str) for a in alternates):
            result.problems.append(ImportProblem(line, "alternates must be a list of strings"))
            continue
        strings = {k: obj.get(k, "") for k in ("id", "question", "answer", "spoken_answer", "category", "language")}
        bad = [k for k, v in strings.items() if not isinstance(v, str)]
        if bad:
            result.problems.append(ImportProblem(line, f"{', '.join(bad)} must be text"))
            continue
        enabled = _parse_bool(obj.get("enabled", True))
        if enabled is None:
            result.problems.append(ImportProblem(line, "enabled must be true or false"))
            continue
        faq_id = strings["id"].strip() or _unique_slug(strings["question"], seen, taken)
        entry = FaqEntry(
            id=faq_id,
            question=strings["question"],
            answer=strings["answer"],
            spoken_answer=strings["spoken_answer"],
            alternates=tuple(alternates),
            category=strings["category"],
            language=strings["language"] or "en",
            enabled=enabled,
        )
        _add(result, entry, line, seen)
    return result


_META = re.compile(r"^(id|alternates|category|language|spoken_answer|spoken)\s*:\s*(.*)$", re.IGNORECASE)


def parse_markdown(text: str) -> ParseResult:
    result = ParseResult()
    seen: dict[str, int] = {}
    taken: set[str] = set()
    blocks: list[tuple[int, str, list[str]]] = []
    in_fence = False
    for line_no, raw in enumerate(text.splitlines(), 1):
        if raw.strip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and raw.startswith("## "):
            blocks.append((line_no, raw[3:].strip(), []))
        elif blocks:
            blocks[-1][2].append(raw)
        elif raw.strip() and not raw.startswith("# "):
            result.problems.append(ImportProblem(line_no, "text before the first '## question' heading"))
    for line_no, question, body in blocks:
        meta: dict[str, str] = {}
        lines = list(body)
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and (match := _META.match(lines[0].strip())):
            key = match.group(1).lower()
            meta["spoken_answer" if key == "spoken" else key] = match.group(2).strip()
            lines.pop(0)
        answer = "\n".join(lines).strip()
        entry = FaqEntry(
            id=meta.get("id") or _unique_slug(question, seen, taken),
            question=question,
            answer=answer,
            spoken_answer=meta.get("spoken_answer", ""),
            alternates=_split_alternates(meta.get("alternates", "")),
            category=meta.get("category", ""),
            language=meta.get("language", "en") or "en",
        )
        _add(result, entry, line_no, seen)
    return result


PARSERS = {"csv": parse_csv, "jsonl": parse_jsonl, "md": parse_markdown}


def parse_file(path: Path, fmt: str | None = None) -> ParseResult:
    fmt = detect_format(path, fmt)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailedError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return PARSERS[fmt](decode(data, path.name))


# -- export -----------------------------------------------------------------
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Stop spreadsheets from running a cell as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(_FORMULA) else value


def export_csv(entries: Iterable[FaqEntry], *, spreadsheet: bool = False) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_REQUIRED, *CSV_OPTIONAL])
    cell = spreadsheet_safe if spreadsheet else (lambda v: v)
    for e in entries:
        row = [e.id, e.question, e.answer, " | ".join(e.alternates), e.category, e.language, e.spoken_answer]
        writer.writerow([cell(v) for v in row] + ["true" if e.enabled else "false"])
    return buffer.getvalue()


def export_jsonl(entries: Iterable[FaqEntry]) -> str:
    return "".join(json.dumps(e.content(), ensure_ascii=False) + "\n" for e in entries)


def export_markdown(entries: Iterable[FaqEntry], title: str = "") -> str:
    parts = [f"# {title}\n"] if title else []
    for e in entries:
        meta = [f"id: {e.id}"]
        if e.alternates:
            meta.append("alternates: " + " | ".join(e.alternates))
        if e.category:
            meta.append(f"category: {e.category}")
        if e.language != "en":
            meta.append(f"language: {e.language}")
        if e.spoken_answer:
            meta.append(f"spoken: {e.spoken_answer}")
        parts.append(f"## {e.question}\n" + "\n".join(meta) + f"\n\n{e.answer}\n")
    return "\n".join(parts)


def export(entries: Iterable[FaqEntry], fmt: str, *, title: str = "", spreadsheet: bool = False) -> str:
    if fmt == "csv":
        return export_csv(entries, spreadsheet=spreadsheet)
    if fmt == "jsonl":
        return export_jsonl(entries)
    if fmt == "md":
        return export_markdown(entries, title)
    raise ImportFailedError(f"unknown format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
