"""One-click approval on the Unanswered page: a handed-off question becomes an alternate, over real HTTP.

The question is asked through the kiosk's own answer policy (real matcher, turn logged and redacted),
approved on the page with the entry the matcher suggested, and asked again: now the kiosk answers it.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.test_admin_support import add_turn, make_app, signed_in

KB = "bank"
ENTRY = "bank-safe-deposit-box"
QUESTION = "could my late aunt's war medals be kept somewhere secure with you"  # handed off by the bank demo
_APPROVE = re.compile(r'<form[^>]*data-testid="approve".*?</form>', re.DOTALL)
_FIELD = re.compile(r'name="(\w+)" value="([^"]*)"')


@pytest.fixture
def app(tmp_path: Path):
    return make_app(tmp_path / "home")


@pytest.fixture
def services(app):
    backend = app.state.admin.backend
    backend.kb_name(KB)
    return backend


def ask(services, text: str, *, log: bool = False):
    return services.policy(KB, with_llm=False, log_turns=log).answer(text)


def approve_forms(page: str) -> list[dict[str, str]]:
    """The one-click forms of the page, each as its hidden fields."""
    return [{k: html.unescape(v) for k, v in _FIELD.findall(form)} for form in _APPROVE.findall(page)]


def form_for(page: str, text: str) -> dict[str, str]:
    forms = [f for f in approve_forms(page) if f.get("text") == text]
    assert len(forms) == 1, approve_forms(page)
    return forms[0]


def test_one_click_approval_teaches_the_kiosk(app, services) -> None:
    store = services.store
    first = ask(services, QUESTION, log=True)
    assert first.mode == "fallback" and first.faq_id is None  # the premise: the kiosk hands it off today
    before = store.get(KB, ENTRY)
    version = store.kb_version(KB)

    editor = signed_in(app, "editor")
    page = editor.client.get(f"/unanswered?kb={KB}").text
    form = form_for(page, QUESTION)
    assert form["faq_id"] == ENTRY  # the matcher's top candidate, pre-selected
    assert f"Add as alternate of “{before.question}”" in html.unescape(page)
    response = editor.post(f"/unanswered/alternate?kb={KB}", form)
    assert response.status_code == 303 and "done=promoted" in response.headers["location"]

    after = store.get(KB, ENTRY)
    assert after.alternates == (*before.alternates, QUESTION)
    assert after.revision == before.revision + 1  # a new revision, as an edit makes
    assert store.revisions(KB, ENTRY)[-1]["changed_by"] == "editor"
    assert store.kb_version(KB) > version  # what tells the matcher to re-index
    rows, _ = app.state.admin.accounts.audit_entries(action="faq-alternate-add")
    assert rows and rows[0]["target"] == f"{KB}/{ENTRY}" and QUESTION in rows[0]["detail"]

    assert QUESTION not in html.unescape(editor.client.get(f"/unanswered?kb={KB}").text)  # approved: gone
    again = ask(services, QUESTION)
    assert again.mode == "faq" and again.faq_id == ENTRY  # the kiosk now answers it with that entry


def test_a_group_is_approved_at_once_and_only_from_its_own_turns(app, services) -> None:
    store = services.store
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    cands = [{"faq_id": ENTRY, "score": 0.3}]
    ids = [
        add_turn(store.db, ts=now, kb=KB, text=text, mode=mode, candidates=cands)
        for text, mode in (
            ("do you keep valuables in a vault", "fallback"),
            ("keep my valuables in your vault", "clarify"),
        )
    ]
    answered = add_turn(store.db, ts=now, kb=KB, text="what are your opening hours today", mode="faq")
    other_kb = add_turn(store.db, ts=now, kb="museum", text="where is the mummy", mode="fallback")
    editor = signed_in(app, "editor")
    page = editor.client.get(f"/unanswered?kb={KB}").text
    assert "asked back" in page  # a clarify turn is listed with the hand-offs
    fields = {
        "text": "do you keep valuables in a vault",
        "faq_id": ENTRY,
        "turn_ids": ",".join(str(i) for i in (*ids, answered, other_kb, 10**9)) + ",x",
    }
    assert editor.post(f"/unanswered/alternate?kb={KB}", fields).status_code == 303
    added = store.get(KB, ENTRY).alternates[-2:]
    assert added == ("do you keep valuables in a vault", "keep my valuables in your vault")
    alternates = store.get(KB, ENTRY).alternates
    assert "what are your opening hours today" not in alternates and "where is the mummy" not in alternates
    # The same approval again adds nothing (no duplicate alternates, no new revision).
    revision = store.get(KB, ENTRY).revision
    assert editor.post(f"/unanswered/alternate?kb={KB}", fields).status_code == 303
    assert store.get(KB, ENTRY).revision == revision


def test_approval_stores_nothing_unredacted(app, services) -> None:
    store = services.store
    editor = signed_in(app, "editor")
    text = "my card 4111 1111 1111 1111 got stuck, can you keep it in a safe box"
    assert editor.post(f"/unanswered/alternate?kb={KB}", {"text": text, "faq_id": ENTRY}).status_code == 303
    stored = store.get(KB, ENTRY).alternates[-1]
    assert "4111" not in stored and "keep it in a safe box" in stored


def test_viewers_and_missing_csrf_are_refused(app, services) -> None:
    store = services.store
    ask(services, QUESTION, log=True)
    before = (store.get(KB, ENTRY), store.kb_version(KB))
    viewer = signed_in(app, "viewer")
    page = viewer.client.get(f"/unanswered?kb={KB}").text
    assert QUESTION in html.unescape(page) and not approve_forms(page)  # viewers read only
    fields = {"text": QUESTION, "faq_id": ENTRY}
    assert viewer.post(f"/unanswered/alternate?kb={KB}", fields).status_code == 403
    editor = signed_in(app, "editor")
    for token in ("", "forged-token"):
        response = editor.client.post(
            f"/unanswered/alternate?kb={KB}", data={**fields, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 403
    assert editor.post(f"/unanswered/alternate?kb={KB}", {**fields, "faq_id": "no-such-entry"}).status_code == 400
    assert (store.get(KB, ENTRY), store.kb_version(KB)) == before
