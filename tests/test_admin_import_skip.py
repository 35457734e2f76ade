"""The import page's "import the valid rows and skip the bad ones" (the CLI's --skip-bad), over HTTP."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest

from tests.test_admin_support import make_app, signed_in

KB = "bank"
HEADER = "id,question,answer,alternates,category,language\n"
LONG = "x" * 50_001  # over the longest answer an entry may have
GOOD_AND_BAD = (
    HEADER
    + "stamps,Do you sell stamps?,No; the post office is next door.,postage,services,en\n"
    + "broken,,An answer without its question,,,en\n"
    + f"too-long,Why so long?,{LONG},,,en\n"
    + "parking-bikes,Where can I leave my bike?,In the racks by the door.,bicycle,access,en\n"
).encode()
_TOKEN = re.compile(r'name="token" value="([^"]+)"')


@pytest.fixture
def app(tmp_path: Path):
    app = make_app(tmp_path / "home")
    app.state.admin.backend.kb_name(KB)
    return app


@pytest.fixture
def store(app):
    return app.state.admin.backend.store


def upload(signed, content: bytes, **fields: str):
    return signed.client.post(
        f"/import?kb={KB}",
        data={"csrf_token": signed.csrf, **fields},
        files={"file": ("faqs.csv", io.BytesIO(content), "text/csv")},
        follow_redirects=False,
    )


def test_import_page_offers_the_checkbox(app) -> None:
    page = signed_in(app, "editor").client.get(f"/import?kb={KB}").text
    assert 'name="skip_bad"' in page and "Import the valid rows and skip the bad ones" in page


def test_without_the_checkbox_a_bad_row_stops_the_whole_file(app, store) -> None:
    editor = signed_in(app, "editor")
    before = (store.kb_version(KB), store.count(KB))
    response = upload(editor, GOOD_AND_BAD)
    assert response.status_code == 400 and not _TOKEN.search(response.text)
    assert "skip the bad ones" in response.text  # the page says how to import the rest
    assert (store.kb_version(KB), store.count(KB)) == before


def test_skip_bad_imports_the_valid_rows_and_reports_the_rest(app, store) -> None:
    editor = signed_in(app, "editor")
    before = store.count(KB)
    preview = upload(editor, GOOD_AND_BAD, skip_bad="1")
    assert preview.status_code == 200
    text = html.unescape(preview.text)
    assert "2</strong> valid entries" in preview.text and "2</strong> bad row(s) will be skipped" in preview.text
    assert "question is empty" in text and "longer than 50000" in text.replace(",", "")
    assert store.get(KB, "stamps") is None  # the preview writes nothing

    token = _TOKEN.search(preview.text).group(1)
    committed = editor.post(f"/import/commit?kb={KB}", {"token": token})
    assert committed.status_code == 303
    location = committed.headers["location"]
    assert location.startswith("/import/result")

    assert store.count(KB) == before + 2
    assert store.get(KB, "stamps").alternates == ("postage",)
    assert store.get(KB, "parking-bikes").answer == "In the racks by the door."
    assert store.get(KB, "broken") is None and store.get(KB, "too-long") is None

    result = editor.client.get(location)
    assert result.status_code == 200
    page = html.unescape(result.text)
    assert "Import finished" in page
    assert re.search(r"<strong>2</strong> entries imported.*<strong>2</strong> bad row\(s\) skipped", page)
    rows = re.findall(r'<td class="num">(\d+)</td><td>([^<]+)</td>', page.split('data-testid="skipped-rows"')[1])
    assert [line for line, _ in rows] == ["3", "4"]  # the file's lines, header first
    assert "question is empty" in rows[0][1]

    rows, _ = app.state.admin.accounts.audit_entries(action="faq-import")
    assert "2 entries" in rows[0]["detail"] and "2 bad row(s) skipped" in rows[0]["detail"]
    assert editor.post(f"/import/commit?kb={KB}", {"token": token}).status_code == 404  # used once
    assert signed_in(app, "admin").client.get(location).status_code == 404  # another operator's report


def test_skip_bad_with_replace_is_refused(app, store) -> None:
    editor = signed_in(app, "editor")
    before = (store.kb_version(KB), store.count(KB))
    response = upload(editor, GOOD_AND_BAD, skip_bad="1", replace_existing="1")
    assert response.status_code == 400 and not _TOKEN.search(response.text)
    assert "cannot be combined with Replace" in response.text
    assert (store.kb_version(KB), store.count(KB)) == before


def test_skip_bad_cannot_save_a_broken_file(app, store) -> None:
    editor = signed_in(app, "editor")
    response = upload(editor, b"id,question\nx,y\n", skip_bad="1")  # a bad header: no row can be trusted
    assert response.status_code == 400 and "missing column" in response.text
    assert not _TOKEN.search(response.text)


def test_skip_bad_needs_an_editor_and_csrf(app, store) -> None:
    viewer = signed_in(app, "viewer")
    assert upload(viewer, GOOD_AND_BAD, skip_bad="1").status_code == 403
    editor = signed_in(app, "editor")
    response = editor.client.post(
        f"/import?kb={KB}",
        data={"csrf_token": "", "skip_bad": "1"},
        files={"file": ("faqs.csv", io.BytesIO(GOOD_AND_BAD), "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert store.get(KB, "stamps") is None
