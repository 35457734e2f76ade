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
        'c,"Multi\nline question?",,,x,en\n'  # lines 5-6: empty answer, reported where the row starts
        "d,Question D?,Answer D.,,x,english\n"  # line 7: bad language
        "e,Q?,A.,,x,en,extra\n"  # line 8: too many cells
    )
    result = parse_csv(text)
    reasons = {p.line: p.reason for p in result.problems}
    assert "question is empty" in reasons[3]
    assert "already used on line 2" in reasons[4]
    assert "answer is empty" in reasons[5]
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


# -- spreadsheet-safe CSV that round-trips ------------------------------------------------
TRICKY = ["=1+1", "+44 20 7946 0958", "-5 degrees outside", "@home", "'quoted' already", "'=not a formula", "''x", "'"]


def _tricky_entries():
    from knowledge.entries import FaqEntry

    return [
        FaqEntry(
            id=f"t{i}",
            question=f"Tricky question {i}?",
            answer=text,
            spoken_answer=text if i % 2 else "",
            alternates=(text, f"plain {i}") if len(text) > 2 else (),
            category=text if i % 3 == 0 else "misc",
            language="en",
        ).normalized()
        for i, text in enumerate(TRICKY)
    ]


def test_csv_export_always_neutralises_formulas() -> None:
    text = export(_tricky_entries(), "csv")  # no option needed: CSV is always safe
    for row in list(csv.reader(io.StringIO(text)))[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert spreadsheet_safe("'Tis the season") == "'Tis the season"  # an ordinary leading quote is left alone


def test_csv_export_import_export_is_byte_identical() -> None:
    entries = _tricky_entries()
    first = export(entries, "csv")
    parsed = parse_csv(first)
    assert parsed.ok, parsed.problems
    assert [e.content() for e in parsed.entries] == [e.content() for e in entries]  # every leading character kept
    assert export(parsed.entries, "csv") == first
    assert export(parse_csv(export(parsed.entries, "csv")).entries, "csv") == first  # and again


def test_cli_csv_export_is_spreadsheet_safe(kiosk_home, kiosk_cli) -> None:
    from knowledge.store import FaqStore

    store = FaqStore.open(kiosk_home / "kiosk.db")
    store.create_kb("tricky", title="Tricky")
    for entry in _tricky_entries():
        store.upsert("tricky", entry)
    result = kiosk_cli("kb", "export", "--kb", "tricky", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    answers = {r[0]: r[2] for r in rows[1:]}
    assert answers["t0"] == "'=1+1" and answers["t2"] == "'-5 degrees outside" and answers["t3"] == "'@home"
    assert result.stdout == export(store.list("tricky"), "csv")  # the same function as the web export


def test_web_export_import_export_round_trip(tmp_path: Path) -> None:
    from tests.test_admin_support import make_app as make_admin_app
    from tests.test_admin_support import signed_in

    app = make_admin_app(tmp_path / "home")
    store = app.state.admin.store
    store.create_kb("tricky", title="Tricky")
    for entry in _tricky_entries():
        store.upsert("tricky", entry)
    editor = signed_in(app, "editor")
    first = editor.client.get("/export?fmt=csv&kb=tricky").content
    preview = editor.client.post(
        "/import?kb=tricky",
        data={"csrf_token": editor.csrf, "fmt": "csv", "replace_existing": "1"},
        files={"file": ("tricky-faqs.csv", first, "text/csv")},
    )
    assert preview.status_code == 200, preview.text[:500]
    token = preview.text.split('name="token" value="')[1].split('"')[0]
    assert editor.post("/import/commit", {"token": token}).status_code == 303
    assert {e.id: e.answer for e in store.list("tricky")} == {f"t{i}": text for i, text in enumerate(TRICKY)}
    assert editor.client.get("/export?fmt=csv&kb=tricky").content == first


# -- import messages that say what is wrong, where ------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_csv_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "faq.csv"
    text = GOOD_CSV.replace("Behind the building.", "Derrière le bâtiment.")
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path.write_bytes(bom + text.encode(encoding))
    result = parse_file(path)
    assert result.ok, result.problems
    assert result.entries[1].answer == "Derrière le bâtiment."


def test_utf16_without_a_byte_order_mark_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes(GOOD_CSV.encode("utf-16-le"))
    with pytest.raises(ImportFailedError) as info:
        parse_file(path)
    assert "UTF-16" in info.value.message and "binary" not in info.value.message
    assert "UTF-8" in (info.value.hint or "")
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00")
    with pytest.raises(ImportFailedError, match="binary"):
        parse_file(binary)


HEADER = "id,question,answer,alternates,category,language\n"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # the quote on line 2 is never closed: the file ends inside it
        ('a,"Question A?,Answer A.,,x,en\nb,Question B?,Answer B.,,x,en\n', "never closed"),
        # it is closed by the quote on line 4: rows 3 and 4 were swallowed into one cell
        (
            'a,"Question A?,Answer A.,,x,en\nb,Question B?,Answer B.,,x,en\nc,"Q C?",Answer C.,,x,en\nd,Q D?,D.,,x,en\n',
            "not closed until line 4",
        ),
        # a single row with an unclosed quote
        ('a,"Question A?,Answer A.,,x,en\n', "never closed"),
    ],
)
def test_unbalanced_quote_is_reported_on_its_own_line(body: str, words: str) -> None:
    result = parse_csv(HEADER + body)
    assert not result.ok
    assert result.problems[0].line == 2, result.problems
    assert words in result.problems[0].reason and "quote" in result.problems[0].reason


def test_a_long_multi_line_answer_with_commas_is_not_a_swallowed_row() -> None:
    body = 'a,Question A?,"Open on\nMonday, Tuesday, Wednesday, Thursday, Friday, Saturday",,x,en\nb,Q B?,B.,,x,en\n'
    result = parse_csv(HEADER + body)
    assert result.ok, result.problems
    assert result.lines == {"a": 2, "b": 4}


def test_header_only_file_says_so() -> None:
    result = parse_csv(HEADER)
    assert [str(p) for p in result.problems] == ["line 1: the file has a header row but no entries below it"]
    with pytest.raises(ImportFailedError) as info:
        result.raise_for_problems("faq.csv")
    assert "header row but no entries" in info.value.message and "line 0" not in info.value.message
    with pytest.raises(ImportFailedError) as info:
        parse_jsonl("\n").raise_for_problems("faq.jsonl")
    assert "no entries found" in info.value.message and "line 0" not in info.value.message


def test_web_import_reads_utf16_and_names_an_unclosed_quote(tmp_path: Path) -> None:
    from tests.test_admin_support import make_app as make_admin_app
    from tests.test_admin_support import signed_in

    app = make_admin_app(tmp_path / "home")
    editor = signed_in(app, "editor")

    def preview(name: str, data: bytes):
        return editor.client.post(
            "/import?kb=bank",
            data={"csrf_token": editor.csrf, "fmt": "csv"},
            files={"file": (name, data, "text/csv")},
        )

    ok = preview("excel-unicode.csv", b"\xff\xfe" + GOOD_CSV.encode("utf-16-le"))
    assert ok.status_code == 200 and "binary" not in ok.text
    bad = preview("quote.csv", (HEADER + 'a,"Question A?,Answer A.,,x,en\nb,Q B?,B.,,x,en\n').encode())
    assert bad.status_code == 400 and "never closed" in bad.text
    empty = preview("empty.csv", HEADER.encode())
    assert empty.status_code == 400 and "header row but no entries" in empty.text
