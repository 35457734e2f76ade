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

import codecs
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
    whole_file: bool = False  # the file cannot be read past it (a bad header, broken CSV): no row can be trusted

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason  # line 0: the file as a whole


@dataclass
class ParseResult:
    entries: list[FaqEntry] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # entry id -> line

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.entries)

    @property
    def only_bad_rows(self) -> bool:
        """Whether every problem is one row's own, so the other rows can be imported (``--skip-bad``)."""
        return bool(self.entries) and not any(p.whole_file for p in self.problems)

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


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _looks_like_utf16(head: bytes) -> bool:
    """Text saved as UTF-16 without a byte-order mark: mostly ASCII, so every other byte is zero."""
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    return max(even.count(0) / len(even), odd.count(0) / len(odd)) > 0.9 and min(even.count(0), odd.count(0)) == 0


def decode(data: bytes, source: str) -> str:
    """The text of an import file: UTF-8 (with or without a BOM), or UTF-16/32 with a BOM (Excel's "Unicode text")."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportFailedError(f"{source}: file is larger than {MAX_FILE_BYTES // (1 << 20)} MB")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ImportFailedError(
                    f"{source}: starts like {encoding.upper()} text but is not valid {encoding.upper()} "
                    f"(byte {exc.start})",
                    hint="save the file as UTF-8",
                ) from exc
    if _looks_like_utf16(data[:4096]):
        raise ImportFailedError(
            f"{source}: this looks like UTF-16 text without a byte-order mark",
            hint="save it as UTF-8 (in a spreadsheet: CSV UTF-8)",
        )
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
        result.problems.append(ImportProblem(1, "empty file: expected a header row", whole_file=True))
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
        result.problems.append(ImportProblem(1, f"header: {'; '.join(parts)} (expected {expected})", whole_file=True))
        return result
    seen: dict[str, int] = {}
    taken: set[str] = set()
    rows = reader.reader  # the plain csv reader under the header: each record's first and last line are known
    last_line = len(io.StringIO(text, newline="").readlines())  # counted as the reader counts them
    odd_quotes = text.count('"') % 2 == 1
    while True:
        start = rows.line_num + 1  # a record's problems are reported on the line where it starts
        try:
            cells_list = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            result.problems.append(ImportProblem(start, f"malformed CSV: {exc}", whole_file=True))
            break
        end = rows.line_num
        if all(not c.strip() for c in cells_list):
            continue
        unclosed = end >= last_line and odd_quotes  # the file ends inside a quoted cell
        if end > start and (swallowed := _swallowed_row(cells_list, header)) is not None:
            until = "is never closed" if unclosed else f"is not closed until line {end}"
            result.problems.append(
                ImportProblem(
                    start,
                    f"a quote opened on this line {until}, so the rows after it (such as {swallowed!r}) "
                    "were read as one cell: add the missing closing quote",
                )
            )
            continue
        spans = f" (this row runs on to line {end}: is a closing quote missing?)" if end > start else ""
        if unclosed:
            spans = " (a quote opened on this line is never closed)"
        if len(cells_list) != len(header):
            fewer_more = "more" if len(cells_list) > len(header) else "fewer"
            result.problems.append(
                ImportProblem(start, f"{fewer_more} cells than the {len(header)} header columns{spans}")
            )
            continue
        row = dict(zip(header, cells_list, strict=True))
        enabled = _parse_bool(row.get("enabled", ""))
        if enabled is None:
            result.problems.append(ImportProblem(start, f"enabled must be true or false, got {row['enabled']!r}"))
            continue
        cells = {k: spreadsheet_unsafe(v) for k, v in row.items() if k != "enabled"}  # see export_csv
        faq_id = cells["id"].strip() or _unique_slug(cells["question"], seen, taken)
        entry = FaqEntry(
            id=faq_id,
            question=cells["question"],
            answer=cells["answer"],
            spoken_answer=cells.get("spoken_answer", ""),
            alternates=_split_alternates(cells["alternates"]),
            category=cells["category"],
            language=cells["language"].strip() or "en",
            enabled=enabled,
        )
        _add(result, entry, start, seen)
    if not result.entries and not result.problems:
        result.problems.append(ImportProblem(1, "the file has a header row but no entries below it"))
    return result


_LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_ID_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


def _swallowed_row(cells: list[str], header: list[str]) -> str | None:
    """A line inside a multi-line cell that is itself a whole row (an unclosed quote ran over it), or None.

    Such a line has one cell per column, an id-like first cell (or none) and the record's own language
    (any language code when the record is cut short), so a long answer with commas is not mistaken for one.
    """
    id_at, language_at = header.index("id"), header.index("language")
    own = cells[language_at].strip().lower() if len(cells) == len(header) else None
    for cell in cells:
        for line in cell.splitlines()[1:]:
            try:
                inner = next(csv.reader([line]))
            except (csv.Error, StopIteration):
                continue
            if len(inner) != len(header) or not (not inner[id_at].strip() or _ID_LIKE.match(inner[id_at].strip())):
                continue
            language = inner[language_at].strip().lower()
            if (own is not None and language == own) or (
                own is None and (not language or _LANGUAGE_CODE.match(language))
            ):
                return line[:60]
    return None


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
_QUOTE = "'"


def spreadsheet_safe(value: str) -> str:
    """Stop spreadsheets from running a cell as a formula (OWASP CSV injection): a leading ``'``.

    Reversible (:func:`spreadsheet_unsafe` undoes exactly this): a text that itself starts with
    ``'`` followed by a formula character or another ``'`` gets one more, so import can tell them
    apart. Any other text is unchanged ("'Tis the season" stays as it is).
    """
    if value.startswith(_FORMULA) or (value.startswith(_QUOTE) and value[1:].startswith((*_FORMULA, _QUOTE))):
        return _QUOTE + value
    return value


def spreadsheet_unsafe(cell: str) -> str:
    """The text :func:`spreadsheet_safe` was given: one leading ``'`` dropped where it added one."""
    if cell.startswith(_QUOTE) and cell[1:].startswith((*_FORMULA, _QUOTE)):
        return cell[1:]
    return cell


def export_csv(entries: Iterable[FaqEntry], *, spreadsheet: bool = True) -> str:
    """CSV, every text cell spreadsheet-safe (``spreadsheet`` is kept for old callers: CSV is always safe).

    :func:`parse_csv` undoes the escaping, so export → import → export gives the same bytes.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_REQUIRED, *CSV_OPTIONAL])
    for e in entries:
        row = [e.id, e.question, e.answer, " | ".join(e.alternates), e.category, e.language, e.spoken_answer]
        writer.writerow([spreadsheet_safe(v) for v in row] + ["true" if e.enabled else "false"])
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


def export(entries: Iterable[FaqEntry], fmt: str, *, title: str = "", spreadsheet: bool = True) -> str:
    if fmt == "csv":
        return export_csv(entries, spreadsheet=spreadsheet)
    if fmt == "jsonl":
        return export_jsonl(entries)
    if fmt == "md":
        return export_markdown(entries, title)
    raise ImportFailedError(f"unknown format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
