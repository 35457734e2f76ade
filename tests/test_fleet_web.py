"""The fleet pages on a real PostgreSQL: sign-in with CSRF and throttling, kiosks at a glance, conversations by site."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from fleet.protocol import API
from fleet.server import create_app
from fleet.store import FleetStore
from fleet.users import FleetUsers

pytestmark = pytest.mark.network

PASSWORD = "a long passphrase"


@pytest.fixture
def store(fleet_db: str) -> Iterator[FleetStore]:
    fleet_store = FleetStore(fleet_db, max_size=4)
    yield fleet_store
    fleet_store.close()


def _client(store: FleetStore) -> TestClient:
    return TestClient(create_app(store), follow_redirects=False)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _sign_in(client: TestClient, name: str, password: str = PASSWORD) -> int:
    form = client.get("/login")
    response = client.post(
        "/login", data={"username": name, "password": password, "csrf_token": _csrf(form.text), "next": "/"}
    )
    return response.status_code


def _kiosk_with_turn(store: FleetStore, client: TestClient, site: str, text: str) -> str:
    code = store.create_enrolment_code(site)
    joined = client.post(f"{API}/join", json={"code": code}).json()
    auth = {"Authorization": f"Bearer {joined['credential']}"}
    client.post(f"{API}/heartbeat", json={"state": "idle", "kb_versions": {"bank": 2}}, headers=auth)
    turn = {"id": 1, "ts": "2025-03-01T09:00:00Z", "kb": "bank", "text": text, "answer": "ok", "mode": "faq"}
    assert client.post(f"{API}/turns", json={"turns": [turn]}, headers=auth).status_code == 200
    return joined["kiosk_id"]


def test_pages_need_a_signed_in_user_and_a_csrf_token(store: FleetStore) -> None:
    FleetUsers(store).create("ann", PASSWORD, "admin")
    client = _client(store)
    assert client.get("/").status_code == 303 and client.get("/").headers["location"].startswith("/login")
    forged = client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert _sign_in(client, "ann", "wrong password") == 401
    assert _sign_in(client, "ann") == 303
    page = client.get("/")
    assert page.status_code == 200 and "Kiosks" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/logout", data={"csrf_token": _csrf(page.text)}).status_code == 303
    assert client.get("/").status_code == 303  # the session is gone for good


def test_sign_in_is_throttled_per_user_name(store: FleetStore) -> None:
    FleetUsers(store).create("ann", PASSWORD, "admin")
    client = _client(store)
    for _ in range(5):
        assert _sign_in(client, "ANN", "wrong password") == 401
    assert _sign_in(client, "ann") == 429  # even the right password waits


def test_kiosks_at_a_glance_and_conversations_by_site(store: FleetStore) -> None:
    users = FleetUsers(store)
    client = _client(store)
    north = _kiosk_with_turn(store, client, "north", "<script>alert(1)</script> where is the exit")
    south = _kiosk_with_turn(store, client, "south", "south question")
    silent = store.create_enrolment_code("south")
    client.post(f"{API}/join", json={"code": silent})  # joined, never seen since
    users.create("ann", PASSWORD, "admin")
    users.create("sam", PASSWORD, "viewer", site="south")

    assert _sign_in(client, "ann") == 303
    page = client.get("/")
    assert north in page.text and south in page.text and "bank v2" in page.text
    assert re.search(r'id="down-count">1<', page.text)  # the silent one
    turns = client.get("/conversations").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in turns and "<script>alert" not in turns
    assert "south question" in turns
    assert "south question" not in client.get("/conversations?site=north").text

    sam = _client(store)
    assert _sign_in(sam, "sam") == 303
    page = sam.get("/")
    assert south in page.text and north not in page.text
    turns = sam.get("/conversations?site=north").text  # a site's viewer cannot look elsewhere
    assert "south question" in turns and "where is the exit" not in turns
