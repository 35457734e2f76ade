"""The admin web app over HTTP: every route for every role, CSRF, throttling, escaping, imports, retention, sessions."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.test_admin_support import PASSWORD, ROLES, add_turn, csrf_from, login, make_app, signed_in

RANK = {role: i for i, role in enumerate(ROLES)}
NOW = datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def app(tmp_path: Path):
    return make_app(tmp_path / "home")


@pytest.fixture
def store(app):
    services = app.state.admin.backend
    services.kb_name("bank")  # the demo knowledge base
    return services.store


@pytest.fixture
def users(app, store):
    return {role: signed_in(app, role) for role in ROLES}


@pytest.fixture
def turn_id(app, store) -> int:
    return add_turn(store.db, ts=iso(NOW), text="when do you open", faq_id="opening-hours")


def first_entry_id(store) -> str:
    return store.list("bank", limit=1)[0].id


# -- every GET page × role -----------------------------------------------------------
PAGES = [
    ("/", "viewer"),
    ("/faqs", "viewer"),
    ("/faqs?q=card&page=2", "viewer"),
    ("/faqs/{entry}", "viewer"),
    ("/try", "viewer"),
    ("/conversations", "viewer"),
    ("/conversations?mode=faq&date_from=2000-01-01&date_to=2999-01-01&q=open", "viewer"),
    ("/conversations/{turn}", "viewer"),
    ("/unanswered", "viewer"),
    ("/analytics?days=7", "viewer"),
    ("/health", "viewer"),
    ("/export?fmt=csv", "viewer"),
    ("/faqs/new", "editor"),
    ("/import", "editor"),
    ("/settings", "admin"),
    ("/users", "admin"),
    ("/audit", "admin"),
]


def test_every_page_for_every_role(app, store, users, turn_id) -> None:
    entry = first_entry_id(store)
    anonymous = TestClient(app)
    for template, needed in PAGES:
        path = template.format(entry=entry, turn=turn_id)
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
        for role, signed in users.items():
            response = signed.client.get(path, follow_redirects=False)
            expected = 200 if RANK[role] >= RANK[needed] else 403
            assert response.status_code == expected, (path, role, response.status_code)


# -- every POST route × role, and CSRF ---------------------------------------------------
def post_cases(store, turn_id: int) -> list[tuple[str, str, dict]]:
    entry = first_entry_id(store)
    return [
        ("/faqs/new", "editor", {"question": "Is there a cash machine?", "answer": "Yes, by the door."}),
        (f"/faqs/{entry}", "editor", {"question": "Changed question?", "answer": "Changed answer.", "enabled": "1"}),
        (f"/faqs/{entry}/enabled", "editor", {"enabled": "0"}),
        (f"/faqs/{entry}/alternates", "editor", {"text": "yet another way to ask"}),
        (f"/faqs/{entry}/alternates/remove", "editor", {"index": "0"}),
        (f"/faqs/{entry}/delete", "editor", {}),
        (f"/faqs/{entry}/restore", "editor", {}),
        ("/unanswered/alternate", "editor", {"text": "cash point", "faq_id": entry}),
        ("/import/commit", "editor", {"token": "nope"}),
        ("/settings", "admin", {"tts.speed": "1.1"}),
        ("/settings/purge", "admin", {}),
        ("/users", "admin", {"username": "newbie", "role": "viewer", "password": PASSWORD}),
        ("/users/viewer", "admin", {"role": "viewer"}),
        ("/users/viewer/password", "admin", {"password": PASSWORD}),
        ("/users/newbie/delete", "admin", {}),
        ("/logout", "viewer", {}),
    ]


def test_post_routes_enforce_roles(app, store, users, turn_id) -> None:
    for path, needed, data in post_cases(store, turn_id):
        for role in ROLES:
            if RANK[role] >= RANK[needed] or path == "/logout":
                continue
            response = users[role].post(path, data)
            assert response.status_code == 403, (path, role, response.status_code)


def test_post_routes_require_csrf(app, store, users, turn_id) -> None:
    version = store.kb_version("bank")
    for path, needed, data in post_cases(store, turn_id):
        signed = users[needed if needed != "viewer" else "admin"]
        for token in ("", "forged-token"):
            response = signed.client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
            assert response.status_code == 403, (path, token)
    assert store.kb_version("bank") == version
    assert users["admin"].client.get("/users").status_code == 200  # still signed in: nothing was logged out


def test_every_post_route_is_covered(app, store, turn_id) -> None:
    covered = {path.split("?")[0] for path, _, _ in post_cases(store, turn_id)}
    entry = first_entry_id(store)
    declared = {
        route.path.replace("{faq_id}", entry).replace("{name}", "viewer")
        for route in app.routes
        if "POST" in getattr(route, "methods", ())
    }
    declared = {p.replace("/users/viewer/delete", "/users/newbie/delete") for p in declared}
    missing = declared - covered - {"/login", "/setup", "/import"}
    assert not missing


def test_post_routes_work_for_allowed_roles(app, store, users, turn_id) -> None:
    for path, needed, data in post_cases(store, turn_id):
        response = users[needed].post(path, data)
        if path == "/import/commit":  # no import was previewed under that token: nothing to commit
            assert response.status_code == 404, (path, response.status_code, response.text[:300])
            continue
        # Every other action succeeds and redirects to a page that says what was done.
        assert response.status_code == 303, (path, response.status_code, response.text[:300])
        assert "done=" in response.headers["location"], (path, response.headers["location"])
    created = store.get("bank", "is-there-a-cash-machine")
    assert created is not None and created.answer == "Yes, by the door."


def test_create_and_edit_read_every_field_of_the_entry_form(app, store, users) -> None:
    form = {
        "question": "Can I bring my dog?",
        "answer": "Only guide dogs.",
        "spoken_answer": "Only guide dogs, sorry.",
        "alternates": " are dogs allowed \n\n pets? \n",
        "category": "visiting",
        "language": " ",
        "enabled": "on",
    }
    editor = users["editor"]
    assert editor.post("/faqs/new", {**form, "faq_id": " dogs "}).status_code == 303
    created = store.get("bank", "dogs")
    assert created is not None
    assert (created.question, created.answer, created.spoken_answer) == tuple(form[k] for k in list(form)[:3])
    assert created.alternates == ("are dogs allowed", "pets?")
    assert (created.category, created.language, created.enabled) == ("visiting", "en", True)
    response = editor.post("/faqs/dogs", {**form, "alternates": "", "language": "es", "enabled": ""})
    assert response.status_code == 303
    edited = store.get("bank", "dogs")
    assert edited is not None and edited.revision == created.revision + 1
    assert (edited.alternates, edited.language, edited.enabled) == ((), "es", False)
    assert edited.question == form["question"]


def test_login_requires_csrf_and_sets_strict_cookie(app) -> None:
    client = TestClient(app)
    client.get("/login")
    response = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "wrong"}, follow_redirects=False
    )
    assert response.status_code == 403
    response = login(client, "admin")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain HTTP in tests; TLS settings add it


def test_wrong_password_and_throttling(app) -> None:
    client = TestClient(app)
    for _ in range(5):
        assert login(client, "editor", "not the password").status_code == 401
    response = login(client, "editor")  # right password, but throttled now
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    other = TestClient(app, client=("10.1.2.3", 40000))
    assert login(other, "editor").status_code == 429  # throttled per account, not per address
    db = app.state.admin.db  # the back-off (15 s after the 5th failure) has passed:
    db.execute("UPDATE login_failures SET ts = ?", [iso(NOW - timedelta(seconds=16))])
    db.conn.commit()
    assert login(other, "editor").status_code == 303
    rows = app.state.admin.accounts.audit_entries(action="login")[0]
    assert {"login-failed", "login-throttled", "login"} <= {r["action"] for r in rows}


def test_logout_invalidates_the_session(app, users) -> None:
    signed = users["editor"]
    cookie = signed.client.cookies.get("kiosk_admin_session")
    assert signed.post("/logout").status_code == 303
    replay = TestClient(app, cookies={"kiosk_admin_session": cookie})
    response = replay.get("/faqs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_idle_timeout_ends_the_session(app, users) -> None:
    signed = users["viewer"]
    stale = iso(NOW - timedelta(minutes=app.state.admin.settings.admin.session_idle_minutes + 1))
    app.state.admin.db.execute("UPDATE admin_sessions SET last_seen_at = ? WHERE username = 'viewer'", [stale])
    app.state.admin.db.conn.commit()
    response = signed.client.get("/faqs", follow_redirects=False)
    assert response.status_code == 303 and "done=expired" in response.headers["location"]
    assert (
        app.state.admin.db.execute("SELECT COUNT(*) FROM admin_sessions WHERE username = 'viewer'").fetchone()[0] == 0
    )


def test_security_headers_and_generic_errors(app, users) -> None:
    response = users["viewer"].client.get("/faqs")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    missing = users["viewer"].client.get("/no/such/page")
    assert missing.status_code == 404 and "Traceback" not in missing.text and "Not found" in missing.text
    assert users["viewer"].client.get("/docs").status_code == 404
    assert users["viewer"].client.get("/openapi.json").status_code == 404
    assert "<script>" not in response.text.replace('<script src="/static/admin.js" defer></script>', "")


def test_request_size_limit(app, users) -> None:
    big = "x" * (2 << 20)
    response = users["editor"].post("/faqs/new", {"question": "q?", "answer": big})
    assert response.status_code == 413


def test_xss_payloads_are_escaped(app, store, users) -> None:
    payload_q = "<script>alert('q')</script> opening?"
    payload_a = '<img src=x onerror="alert(1)"> answer'
    response = users["editor"].post("/faqs/new", {"faq_id": "xss", "question": payload_q, "answer": payload_a})
    assert response.status_code == 303
    turn = add_turn(store.db, ts=iso(NOW), text="<script>alert('t')</script>", answer=payload_a, mode="fallback")
    for path in (
        "/faqs?q=opening",
        "/faqs/xss",
        f"/conversations/{turn}",
        "/conversations",
        "/unanswered",
        "/analytics",
    ):
        html = users["viewer"].client.get(path).text
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
    assert "&lt;script&gt;alert(" in users["viewer"].client.get("/faqs/xss").text


def test_transcripts_are_shown_redacted(app, store, users) -> None:
    turn = add_turn(store.db, ts=iso(NOW), text="my card is 4111 1111 1111 1111 and mail bob@example.com")
    html = users["viewer"].client.get(f"/conversations/{turn}").text
    assert "4111 1111" not in html and "bob@example.com" not in html


def test_faq_lifecycle_with_revisions(app, store, users) -> None:
    editor = users["editor"]
    assert (
        editor.post("/faqs/new", {"faq_id": "wifi", "question": "Is there wifi?", "answer": "Yes."}).status_code == 303
    )
    assert (
        editor.post(
            "/faqs/wifi", {"question": "Is there free wifi?", "answer": "Yes, free.", "enabled": "1"}
        ).status_code
        == 303
    )
    assert editor.post("/faqs/wifi/delete").status_code == 303
    assert store.get("bank", "wifi") is None
    deleted_list = editor.client.get("/faqs?deleted=1").text
    assert "Is there free wifi?" in deleted_list
    assert editor.post("/faqs/wifi/restore", {"revision": "1"}).status_code == 303
    assert store.get("bank", "wifi").question == "Is there wifi?"
    page = editor.client.get("/faqs/wifi").text
    assert "Revision 4" in page and "restore" in page
    bad = editor.post("/faqs/new", {"faq_id": "bad id!", "question": "", "answer": ""})
    assert bad.status_code == 400 and "question is empty" in bad.text


def test_faq_list_filters_and_pagination(app, store, users) -> None:
    client = users["viewer"].client
    total = store.count("bank")
    first = client.get("/faqs").text
    assert f"{total} total" in first
    category = store.categories("bank")[0]
    filtered = client.get(f"/faqs?category={category}").text
    assert f"{store.count('bank', category=category)} total" in filtered
    assert "0 total" in client.get("/faqs?enabled=0").text


CSV_HEADER = "id,question,answer,alternates,category,language\n"


def upload(signed, name: str, content: bytes, **data):
    return signed.client.post(
        "/import",
        data={"csrf_token": signed.csrf, **data},
        files={"file": (name, io.BytesIO(content), "application/octet-stream")},
        follow_redirects=False,
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", (CSV_HEADER + "ok,Fine?,Yes.,,,en\nbroken,,No question,,,en\n").encode(), "question is empty"),
        ("bad.csv", b"id,question\nx,y\n", "missing column"),
        ("bad.jsonl", b'{"id": "a", "question": "Q?", "answer": "A."}\n{not json\n', "not valid JSON"),
        ("bad.md", b"stray text\n## Q?\nA.\n", "before the first"),
        ("bin.csv", b"\x00\x01\x02binary", "binary"),
        ("latin.csv", CSV_HEADER.encode() + "a,Caf\xe9?,Oui,,,fr\n".encode("latin-1"), "not UTF-8"),
        ("notes.txt", b"hello", "cannot tell the format"),
        ("empty.csv", b"", "empty file"),
    ],
)
def test_malformed_imports_change_nothing(app, store, users, name, content, message) -> None:
    before = (store.kb_version("bank"), store.count("bank"))
    response = upload(users["editor"], name, content, replace_existing="1")
    assert response.status_code == 400
    assert message in response.text
    assert 'name="token"' not in response.text
    assert (store.kb_version("bank"), store.count("bank")) == before


def test_import_too_large_is_refused(app, store, users) -> None:
    response = upload(users["editor"], "big.csv", CSV_HEADER.encode() + b"x" * (6 << 20))
    assert response.status_code == 413


def test_import_preview_then_commit(app, store, users) -> None:
    editor = users["editor"]
    content = (CSV_HEADER + "parking,Where can I park?,Behind the building.,car park|parking lot,access,en\n").encode()
    preview = upload(editor, "new.csv", content)
    assert preview.status_code == 200 and "1</strong> new" in preview.text
    assert store.get("bank", "parking") is None  # the preview wrote nothing
    token = csrf_from(preview.text)
    import re

    import_token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)
    assert token
    assert users["viewer"].post("/import/commit", {"token": import_token}).status_code == 403
    other_editor = signed_in(app, "admin")
    assert other_editor.post("/import/commit", {"token": import_token}).status_code == 404  # not their upload
    assert editor.post("/import/commit", {"token": import_token}).status_code == 303
    assert store.get("bank", "parking").alternates == ("car park", "parking lot")
    assert editor.post("/import/commit", {"token": import_token}).status_code == 404  # used once


def test_export_csv_is_spreadsheet_safe(app, store, users) -> None:
    users["editor"].post("/faqs/new", {"faq_id": "formula", "question": "Formula?", "answer": '=HYPERLINK("http://x")'})
    response = users["viewer"].client.get("/export?fmt=csv")
    assert response.headers["content-disposition"].startswith("attachment")
    assert "'=HYPERLINK" in response.text
    assert "\n=HYPERLINK" not in response.text and ",=HYPERLINK" not in response.text


def test_conversation_filters_and_detail(app, store, users) -> None:
    old = add_turn(store.db, ts="2024-01-02T10:00:00.000Z", text="old question", mode="fallback")
    new = add_turn(
        store.db,
        ts=iso(NOW),
        text="fresh question",
        mode="faq",
        faq_id=first_entry_id(store),
        timings={"asr": 200.5, "total": 640.0},
    )
    client = users["viewer"].client
    page = client.get("/conversations?mode=fallback").text
    assert "old question" in page and "fresh question" not in page
    page = client.get("/conversations?date_from=2024-01-01&date_to=2024-01-03").text
    assert "old question" in page and "fresh question" not in page
    detail = client.get(f"/conversations/{new}").text
    assert "asr" in detail and "200.5 ms" in detail and "fresh question" in detail
    assert client.get(f"/conversations/{old + new + 100}").status_code == 404


def test_unanswered_grouping_and_promotion(app, store, users) -> None:
    entry = first_entry_id(store)
    cands = [{"faq_id": entry, "score": 0.31}]
    for text in ("do you sell stamps", "do you sell postage stamps", "can I buy stamps here", "where is the toilet"):
        add_turn(store.db, ts=iso(NOW), text=text, mode="fallback", candidates=cands)
    page = users["viewer"].client.get("/unanswered").text
    assert page.count('data-testid="group"') == 3  # the two "sell stamps" questions group together
    assert "Add as alternate" not in page  # viewers read only
    editor = users["editor"]
    assert "Add as alternate" in editor.client.get("/unanswered").text
    assert editor.post("/unanswered/alternate", {"text": "do you sell stamps", "faq_id": entry}).status_code == 303
    assert "do you sell stamps" in store.get("bank", entry).alternates
    assert "do you sell stamps" not in editor.client.get("/unanswered").text.split("also:")[0]
    new_page = editor.client.get("/faqs/new?question=where%20is%20the%20toilet").text
    assert 'value="where is the toilet"' in new_page


def test_analytics_charts(app, store, users) -> None:
    for i in range(30):
        add_turn(
            store.db,
            ts=iso(NOW - timedelta(hours=i)),
            text=f"question {i % 3}",
            mode=("faq", "fallback")[i % 2],
            timings={"total": 100.0 + i},
        )
    html = users["viewer"].client.get("/analytics?days=7").text
    assert html.count("<svg") >= 3 and "question 0" in html
    assert "p95" in html and ">128<" in html  # p95 of 100..129


def test_retention_purge(app, store, users) -> None:
    from admin_web.queries import purge_turns

    old = add_turn(store.db, ts=iso(NOW - timedelta(days=100)), text="ancient")
    recent = add_turn(store.db, ts=iso(NOW - timedelta(days=10)), text="recent")
    assert purge_turns(store.db, 90) == 1
    ids = {r[0] for r in store.db.execute("SELECT id FROM turns")}
    assert recent in ids and old not in ids
    # a kiosk in a fleet keeps an old turn until the server has it
    unshipped = add_turn(store.db, ts=iso(NOW - timedelta(days=300)), text="offline for months")
    assert purge_turns(store.db, 90, keep_unshipped=True) == 0
    store.db.execute("UPDATE turns SET shipped_at = ? WHERE id = ?", [iso(NOW), unshipped])
    store.db.conn.commit()
    assert purge_turns(store.db, 90, keep_unshipped=True) == 1
    add_turn(store.db, ts=iso(NOW - timedelta(days=200)), text="older still")
    assert users["admin"].post("/settings/purge").status_code == 303
    assert store.db.execute("SELECT COUNT(*) FROM turns WHERE text = 'older still'").fetchone()[0] == 0


def test_settings_validation_and_write(app, users) -> None:
    from core.settings import load_settings

    admin = users["admin"]
    path = app.state.admin.home.settings_file
    bad = admin.post("/settings", {"tts.speed": "9", "dialog.faq_threshold": "abc", "wake.phrase": "hello kiosk"})
    assert bad.status_code == 400
    assert "above the maximum 2" in bad.text and "must be a number" in bad.text
    assert not path.exists()  # nothing written when any field is wrong
    good = admin.post(
        "/settings", {"tts.speed": "1.25", "wake.phrase": "hello kiosk", "dialog.fallback_message": "Ask at the desk."}
    )
    assert good.status_code == 303
    loaded = load_settings(path, env={})
    assert loaded.tts.speed == 1.25 and loaded.wake.phrase == "hello kiosk"
    assert loaded.dialog.fallback_message == "Ask at the desk."
    rows = app.state.admin.accounts.audit_entries(action="settings-change")[0]
    assert {r["target"] for r in rows} == {"tts.speed", "wake.phrase", "dialog.fallback_message"}


def test_health_page_lists_models_and_heartbeat(app, users) -> None:
    home = app.state.admin.home.root
    html = users["viewer"].client.get("/health").text
    assert "embeddings" in html and "no kiosk_status.json" in html
    fresh = iso(datetime.now(UTC))
    (home / "kiosk_status.json").write_text(json.dumps({"ts": fresh, "state": "attract", "pid": 42}))
    html = users["viewer"].client.get("/health").text
    assert "Running" in html and "attract" in html


def test_setup_page_only_local_and_only_first_user(tmp_path: Path) -> None:
    from admin_web.app import create_app
    from core.home import KioskHome
    from core.settings import load_settings

    home = KioskHome(tmp_path / "fresh").ensure()
    app = create_app(load_settings(None, env={}), home, purge=False)
    remote = TestClient(app, client=("192.168.1.20", 5000))
    assert remote.get("/setup").status_code == 404
    assert "create-user" in remote.get("/login").text
    local = TestClient(app)
    page = local.get("/login")  # redirected to /setup
    assert page.url.path == "/setup"
    short = local.post(
        "/setup",
        data={"username": "boss", "password": "short", "password2": "short", "csrf_token": csrf_from(page.text)},
    )
    assert short.status_code == 400 and "too short" in short.text
    ok = local.post(
        "/setup",
        data={"username": "boss", "password": PASSWORD, "password2": PASSWORD, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert app.state.admin.accounts.get_user("boss").role == "admin"
    assert TestClient(app).get("/setup").status_code == 404


def test_user_management_guards(app, users) -> None:
    admin = users["admin"]
    assert admin.post("/users", {"username": "x", "role": "editor", "password": "short"}).status_code == 400
    assert admin.post("/users/admin/delete").status_code == 400  # not yourself
    response = admin.post("/users/admin", {"role": "viewer"})
    assert response.status_code == 400 and "last active admin" in response.text
    assert admin.post("/users/editor", {"role": "viewer"}).status_code == 303
    # a role change signs that user out
    response = users["editor"].client.get("/import", follow_redirects=False)
    assert response.status_code == 303


def test_cli_create_user(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from admin_web.accounts import Accounts
    from core.db import open_database
    from core.home import KioskHome
    from kiosk.admin_cli import admin
    from kiosk.context import AppContext

    home = KioskHome(tmp_path / "cli").ensure()
    runner = CliRunner()
    obj = AppContext(home=home)
    result = runner.invoke(admin, ["create-user", "dana", "--role", "editor"], input="short\n", obj=obj)
    assert result.exit_code != 0 and getattr(result.exception, "code", "") == "admin-password-invalid"
    result = runner.invoke(admin, ["create-user", "dana", "--role", "editor"], input=PASSWORD + "\n", obj=obj)
    assert result.exit_code == 0, result.output
    accounts = Accounts(open_database(home.database))
    assert accounts.verify("dana", PASSWORD).role == "editor"
    assert accounts.verify("dana", "wrong password!") is None
    assert accounts.db.execute("SELECT password_hash FROM admin_users").fetchone()[0].startswith("$argon2id$")
    result = runner.invoke(admin, ["create-user", "dana", "--role", "viewer"], input=PASSWORD + "\n", obj=obj)
    assert getattr(result.exception, "code", "") == "admin-user-exists"


@pytest.mark.models
def test_try_a_question_runs_the_real_policy(app, store, users) -> None:
    editor = users["editor"]
    editor.post(
        "/faqs/new",
        {
            "faq_id": "dogs",
            "question": "Can I bring my dog into the branch?",
            "answer": "Dogs on a leash are welcome.",
            "enabled": "1",
        },
    )
    html = editor.client.get("/try?q=can+I+bring+my+dog+into+the+branch").text
    assert "Dogs on a leash are welcome." in html
    assert 'href="/faqs/dogs' in html and "mode-faq" in html and "Candidates" in html
