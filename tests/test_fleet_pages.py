"""The fleet's knowledge, unanswered and analytics pages on a real PostgreSQL, through the app's HTTP interface.

Drafts are edited and imported with the kiosk's own validation and parser, tried with the kiosk's real matcher,
published to a site (a joined kiosk pulls the version and answers from it) and rolled back; roles and site
scopes are enforced; unanswered questions are grouped across kiosks; analytics add up to the stored turns.
"""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fleet.draft_matcher import DraftMatcher
from fleet.protocol import API
from fleet.server import create_app
from fleet.store import FleetStore
from fleet.users import FleetUsers
from knowledge.io import parse_csv
from tests.fleet_support import REPO
from tests.fleet_support import serving as _serving

pytestmark = pytest.mark.network

PASSWORD = "a long passphrase"
BANK_V1 = """id,question,answer,alternates,category,language
bank-lost-card,I lost my card,"Call 0800 111 2222 to block your card at once.",my card is gone|block my card,cards,en
bank-hours,When are you open?,"We are open 9:00 to 17:00 on weekdays.",opening hours|what time do you close,branch,en
bank-atm,Where is the cash machine?,"The cash machine is to the left of the entrance.",atm|where can I withdraw cash,branch,en
"""
BAD_CSV = """id,question,answer,alternates,category,language
bank-hours,When are you open?,"We are open 8:00 to 20:00 every day.",opening hours,branch,en
bank-wifi,,"The guest network is HarborGuest.",wifi password,branch,en
"""
GOOD_CSV = """id,question,answer,alternates,category,language
bank-hours,When are you open?,"We are open 8:00 to 20:00 every day.",opening hours|what time do you close,branch,en
bank-wifi,Is there wifi?,"The guest network is HarborGuest, no password.",wifi password|internet access,branch,en
"""


@pytest.fixture
def store(fleet_db: str) -> Iterator[FleetStore]:
    fleet_store = FleetStore(fleet_db, max_size=6)
    yield fleet_store
    fleet_store.close()


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> DraftMatcher:
    """One "try a question" engine for the module (its model loads once), as one server process keeps one."""
    return DraftMatcher(tmp_path_factory.mktemp("fleet-try"))


def _app(store: FleetStore, matcher: DraftMatcher | None = None):
    app = create_app(store, web=False)
    from fleet.web import add_pages

    add_pages(app, store, matcher=matcher or DraftMatcher())
    return app


def _client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _signed_in(app, name: str) -> tuple[TestClient, str]:
    client = _client(app)
    form = client.get("/login")
    response = client.post(
        "/login", data={"username": name, "password": PASSWORD, "csrf_token": _csrf(form.text), "next": "/"}
    )
    assert response.status_code == 303, response.text
    return client, _csrf(client.get("/knowledge").text)


def _publish_v1(store: FleetStore) -> int:
    return store.publish("bank", [e.content() for e in parse_csv(BANK_V1).entries], site=None, title="Harbor Bank")


def _kiosk(store: FleetStore, client: TestClient, site: str) -> dict[str, str]:
    code = store.create_enrolment_code(site)
    joined = client.post(f"{API}/join", json={"code": code}).json()
    auth = {"Authorization": f"Bearer {joined['credential']}"}
    assert client.post(f"{API}/heartbeat", json={"state": "idle"}, headers=auth).status_code == 200
    return {"id": joined["kiosk_id"], **auth}


def _push(client: TestClient, kiosk: dict[str, str], turns: list[tuple[str, str, str | None, datetime]]) -> None:
    body = [
        {"id": n, "ts": ts.isoformat(), "kb": "bank", "text": text, "answer": "…", "mode": mode, "faq_id": faq_id}
        for n, (text, mode, faq_id, ts) in enumerate(turns, 1)
    ]
    auth = {"Authorization": kiosk["Authorization"]}
    response = client.post(f"{API}/turns", json={"turns": body}, headers=auth)
    assert response.status_code == 200 and response.json()["stored"] == len(body), response.text


def _audit_actions(store: FleetStore) -> list[str]:
    return [row["action"] for row in store.audit_entries(200)]


def test_draft_edit_import_publish_roll_back_with_roles(store: FleetStore) -> None:
    users = FleetUsers(store)
    store.create_enrolment_code("north")
    store.create_enrolment_code("south")
    users.create("ann", PASSWORD, "admin")
    users.create("eve", PASSWORD, "editor", site="north")
    users.create("vic", PASSWORD, "viewer")
    assert _publish_v1(store) == 1
    app = _app(store)
    ann, csrf = _signed_in(app, "ann")

    listing = ann.get("/knowledge").text
    assert "Harbor Bank" in listing and "v1 · all sites · 3 entries" in listing
    assert ann.post("/knowledge", data={"csrf_token": "forged", "kb": "bank", "from_version": "1"}).status_code == 403
    started = ann.post("/knowledge", data={"csrf_token": csrf, "kb": "bank", "from_version": "1"})
    assert started.status_code == 303 and started.headers["location"] == "/knowledge/bank?done=draft-started"
    again = ann.post("/knowledge", data={"csrf_token": csrf, "kb": "bank", "from_version": "1"})
    assert again.status_code == 409 and "already has a draft" in again.text

    # edit an entry with the kiosk's fields; a stale form is told, not saved over
    page = ann.get("/knowledge/bank/entries/bank-atm").text
    rev = re.search(r'name="rev" value="(\d+)"', page).group(1)
    form = {"csrf_token": csrf, "rev": rev, "question": "Where is the cash machine?", "language": "en",
            "answer": "The cash machine is inside, next to the stairs.", "alternates": "atm\nwhere can I withdraw cash",
            "category": "branch", "enabled": "1"}  # fmt: skip
    assert ann.post("/knowledge/bank/entries/bank-atm", data=form).status_code == 303
    stale = ann.post("/knowledge/bank/entries/bank-atm", data={**form, "answer": "Somewhere else."})
    assert stale.status_code == 409 and "ann changed this entry" in stale.text
    assert "next to the stairs" in ann.get("/knowledge/bank/entries/bank-atm").text
    empty = ann.post("/knowledge/bank/entries/new", data={**form, "faq_id": "bank-x", "answer": "  "})
    assert empty.status_code == 400 and "answer is empty" in empty.text

    # a CSV with a bad line: every problem with its line, nothing written
    bad = ann.post("/import/bank", data={"csrf_token": csrf}, files={"file": ("bank.csv", BAD_CSV, "text/csv")})
    assert bad.status_code == 400 and "cannot be imported" in bad.text
    assert re.search(r'data-line="3"><td class="num">3</td><td>[^<]*question', bad.text), bad.text
    assert 'name="token"' not in bad.text
    assert "9:00 to 17:00" in ann.get("/knowledge/bank/entries/bank-hours").text  # unchanged
    good = ann.post("/import/bank", data={"csrf_token": csrf}, files={"file": ("bank.csv", GOOD_CSV, "text/csv")})
    assert good.status_code == 200 and "<strong>1</strong> new, <strong>1</strong> updated" in good.text
    token = re.search(r'name="token" value="([^"]+)"', good.text).group(1)
    assert ann.post("/knowledge/bank/import/commit", data={"csrf_token": csrf, "token": token}).status_code == 303
    replay = ann.post("/knowledge/bank/import/commit", data={"csrf_token": csrf, "token": token})
    assert replay.status_code == 404
    entries = ann.get("/knowledge/bank/entries").text
    assert entries.count('data-id="') == 4 and "HarborGuest" in entries

    # roles and site scopes
    vic, vic_csrf = _signed_in(app, "vic")
    assert "HarborGuest" in vic.get("/knowledge/bank/entries").text
    assert vic.post("/knowledge/bank/entries/bank-atm", data={**form, "csrf_token": vic_csrf}).status_code == 403
    assert vic.post("/knowledge/bank/publish", data={"csrf_token": vic_csrf, "target": ""}).status_code == 403
    assert vic.get("/knowledge/bank/entries/new").status_code == 403
    eve, eve_csrf = _signed_in(app, "eve")
    kb_page = eve.get("/knowledge/bank").text
    assert '<option value="">All sites' not in kb_page and '<option value="south">' not in kb_page
    assert eve.post("/knowledge/bank/publish", data={"csrf_token": eve_csrf, "target": "south"}).status_code == 403
    assert eve.post("/knowledge/bank/publish", data={"csrf_token": eve_csrf, "target": ""}).status_code == 403
    assert [v["version"] for v in store.versions("bank")] == [1]
    published = eve.post("/knowledge/bank/publish", data={"csrf_token": eve_csrf, "target": "north"})
    assert published.status_code == 303
    v2, _ = store.versions("bank")
    assert (v2["version"], v2["site"], v2["entry_count"], v2["published_by"]) == (2, "north", 4, "eve")
    payload = store.kb_payload("bank", 2)
    assert {e["id"]: e["answer"] for e in payload["entries"]}["bank-atm"].endswith("next to the stairs.")
    assert store.target("north")["bank"]["version"] == 2 and store.target("south")["bank"]["version"] == 1

    # roll back: v1's entries again, as a new version (editors within their site)
    assert (
        eve.post("/knowledge/bank/rollback", data={"csrf_token": eve_csrf, "version": "1", "target": ""}).status_code
        == 403
    )
    rolled = eve.post("/knowledge/bank/rollback", data={"csrf_token": eve_csrf, "version": "1", "target": "north"})
    assert rolled.status_code == 303
    assert store.kb_payload("bank", 3)["entries"] == store.kb_payload("bank", 1)["entries"]
    assert store.target("north")["bank"]["version"] == 3
    assert "v3" in ann.get("/knowledge/bank").text and "rollback to v1" in ann.get("/knowledge/bank").text
    actions = _audit_actions(store)
    for action in ("draft-start", "draft-entry-update", "draft-import", "publish", "rollback"):
        assert action in actions, actions


@pytest.mark.models
def test_try_a_question_answers_from_the_draft_with_the_real_matcher(store: FleetStore, matcher: DraftMatcher) -> None:
    FleetUsers(store).create("ann", PASSWORD, "admin")
    app = _app(store, matcher)
    ann, csrf = _signed_in(app, "ann")
    assert ann.post("/knowledge", data={"csrf_token": csrf, "kb": "gallery", "title": "Gallery"}).status_code == 303
    assert "no entries yet" in ann.get("/knowledge/gallery/try?q=where+is+the+cloakroom").text
    for question, answer, alternates in [
        ("Where is the cloakroom?", "The cloakroom is downstairs, by the shop.", "where can I leave my coat"),
        ("Can I take photos?", "Photos without flash are welcome.", "is photography allowed"),
        ("Is there a café?", "The café on the top floor is open until 17:00.", "where can I get a coffee"),
    ]:
        created = ann.post(
            "/knowledge/gallery/entries/new",
            data={"csrf_token": csrf, "question": question, "answer": answer, "alternates": alternates,
                  "language": "en", "enabled": "1"},
        )  # fmt: skip
        assert created.status_code == 303, created.text
    tried = ann.get("/knowledge/gallery/try", params={"q": "where do I leave my jacket"}).text
    assert 'data-testid="mode">faq<' in tried and "downstairs, by the shop" in tried
    assert 'data-testid="matched">Where is the cloakroom?<' in tried
    revision = matcher.loaded_revision("gallery")
    # an edit is a new revision: the next question answers from it
    page = ann.get("/knowledge/gallery/entries/where-is-the-cloakroom").text
    rev = re.search(r'name="rev" value="(\d+)"', page).group(1)
    saved = ann.post(
        "/knowledge/gallery/entries/where-is-the-cloakroom",
        data={"csrf_token": csrf, "rev": rev, "question": "Where is the cloakroom?", "language": "en",
              "answer": "The cloakroom has moved to the ground floor, left of the entrance.",
              "alternates": "where can I leave my coat", "enabled": "1"},
    )  # fmt: skip
    assert saved.status_code == 303
    tried = ann.get("/knowledge/gallery/try", params={"q": "where do I leave my jacket"}).text
    assert "moved to the ground floor" in tried and matcher.loaded_revision("gallery") > revision
    assert "The café on the top floor" in ann.get("/knowledge/gallery/try", params={"q": "I need a coffee"}).text


def _kiosk_answer(home: Path, question: str) -> str:
    from core.home import KioskHome
    from core.settings import load_settings
    from runtime.services import KioskServices

    services = KioskServices(settings=load_settings(None, env={}), home=KioskHome(home))
    try:
        return services.policy("bank", with_llm=False, log_turns=False).answer(question).text
    finally:
        services.store.db.close()


@pytest.mark.models
@pytest.mark.slow
def test_a_published_draft_reaches_a_joined_kiosk_and_a_rollback_moves_it_on(
    store: FleetStore, matcher: DraftMatcher, tmp_path: Path
) -> None:
    from core.home import KioskHome
    from fleet.agent import FleetAgent

    FleetUsers(store).create("ann", PASSWORD, "admin")
    _publish_v1(store)
    code = store.create_enrolment_code("north")
    app = _app(store, matcher)
    with _serving(app) as base:
        home = KioskHome(tmp_path / "kiosk").ensure()
        agent = FleetAgent(home, retries=0)
        agent.join(base, code)
        assert agent.sync().kb_versions == {"bank": 1}
        assert "0800 111 2222" in _kiosk_answer(home.root, "I lost my card")

        ann, csrf = _signed_in(app, "ann")
        ann.post("/knowledge", data={"csrf_token": csrf, "kb": "bank", "from_version": "1"})
        page = ann.get("/knowledge/bank/entries/bank-lost-card").text
        rev = re.search(r'name="rev" value="(\d+)"', page).group(1)
        ann.post(
            "/knowledge/bank/entries/bank-lost-card",
            data={"csrf_token": csrf, "rev": rev, "question": "I lost my card", "language": "en",
                  "answer": "Call our new card line on 0800 999 0000 to block it.", "alternates": "my card is gone",
                  "category": "cards", "enabled": "1"},
        )  # fmt: skip
        assert ann.post("/knowledge/bank/publish", data={"csrf_token": csrf, "target": "north"}).status_code == 303
        assert agent.sync().kb_versions == {"bank": 2}
        assert "0800 999 0000" in _kiosk_answer(home.root, "I lost my card")

        assert (
            ann.post(
                "/knowledge/bank/rollback", data={"csrf_token": csrf, "version": "1", "target": "north"}
            ).status_code
            == 303
        )
        assert agent.sync().kb_versions == {"bank": 3}
        assert "0800 111 2222" in _kiosk_answer(home.root, "I lost my card")


def test_unanswered_questions_grouped_across_kiosks_and_taught_to_the_draft(store: FleetStore) -> None:
    users = FleetUsers(store)
    _publish_v1(store)
    client = _client(_app(store))
    north, south = _kiosk(store, client, "north"), _kiosk(store, client, "south")
    now = datetime.now(UTC)
    _push(client, north, [("do you sell stamps", "fallback", None, now - timedelta(hours=3)),
                          ("do you sell postage stamps", "fallback", None, now - timedelta(hours=2)),
                          ("opening hours", "faq", "bank-hours", now - timedelta(hours=1))])  # fmt: skip
    _push(client, south, [("Do you sell stamps?", "fallback", None, now - timedelta(hours=5)),
                          ("card or account", "clarify", None, now - timedelta(hours=4)),
                          ("stamps sold here?", "fallback", None, now - timedelta(days=60))])  # fmt: skip
    users.create("ann", PASSWORD, "admin")
    users.create("sam", PASSWORD, "viewer", site="south")
    app = _app(store)
    ann, csrf = _signed_in(app, "ann")

    page = ann.get("/unanswered?days=30").text
    groups = page.split('data-testid="group"')[1:]
    stamps = next(g for g in groups if "stamps" in g)
    assert "3×" in stamps and "2 kiosks" in stamps
    assert 'data-site="north">north: 2<' in stamps and 'data-site="south">south: 1<' in stamps
    assert any("card or account" in g for g in groups) and "opening hours" not in page
    assert "stamps sold here" not in page  # 60 days ago
    assert "stamps sold here" in ann.get("/unanswered?days=90").text
    assert "Start a draft of bank" in page

    ann.post("/knowledge", data={"csrf_token": csrf, "kb": "bank", "from_version": "1"})
    page = ann.get("/unanswered?days=30").text
    text = re.search(r'name="text" value="([^"]+stamps[^"]*)"', page).group(1)
    added = ann.post(
        "/unanswered/alternate",
        data={"csrf_token": csrf, "kb": "bank", "faq_id": "bank-atm", "text": text, "back": "/unanswered?days=30"},
    )
    assert added.status_code == 303 and added.headers["location"] == "/unanswered?days=30&done=alternate-added"
    assert text in ann.get("/knowledge/bank/entries/bank-atm").text
    assert f'value="{text}"' not in ann.get("/unanswered?days=30").text  # the draft knows it now
    assert "draft-alternate-add" in _audit_actions(store)

    sam, sam_csrf = _signed_in(app, "sam")
    mine = sam.get("/unanswered?days=30&site=north").text  # a site's viewer sees their site only
    assert "card or account" in mine and 'data-site="north"' not in mine
    refused = sam.post("/unanswered/alternate", data={"csrf_token": sam_csrf, "kb": "bank", "faq_id": "bank-atm",
                                                       "text": "card or account"})  # fmt: skip
    assert refused.status_code == 403


def test_analytics_add_up_to_the_stored_turns_and_silent_kiosks_are_alerts(store: FleetStore) -> None:
    users = FleetUsers(store)
    _publish_v1(store)
    client = _client(_app(store))
    north, south = _kiosk(store, client, "north"), _kiosk(store, client, "south")
    silent = store.create_enrolment_code("south")
    client.post(f"{API}/join", json={"code": silent})  # joined, never heard of since
    now = datetime.now(UTC) - timedelta(minutes=1)
    _push(client, north, [("opening hours", "faq", "bank-hours", now),
                          ("lost card", "faq", "bank-lost-card", now),
                          ("hours?", "faq", "bank-hours", now - timedelta(days=1)),
                          ("stamps", "fallback", None, now - timedelta(days=1)),
                          ("hello", "smalltalk", None, now - timedelta(days=2))])  # fmt: skip
    _push(client, south, [("card or account", "clarify", None, now),
                          ("opening hours", "faq", "bank-hours", now - timedelta(days=3)),
                          ("old one", "faq", "bank-hours", now - timedelta(days=40))])  # fmt: skip
    users.create("ann", PASSWORD, "admin")
    users.create("sam", PASSWORD, "viewer", site="south")
    app = _app(store)
    ann, _ = _signed_in(app, "ann")

    def stat(html: str, name: str) -> int:
        return int(re.search(rf'data-stat="{name}">(\d+)<', html).group(1))

    page = ann.get("/analytics?days=30").text
    stored = [t for t in store.turns() if t["ts"] >= (now - timedelta(days=29)).strftime("%Y-%m-%d")]
    assert stat(page, "total") == len(stored) == 7
    assert stat(page, "answered") == sum(t["mode"] in ("faq", "generated", "smalltalk") for t in stored) == 5
    assert stat(page, "handed_off") == 1 and stat(page, "clarified") == 1
    row = re.search(r'<tr data-kiosk="' + north["id"] + r'">(.*?)</tr>', page).group(1)
    assert re.findall(r'class="num">(\d+)<', row) == ["5", "4", "1", "0"]
    site_row = re.search(r'<tr data-site="south">(.*?)</tr>', page).group(1)
    assert re.findall(r'class="num">(\d+)%?<', site_row)[:4] == ["2", "1", "0", "1"]
    top = re.search(r'<ol class="top-list">(.*?)</ol>', page, re.S).group(1)
    assert re.findall(r"<li><span>([^<]*)<code", top)[0] == "When are you open? "  # its question, from the version
    assert re.findall(r"(\d+)×</span></li>", top) == ["3", "1"]  # bank-hours, bank-lost-card within 30 days
    assert '<svg class="chart"' in page and "Turns per day" in page
    assert stat(ann.get("/analytics?days=90").text, "total") == 8
    kiosk_page = ann.get(f"/analytics?days=30&kiosk={north['id']}").text
    assert stat(kiosk_page, "total") == 5

    sam, _ = _signed_in(app, "sam")
    assert stat(sam.get("/analytics?days=30&site=north").text, "total") == 2  # their own site, whatever is asked

    kiosks = ann.get("/").text
    alerts = re.search(r'<section class="card problem-card" id="alerts"(.*?)</section>', kiosks, re.S).group(1)
    assert "1 kiosk silent" in alerts and "never seen" in alerts
    assert north["id"] not in alerts and south["id"] not in alerts


def _tar(members: list[tuple[str, str | None, bytes]]) -> bytes:
    """A .tar.gz of (name, link target or None, body) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, link, body in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _pack_archive(folder: Path, *, on_top: str = "") -> bytes:
    """The folder as an operator archives it: ``tar -czf X -C FOLDER .``, or with the folder ``on_top``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=on_top or ".")
    return buffer.getvalue()


def test_settings_and_avatar_packs_published_from_the_pages(store: FleetStore, tmp_path: Path) -> None:
    from fleet.packs import install_archive

    users = FleetUsers(store)
    store.create_enrolment_code("north")
    users.create("ann", PASSWORD, "admin")
    users.create("eve", PASSWORD, "editor", site="north")
    app = _app(store)
    ann, csrf = _signed_in(app, "ann")
    assert 'id="settings-form"' in ann.get("/settings").text and "faq_threshold" in ann.get("/settings").text

    # refused settings: the error on the page, the text kept to fix, nothing stored
    for text, expected in [
        ('[dialog]\nfaq_threshold = "high"\n', "faq_threshold"),
        ("[dialog]\nfaq_threshold = 1.5\n", "faq_threshold"),
        ('[llm]\napi_key = "sk-123"\n', "cannot be published centrally: it is a secret"),
        ('[audio]\ninput_device = "USB mic"\n', "audio devices differ from machine to machine"),
        ("[dialog\nfaq_threshold = 0.5\n", "not valid TOML"),
        ("[dialgo]\nfaq_threshold = 0.5\n", "dialgo"),
    ]:
        refused = ann.post("/settings/publish", data={"csrf_token": csrf, "target": "", "text": text})
        assert refused.status_code == 400, text
        error = re.search(r'id="settings-error">(.*?)</div>', refused.text, re.S).group(1)
        assert expected in error.replace("&#39;", "'").replace("&#34;", '"'), (text, error)
        assert "Nothing was stored" in error and text.splitlines()[1] in html.unescape(refused.text)
    assert store.settings_versions() == [] and "publish-settings" not in _audit_actions(store)

    # pasted, then uploaded for one site; rolled back; an editor may not publish settings
    good = '[dialog]\nfaq_threshold = 0.55\nfallback_message = "Please ask at desk 3."\n'
    assert ann.post("/settings/publish", data={"csrf_token": csrf, "target": "", "text": good}).status_code == 303
    uploaded = ann.post("/settings/publish", data={"csrf_token": csrf, "target": "north"},
                        files={"file": ("central.toml", b'[avatar]\nname = "mascot"\n', "application/toml")})  # fmt: skip
    assert uploaded.status_code == 303
    v2, v1 = store.settings_versions()
    assert (v1["site"], v1["settings"]["dialog"]["faq_threshold"], v1["published_by"]) == (None, 0.55, "ann")
    assert (v2["site"], v2["settings"], v2["source"]) == ("north", {"avatar": {"name": "mascot"}}, "central.toml")
    rolled = ann.post("/settings/rollback", data={"csrf_token": csrf, "version": "1", "target": "north"})
    assert rolled.status_code == 303
    v3 = store.settings_versions()[0]
    assert (v3["version"], v3["rollback_of"], v3["settings"], v3["site"]) == (3, 1, v1["settings"], "north")
    eve, eve_csrf = _signed_in(app, "eve")
    assert 'id="settings-form"' not in eve.get("/settings").text
    assert (
        eve.post("/settings/publish", data={"csrf_token": eve_csrf, "target": "north", "text": good}).status_code == 403
    )
    too_big = ann.post("/settings/publish", data={"csrf_token": csrf, "target": ""},
                       files={"file": ("big.toml", b"#" * (2 << 20), "application/toml")})  # fmt: skip
    assert too_big.status_code == 413  # the default 1 MiB body limit: the pack route's own limit is not everyone's
    assert len(store.settings_versions()) == 3

    # an avatar pack: a built-in drawn pack's folder archived at its root, then with the folder on top
    pack_dir = tmp_path / "mascot"
    shutil.copytree(REPO / "avatar" / "packs" / "mascot", pack_dir)
    (pack_dir / "extra.bin").write_bytes(os.urandom(3 << 20))  # over the 1 MiB default: the route's limit applies
    published = ann.post("/avatars/publish", data={"csrf_token": csrf, "target": ""},
                         files={"file": ("mascot.tar.gz", _pack_archive(pack_dir), "application/gzip")})  # fmt: skip
    assert published.status_code == 303, published.text
    on_top = ann.post("/avatars/publish", data={"csrf_token": csrf, "target": "north", "name": "mascot"},
                      files={"file": ("m.tgz", _pack_archive(pack_dir, on_top="mascot"), "application/gzip")})  # fmt: skip
    assert on_top.status_code == 303, on_top.text
    assert [(v["version"], v["site"]) for v in store.avatar_versions("mascot")] == [(2, "north"), (1, None)]
    payload = store.avatar_payload("mascot", 2)
    installed = install_archive(payload["archive"], name="mascot", expected_sha256=payload["sha256"],
                                avatars_dir=tmp_path / "kiosk-avatars")  # fmt: skip
    assert (installed / "extra.bin").read_bytes() == (pack_dir / "extra.bin").read_bytes()

    # hostile or broken archives: refused with the reason, nothing stored
    manifest = (pack_dir / "manifest.json").read_bytes()
    for name, data, expected in [
        ("link.tar.gz", _tar([("manifest.json", None, manifest), ("face.png", "/etc/passwd", b"")]), "link"),
        ("up.tar.gz", _tar([("manifest.json", None, manifest), ("../evil.png", None, b"x")]), "not a plain relative"),
        ("abs.tar.gz", _tar([("/manifest.json", None, manifest)]), "not a plain relative"),
        ("none.tar.gz", _tar([("readme.txt", None, b"hi")]), "holds no manifest.json"),
        ("junk.tar.gz", b"not a tar at all", "not a .tar.gz archive"),
        ("bad.tar.gz", _tar([("manifest.json", None, b"{not json")]), "not valid JSON"),
    ]:
        refused = ann.post("/avatars/publish", data={"csrf_token": csrf, "target": ""},
                           files={"file": (name, data, "application/gzip")})  # fmt: skip
        assert refused.status_code == 400, name
        error = re.search(r'id="avatar-error">(.*?)</div>', refused.text, re.S).group(1)
        assert expected in error.replace("&#39;", "'") and "/tmp/" not in error, (name, error)
    wrong = ann.post("/avatars/publish", data={"csrf_token": csrf, "target": "", "name": "anna"},
                     files={"file": ("m.tar.gz", _pack_archive(pack_dir), "application/gzip")})  # fmt: skip
    assert wrong.status_code == 400 and "names the pack" in wrong.text
    assert eve.post("/avatars/publish", data={"csrf_token": eve_csrf, "target": "north"},
                    files={"file": ("m.tar.gz", _pack_archive(pack_dir), "application/gzip")}).status_code == 403  # fmt: skip
    assert len(store.avatar_versions()) == 2
    back = ann.post("/avatars/rollback", data={"csrf_token": csrf, "name": "mascot", "version": "1", "target": ""})
    assert back.status_code == 303
    v3 = store.avatar_versions("mascot")[0]
    assert (v3["version"], v3["rollback_of"], v3["sha256"]) == (3, 1, store.avatar_versions("mascot")[2]["sha256"])
    page = ann.get("/avatars").text
    assert 'data-pack="mascot"' in page and page.count("<tr data-version=") == 3
    actions = _audit_actions(store)
    assert actions.count("publish-settings") == 3 and actions.count("publish-avatar") == 3

    # the kiosks page shows what each kiosk applied
    client = _client(app)
    kiosk = _kiosk(store, client, "north")
    beat = {"state": "idle", "settings_version": 3, "avatar_versions": {"mascot": 2}}
    assert (
        client.post(f"{API}/heartbeat", json=beat, headers={"Authorization": kiosk["Authorization"]}).status_code == 200
    )
    row = re.search(rf'<tr class="up" data-kiosk="{kiosk["id"]}">(.*?)</tr>', ann.get("/").text, re.S).group(1)
    assert re.search(r'data-testid="settings-version">v3<', row) and "mascot v2" in row


@pytest.mark.slow
def test_a_document_added_to_the_draft_reaches_a_kiosk(store: FleetStore, tmp_path: Path) -> None:
    from core.home import KioskHome
    from fleet.agent import FleetAgent
    from knowledge.store import FaqStore

    users = FleetUsers(store)
    users.create("ann", PASSWORD, "admin")
    users.create("vic", PASSWORD, "viewer")
    _publish_v1(store)
    code = store.create_enrolment_code("north")
    app = _app(store)
    ann, csrf = _signed_in(app, "ann")
    ann.post("/knowledge", data={"csrf_token": csrf, "kb": "bank", "from_version": "1"})

    typed = ann.post("/import/bank/document", data={"csrf_token": csrf, "title": "Branch guide",
                     "text": "The safe deposit boxes are in the basement, next to the night safe."})  # fmt: skip
    assert typed.status_code == 303 and typed.headers["location"] == "/knowledge/bank?done=document-added#documents"
    uploaded = ann.post("/import/bank/document", data={"csrf_token": csrf},
                        files={"file": ("house-rules.md", "# House rules\n\nNo dogs except guide dogs.\n")})  # fmt: skip
    assert uploaded.status_code == 303
    again = ann.post("/import/bank/document", data={"csrf_token": csrf, "title": "Branch guide", "text": "Second."})
    assert again.status_code == 303  # a second document of the same title gets its own id
    for data, files, expected in [
        ({"title": "Empty", "text": "   "}, None, "The document is empty"),
        ({"title": ""}, {"file": ("guide.pdf", b"%PDF-1.4", "application/pdf")}, "only .txt or .md"),
        ({"title": "", "text": "Some text."}, None, "needs a title"),
    ]:
        refused = ann.post("/import/bank/document", data={"csrf_token": csrf, **data}, files=files)
        assert refused.status_code == 400 and expected in refused.text, refused.text
    vic, vic_csrf = _signed_in(app, "vic")
    assert (
        vic.post("/import/bank/document", data={"csrf_token": vic_csrf, "title": "X", "text": "Y"}).status_code == 403
    )
    page = ann.get("/knowledge/bank").text
    assert re.findall(r'data-document="([^"]+)"', page) == ["branch-guide", "house-rules", "branch-guide-2"]
    assert ann.post("/knowledge/bank/documents/branch-guide-2/delete", data={"csrf_token": csrf}).status_code == 303
    assert ann.post("/knowledge/bank/documents/nope/delete", data={"csrf_token": csrf}).status_code == 404
    actions = _audit_actions(store)
    assert actions.count("draft-document-add") == 3 and "draft-document-remove" in actions

    with _serving(app) as base:
        agent = FleetAgent(KioskHome(tmp_path / "kiosk").ensure(), retries=0)
        agent.join(base, code)
        assert agent.sync().documents == {"bank": 0}
        assert ann.post("/knowledge/bank/publish", data={"csrf_token": csrf, "target": "north"}).status_code == 303
        report = agent.sync()
        assert report.kb_versions == {"bank": 2} and report.documents == {"bank": 2}
    faq = FaqStore.open(tmp_path / "kiosk" / "kiosk.db")
    docs = {d.id: d for d in faq.documents("bank")}
    assert set(docs) == {"branch-guide", "house-rules"}
    assert "night safe" in docs["branch-guide"].body and docs["house-rules"].title == "house rules"
    assert faq.count("bank") == 3  # the entries travelled with them
    # a new draft started from that version starts with its documents
    ann.post("/knowledge/bank/discard", data={"csrf_token": csrf})
    ann.post("/knowledge", data={"csrf_token": csrf, "kb": "bank", "from_version": "2"})
    assert re.findall(r'data-document="([^"]+)"', ann.get("/knowledge/bank").text) == ["branch-guide", "house-rules"]


@pytest.mark.browser
def test_pages_in_a_real_chromium(store: FleetStore) -> None:
    """The knowledge base (with a document added), unanswered, analytics, kiosks, settings (a refused and a
    published version), avatars and groups pages in headless Chromium: no script error, no page wider than the
    window, the forms and charts on screen (screenshots in /tmp/fleet-*.png)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    users = FleetUsers(store)
    _publish_v1(store)
    client = _client(_app(store))
    north, south = _kiosk(store, client, "north"), _kiosk(store, client, "south")
    store.create_enrolment_code("east")
    client.post(f"{API}/join", json={"code": store.create_enrolment_code("east")})  # a silent kiosk
    now = datetime.now(UTC)
    _push(client, north, [(f"question {i}", mode, "bank-hours" if mode == "faq" else None, now - timedelta(hours=9 * i))
                          for i, mode in enumerate(["faq", "faq", "fallback", "clarify", "faq", "smalltalk"] * 4)])  # fmt: skip
    _push(client, south, [("do you sell stamps", "fallback", None, now - timedelta(hours=2)),
                          ("do you sell postage stamps", "fallback", None, now - timedelta(hours=30))])  # fmt: skip
    users.create("ann", PASSWORD, "admin")
    store.publish("bank", store.kb_payload("bank", 1)["entries"], site="north", actor="ann", title="Harbor Bank")
    store.set_group("line-2", ["north", "south"], actor="ann")
    store.publish_settings({"dialog": {"faq_threshold": 0.5}}, site=None, group="line-2", actor="ann")
    pack = _pack_archive(REPO / "avatar" / "packs" / "mascot")
    store.publish_avatar("mascot", pack, site=None, source="mascot.tar.gz", actor="ann")
    auth = {"Authorization": north["Authorization"]}
    beat = {"state": "idle", "kb_versions": {"bank": 2}, "settings_version": 1, "avatar_versions": {"mascot": 1}}
    assert client.post(f"{API}/heartbeat", json=beat, headers=auth).status_code == 200
    app = _app(store)
    with _serving(app) as base, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/knowledge/bank")
        page.click("#draft button[type=submit]")  # start a draft from the newest version
        page.wait_for_selector("#publish-form")
        assert "Draft started" in page.inner_text(".flash")
        page.fill("#document-form input[name=title]", "Branch guide")
        page.fill("#document-form textarea[name=text]", "The safe deposit boxes are in the basement.")
        page.click("#document-form button[type=submit]")
        page.wait_for_selector("tr[data-document=branch-guide]")
        page.goto(f"{base}/settings")
        page.fill("#settings-form textarea[name=text]", "[dialog]\nfaq_threshold = 2\n")
        page.click("#settings-form button[type=submit]")
        assert "faq_threshold" in page.inner_text("#settings-error")
        page.screenshot(path="/tmp/fleet-settings-error.png", full_page=True)
        assert [p for p in problems if "status of 400" not in p] == []  # the refused form answers 400, on purpose
        problems.clear()
        page.fill("#settings-form textarea[name=text]", "[dialog]\nfaq_threshold = 0.6\n")
        page.select_option("#settings-form select[name=target]", "group:line-2")
        page.click("#settings-form button[type=submit]")
        page.wait_for_selector("tr[data-version='2']")
        assert "Settings published" in page.inner_text(".flash")
        for name, path, selector in [
            ("kb", "/knowledge/bank", "#publish-form"),
            ("entries", "/knowledge/bank/entries", "#entries"),
            ("unanswered", "/unanswered", "[data-testid=group]"),
            ("analytics", "/analytics", "svg.chart"),
            ("kiosks", "/", "#alerts"),
            ("settings", "/settings", "#versions"),
            ("avatars", "/avatars", "#avatar-form"),
            ("groups", "/groups", "#groups"),
        ]:
            page.goto(base + path)
            box = page.locator(selector).first.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 10, (name, box)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 1366, (name, width)
            page.screenshot(path=f"/tmp/fleet-{name}.png", full_page=True)
        browser.close()
    assert not problems, problems
