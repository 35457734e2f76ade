"""Import and export: every bad row reported with its line, nothing half-imported."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from knowledge.io import (
    ImportFailedError,
    export,
    parse_csv,
    parse_file,
    parse_jsonl,
    parse_markdown,
    spreadsheet_safe,
)

GOOD_CSV = """id,question,answer,alternates,category,language
hours,When are you open?,"Monday to Friday, 9 to 5.",opening hours | what time do you open,hours,en
parking,Where can I park?,Behind the building.,car park|parking spaces,facilities,
"""


def test_csv_good_file() -> None:
    result = parse_csv(GOOD_CSV)
    assert result.ok
    assert [e.id for e in result.entries] == ["hours", "parking"]
    assert result.entries[0].alternates == ("opening hours", "what time do you open")
    assert result.entries[1].language == "en"


def test_csv_reports_every_bad_row_with_its_line() -> None:
    text = (
        "id,question,answer,alternates,category,language\n"
        "a,Question A?,Answer A.,,x,en\n"
        "b,,Answer B.,,x,en\n"  # line 3: empty question
        "a,Question C?,Answer C.,,x,en\n"  # line 4: duplicate id
        'c,"Multi\nline question?",,,x,en\n'  # lines 5-6: empty answer, reported at its last line
        "d,Question D?,Answer D.,,x,english\n"  # line 7: bad language
        "e,Q?,A.,,x,en,extra\n"  # line 8: too many cells
    )
    result = parse_csv(text)
    reasons = {p.line: p.reason for p in result.problems}
    assert "question is empty" in reasons[3]
    assert "already used on line 2" in reasons[4]
    assert "answer is empty" in reasons[6]
    assert "language 'english'" in reasons[7]
    assert "more cells" in reasons[8]
    assert not result.ok
    with pytest.raises(ImportFailedError, match="nothing imported"):
        result.raise_for_problems("faq.csv")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("question,answer\n", "missing column(s) id, alternates, category, language"),
        ("id,question,answer,alternates,category,language,colour\n", "unknown column(s) colour"),
        ("", "empty file"),
    ],
)
def test_csv_header_problems(header: str, reason: str) -> None:
    result = parse_csv(header + "x,y\n" if header else "")
    assert reason in result.problems[0].reason
    assert result.problems[0].line == 1


def test_csv_without_ids_gets_unique_slugs() -> None:
    text = "id,question,answer,alternates,category,language\n,Where is the toilet?,Ground floor.,,,en\n,Where is the toilet?!,First floor.,,,en\n"
    ids = [e.id for e in parse_csv(text).entries]
    assert ids == ["where-is-the-toilet", "where-is-the-toilet-2"]


def test_jsonl_problems() -> None:
    text = "\n".join(
        [
            json.dumps({"id": "a", "question": "Q?", "answer": "A.", "alternates": ["x", "y"]}),
            "{not json",
            json.dumps(["a", "list"]),
            json.dumps({"id": "b", "question": "Q?", "answer": "A.", "alternates": "one | two"}),
            json.dumps({"id": "c", "question": "Q?", "answer": "A.", "alternates": [1, 2]}),
            json.dumps({"id": "d", "question": "Q?", "answer": "A.", "colour": "red"}),
        ]
    )
    result = parse_jsonl(text)
    assert [e.id for e in result.entries] == ["a", "b"]
    assert result.entries[1].alternates == ("one", "two")
    reasons = {p.line: p.reason for p in result.problems}
    assert "not valid JSON" in reasons[2]
    assert "JSON object" in reasons[3]
    assert "list of strings" in reasons[5]
    assert "unknown key(s) colour" in reasons[6]


def test_markdown() -> None:
    text = """# Museum FAQ

## When are you open?
alternates: opening hours | what time do you close
category: hours

Every day from 10 to 6.
On Fridays until 9.

## Can I take photos?
Yes, without flash.
"""
    result = parse_markdown(text)
    assert result.ok
    first, second = result.entries
    assert first.alternates == ("opening hours", "what time do you close")
    assert first.answer == "Every day from 10 to 6.\nOn Fridays until 9."
    assert second.id == "can-i-take-photos" and second.answer == "Yes, without flash."
    empty = parse_markdown("## A question with no answer\n\n## Another?\nFine.\n")
    assert empty.problems[0].line == 1 and "answer is empty" in empty.problems[0].reason


def test_binary_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "faq.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(ImportFailedError, match="binary"):
        parse_file(binary)
    latin = tmp_path / "faq2.csv"
    latin.write_bytes("id,question,answer,alternates,category,language\nx,Caf\xe9?,Oui.,,,fr\n".encode("latin-1"))
    with pytest.raises(ImportFailedError, match="not UTF-8"):
        parse_file(latin)
    with pytest.raises(ImportFailedError, match="cannot tell the format"):
        parse_file(tmp_path / "faq.xlsx")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "md"])
def test_export_round_trips(fmt: str) -> None:
    entries = parse_csv(GOOD_CSV).entries
    text = export(entries, fmt, title="Demo")
    parsed = {"csv": parse_csv, "jsonl": parse_jsonl, "md": parse_markdown}[fmt](text)
    assert parsed.ok
    assert [e.content() for e in parsed.entries] == [e.content() for e in entries]


def test_spreadsheet_safe_export_escapes_formulas() -> None:
    entries = parse_csv(
        'id,question,answer,alternates,category,language\nx,=HYPERLINK("http://evil"),+1 call us,@SUM(A1),-,en\n'
    ).entries
    rows = list(csv.reader(io.StringIO(export(entries, "csv", spreadsheet=True))))
    assert rows[1][1].startswith("'=") and rows[1][2].startswith("'+") and rows[1][3].startswith("'@")
    assert spreadsheet_safe("Hello") == "Hello"
