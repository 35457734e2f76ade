"""The fleet server's kiosk API on a real PostgreSQL: what it accepts, and bad input refused with nothing stored."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from fleet.errors import FleetInputError
from fleet.protocol import API, MAX_TURNS_PER_BATCH, entries_digest
from fleet.schema import MIGRATIONS, migrate, schema_version
from fleet.server import create_app
from fleet.store import FleetStore

pytestmark = pytest.mark.network

ENTRIES = [{"id": "hours", "question": "When are you open?", "answer": "9 to 5.", "alternates": ["opening hours"]}]


@pytest.fixture
def store(fleet_db: str) -> Iterator[FleetStore]:
    fleet_store = FleetStore(fleet_db, max_size=4)
    yield fleet_store
    fleet_store.close()


@pytest.fixture
def client(store: FleetStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


def _join(client: TestClient, store: FleetStore, site: str = "north") -> dict:
    code = store.create_enrolment_code(site)
    response = client.post(f"{API}/join", json={"code": code})
    assert response.status_code == 200, response.text
    return response.json()


def _auth(joined: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {joined['credential']}"}


def _turn(n: int, **changes: object) -> dict:
    turn = {
        "id": n,
        "ts": f"2025-01-01T10:00:{n % 60:02d}.000Z",
        "kb": "bank",
        "text": f"q{n}",
        "answer": "a",
        "mode": "faq",
        "faq_id": "x",
    }
    return {**turn, **changes}


def test_migrations_are_recorded_and_safe_to_run_twice_at_once(fleet_db: str) -> None:
    threads = [threading.Thread(target=migrate, args=(fleet_db,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(fleet_db) as conn:
        assert schema_version(conn) == MIGRATIONS[-1][0]
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [v for v, _, _ in MIGRATIONS]


def test_an_enrolment_code_joins_one_kiosk_once(client: TestClient, store: FleetStore) -> None:
    code = store.create_enrolment_code("north")
    first = client.post(f"{API}/join", json={"code": code.lower().replace("-", " ")})
    assert first.status_code == 200
    joined = first.json()
    assert joined["site"] == "north" and joined["kiosk_id"].startswith("north-")
    again = client.post(f"{API}/join", json={"code": code})
    assert again.status_code == 409 and again.json()["error"]["code"] == "fleet-code-used"
    unknown = client.post(f"{API}/join", json={"code": "AAAA-BBBB-CCCC-DDDD"})
    assert unknown.status_code == 403
    with store.tx() as conn:
        stored = conn.execute("SELECT credential_hash FROM kiosks").fetchall()
        codes = conn.execute("SELECT code_hash FROM enrolment_codes").fetchall()
    assert len(stored) == 1 and joined["credential"] not in stored[0]["credential_hash"]
    assert code.replace("-", "") not in codes[0]["code_hash"]


def test_an_expired_code_is_refused(client: TestClient, store: FleetStore) -> None:
    code = store.create_enrolment_code("north", ttl=timedelta(seconds=-1))
    response = client.post(f"{API}/join", json={"code": code})
    assert response.status_code == 403 and response.json()["error"]["code"] == "fleet-code-expired"
    assert store.kiosks() == []


def test_unknown_missing_and_revoked_credentials_get_401(client: TestClient, store: FleetStore) -> None:
    beat = {"state": "idle"}
    assert client.post(f"{API}/heartbeat", json=beat).status_code == 401
    bad = client.post(f"{API}/heartbeat", json=beat, headers={"Authorization": "Bearer north-x.nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "fleet-credential-unknown"
    joined = _join(client, store)
    assert client.post(f"{API}/heartbeat", json=beat, headers=_auth(joined)).status_code == 200
    store.revoke(joined["kiosk_id"])
    revoked = client.post(f"{API}/turns", json={"turns": [_turn(1)]}, headers=_auth(joined))
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "fleet-credential-revoked"
    assert store.turn_count() == 0


def test_turns_are_stored_once_and_a_resend_is_harmless(client: TestClient, store: FleetStore) -> None:
    joined = _join(client, store)
    batch = {"kiosk_id": joined["kiosk_id"], "site": "north", "turns": [_turn(n) for n in range(1, 6)]}
    first = client.post(f"{API}/turns", json=batch, headers=_auth(joined)).json()
    assert first == {"acked": [1, 2, 3, 4, 5], "stored": 5, "duplicates": 0}
    again = client.post(f"{API}/turns", json=batch, headers=_auth(joined)).json()
    assert again == {"acked": [1, 2, 3, 4, 5], "stored": 0, "duplicates": 5}
    assert store.turn_count() == 5
    rows = store.turns(kiosk=joined["kiosk_id"])
    assert [r["text"] for r in rows] == ["q1", "q2", "q3", "q4", "q5"] and rows[0]["site"] == "north"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"turns": "nope"}',
        json.dumps({"turns": [_turn(1), {**_turn(2), "id": "two"}]}).encode(),
        json.dumps({"turns": [_turn(1), {k: v for k, v in _turn(2).items() if k != "text"}]}).encode(),
        json.dumps({"turns": [_turn(1), _turn(2, text="nul \x00 inside")]}).encode(),
        json.dumps({"turns": [_turn(1), _turn(2, ts="yesterday")]}).encode(),
        json.dumps({"turns": [_turn(1), _turn(2, ts="2025-01-01T10:00:00")]}).encode(),  # no time zone
        json.dumps({"turns": [_turn(1), _turn(2, mode="DROP TABLE")]}).encode(),
        json.dumps({"turns": [_turn(1)], "extra": 1}).encode(),
    ],
    ids=["not-json", "not-a-list", "bad-id", "missing-text", "nul", "bad-ts", "naive-ts", "bad-mode", "extra-key"],
)
def test_a_malformed_batch_is_refused_whole(client: TestClient, store: FleetStore, body: bytes) -> None:
    joined = _join(client, store)
    response = client.post(f"{API}/turns", content=body, headers={**_auth(joined), "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "fleet-bad-request"
    assert store.turn_count() == 0


def test_oversized_batches_are_refused_with_413(client: TestClient, store: FleetStore) -> None:
    joined = _join(client, store)
    many = {"turns": [_turn(n, text="") for n in range(1, MAX_TURNS_PER_BATCH + 2)]}
    too_many = client.post(f"{API}/turns", json=many, headers=_auth(joined))
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "fleet-batch-too-large"
    huge = {"turns": [_turn(n, answer="x" * 15000) for n in range(1, 100)]}  # ~1.5 MB
    assert client.post(f"{API}/turns", json=huge, headers=_auth(joined)).status_code == 413
    assert store.turn_count() == 0


def test_turns_for_another_site_or_kiosk_are_refused(client: TestClient, store: FleetStore) -> None:
    north = _join(client, store, "north")
    south = _join(client, store, "south")
    other_site = client.post(f"{API}/turns", json={"site": "south", "turns": [_turn(1)]}, headers=_auth(north))
    assert other_site.status_code == 403 and other_site.json()["error"]["code"] == "fleet-wrong-site"
    other_kiosk = client.post(
        f"{API}/turns", json={"kiosk_id": south["kiosk_id"], "turns": [_turn(1)]}, headers=_auth(north)
    )
    assert other_kiosk.status_code == 403 and other_kiosk.json()["error"]["code"] == "fleet-wrong-kiosk"
    assert store.turn_count() == 0


def test_the_target_is_the_newest_version_for_the_site(client: TestClient, store: FleetStore) -> None:
    north = _join(client, store, "north")
    south = _join(client, store, "south")
    assert store.publish("bank", ENTRIES, site=None) == 1
    v2 = [{**ENTRIES[0], "answer": "North only: 8 to 6."}]
    assert store.publish("bank", v2, site="north") == 2
    beat = {"state": "idle", "kb_versions": {"bank": 0}}
    north_target = client.post(f"{API}/heartbeat", json=beat, headers=_auth(north)).json()["target"]
    south_target = client.post(f"{API}/heartbeat", json=beat, headers=_auth(south)).json()["target"]
    assert north_target == {"bank": {"version": 2, "sha256": entries_digest(v2)}}
    assert south_target == {"bank": {"version": 1, "sha256": entries_digest(ENTRIES)}}
    payload = client.get(f"{API}/kb/bank/2", headers=_auth(north)).json()
    assert payload["entries"][0]["answer"] == "North only: 8 to 6." and payload["sha256"] == entries_digest(v2)
    assert client.get(f"{API}/kb/bank/2", headers=_auth(south)).status_code == 404  # another site's version
    assert client.get(f"{API}/kb/bank/9", headers=_auth(south)).status_code == 404


def test_a_heartbeat_is_recorded(client: TestClient, store: FleetStore) -> None:
    joined = _join(client, store)
    beat = {"state": "speaking", "kb_versions": {"bank": 3}, "software_version": "9.9", "health": {"cpu_percent": 12.5}}
    assert client.post(f"{API}/heartbeat", json=beat, headers=_auth(joined)).status_code == 200
    (row,) = store.kiosks()
    assert row["state"] == "speaking" and row["kb_versions"] == {"bank": 3} and row["last_seen"]
    assert row["health"] == {"cpu_percent": 12.5}
    bad = client.post(f"{API}/heartbeat", json={"state": "x" * 100}, headers=_auth(joined))
    assert bad.status_code == 400


def test_publishing_to_an_unknown_site_is_refused(store: FleetStore) -> None:
    with pytest.raises(FleetInputError) as caught:
        store.publish("bank", ENTRIES, site="nowhere")
    assert caught.value.code == "fleet-site-unknown"
    assert store.versions() == []


def test_a_heartbeat_with_an_oversized_report_is_refused(client: TestClient, store: FleetStore) -> None:
    joined = _join(client, store)
    beat = {"state": "idle", "health": {"note": "x" * 5000}}
    response = client.post(f"{API}/heartbeat", json=beat, headers=_auth(joined))
    assert response.status_code == 400 and "health" in response.json()["error"]["message"]
    assert store.kiosks()[0]["last_seen"] is None


def test_turns_stream_in_time_order_since_a_time(client: TestClient, store: FleetStore) -> None:
    from datetime import UTC, datetime

    north, south = _join(client, store, "north"), _join(client, store, "south")
    client.post(f"{API}/turns", json={"turns": [_turn(5), _turn(1)]}, headers=_auth(north))
    client.post(f"{API}/turns", json={"turns": [_turn(3)]}, headers=_auth(south))
    every = [t["text"] for t in store.iter_turns()]
    assert every == ["q1", "q3", "q5"]
    since = datetime(2025, 1, 1, 10, 0, 2, tzinfo=UTC)
    assert [t["text"] for t in store.iter_turns(since=since)] == ["q3", "q5"]
    assert [t["text"] for t in store.iter_turns(site="north")] == ["q1", "q5"]
    assert [t["text"] for t in store.iter_turns(kiosk=south["kiosk_id"])] == ["q3"]
