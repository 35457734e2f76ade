"""Groups of sites on a real PostgreSQL: `kiosk fleet group`, publishing with `--group`, and the target each
real kiosk (a FleetAgent syncing over HTTP) resolves: the newest version published for its site, for a group
holding its site, or for all. Site-scoped operators cannot reach other sites through a group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from core.home import KioskHome
from fleet.agent import FleetAgent
from fleet.local import require_credential
from fleet.protocol import API
from fleet.server import create_app
from fleet.store import FleetStore
from fleet.users import FleetUsers
from kiosk.cli import main
from tests.fleet_support import serving

pytestmark = pytest.mark.network

PASSWORD = "a long passphrase"
ENTRY = {"id": "bank-hours", "question": "When are you open?", "answer": "9 to 5.", "language": "en"}


@pytest.fixture
def store(fleet_db: str) -> Iterator[FleetStore]:
    fleet_store = FleetStore(fleet_db, max_size=6)
    yield fleet_store
    fleet_store.close()


def cli(database_url: str, home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--home", str(home), "fleet", *args, "--database-url", database_url])
    return result.exit_code, result.output


def ok(database_url: str, home: Path, *args: str) -> str:
    code, output = cli(database_url, home, *args)
    assert code == 0, output
    return output


def _entries(answer: str) -> list[dict[str, str]]:
    return [{**ENTRY, "answer": answer}]


def test_groups_resolve_the_target_of_real_kiosks_that_sync(fleet_db: str, store: FleetStore, tmp_path: Path) -> None:
    codes = {site: store.create_enrolment_code(site) for site in ("north", "south", "east")}
    csv = tmp_path / "bank.csv"
    csv.write_text(
        "id,question,answer,alternates,category,language\nbank-hours,When are you open?,For line 2: 8 to 8.,,,en\n",
        encoding="utf-8",
    )
    server_home = tmp_path / "server"

    # groups: made and listed by the CLI; an unknown site or group is refused with nothing stored
    assert json.loads(ok(fleet_db, server_home, "group", "line-2", "--sites", "north, south", "--json")) == {
        "group": "line-2",
        "sites": ["north", "south"],
    }
    code, output = cli(fleet_db, server_home, "group", "line-3", "--sites", "north,west")
    assert code == 2 and "fleet-site-unknown" in output and "no site named 'west'" in output
    code, output = cli(fleet_db, server_home, "group", "bad name!", "--sites", "north")
    assert code == 2 and "fleet-group-invalid" in output
    (listed,) = [json.loads(line) for line in ok(fleet_db, server_home, "group", "--json").splitlines()]
    assert (listed["group"], listed["sites"]) == ("line-2", ["north", "south"])
    code, output = cli(fleet_db, server_home, "publish", "bank", "--from", str(csv), "--group", "line-9")
    assert code == 2 and "fleet-group-unknown" in output and "line-2" in output
    code, output = cli(fleet_db, server_home, "publish", "bank", "--from", str(csv), "--group", "line-2", "--all")
    assert code == 2 and "exactly one of --site S, --group G or --all" in output
    assert store.versions() == []

    app = create_app(store)
    with serving(app) as base:
        agents = {}
        for site, code_ in codes.items():
            agent = FleetAgent(KioskHome(tmp_path / site).ensure(), retries=0)
            agent.join(base, code_)
            agents[site] = agent

        def synced() -> dict[str, int]:
            return {site: agent.sync().kb_versions.get("bank", 0) for site, agent in agents.items()}

        store.publish("bank", _entries("Everyone: 9 to 5."), site=None)
        assert synced() == {"north": 1, "south": 1, "east": 1}
        published = json.loads(
            ok(fleet_db, server_home, "publish", "bank", "--from", str(csv), "--group", "line-2", "--json")
        )
        assert (published["version"], published["group"], published["site"]) == (2, "line-2", None)
        assert synced() == {"north": 2, "south": 2, "east": 1}  # the group's newer version wins over all's
        store.publish("bank", _entries("North only: 7 to 7."), site="north")
        assert synced() == {"north": 3, "south": 2, "east": 1}  # north's own is newer still

        # settings and an avatar pack for the group reach its kiosks only (downloads checked by group)
        settings = store.publish_settings({"dialog": {"faq_threshold": 0.55}}, site=None, group="line-2")
        reports = {site: agent.sync() for site, agent in agents.items()}
        assert {site: r.settings_version for site, r in reports.items()} == {"north": settings, "south": settings,
                                                                            "east": 0}  # fmt: skip
        assert "faq_threshold = 0.55" in (tmp_path / "south" / "fleet_settings.toml").read_text(encoding="utf-8")

        # a kiosk outside the group cannot download the group's versions, even by asking for them
        east = {"Authorization": f"Bearer {require_credential(tmp_path / 'east').credential}"}
        assert httpx.get(f"{base}{API}/kb/bank/2", headers=east).status_code == 404
        assert httpx.get(f"{base}{API}/settings/{settings}", headers=east).status_code == 404
        beat = httpx.post(f"{base}{API}/heartbeat", json={"state": "idle"}, headers=east).json()
        assert set(beat) == {"kiosk_id", "site", "target", "settings", "avatars"}  # the protocol is unchanged
        assert beat["target"]["bank"]["version"] == 1 and beat["settings"] is None

        # a group's sites replaced: its kiosks move at their next sync (east now gets the group's v2)
        ok(fleet_db, server_home, "group", "line-2", "--sites", "south,east")
        assert synced() == {"north": 3, "south": 2, "east": 2}
        assert httpx.get(f"{base}{API}/kb/bank/2", headers=east).status_code == 200
        store.publish("bank", _entries("Everyone again: 10 to 4."), site=None)
        assert synced() == {"north": 4, "south": 4, "east": 4}

        # roll back for a group: v2's content again as v5, for the group's kiosks only
        rolled = json.loads(ok(fleet_db, server_home, "rollback", "bank", "--to", "2", "--group", "line-2", "--json"))
        assert (rolled["version"], rolled["group"], rolled["rollback_of"]) == (5, "line-2", 2)
        assert synced() == {"north": 4, "south": 5, "east": 5}
        assert store.kb_payload("bank", 5)["entries"] == store.kb_payload("bank", 2)["entries"]

    lines = ok(fleet_db, server_home, "versions").splitlines()
    assert any(re.search(r"kb\s+bank\s+v5\s+group line-2", line) for line in lines), lines
    audit = [(r["action"], r["target"], r["detail"]) for r in store.audit_entries(100)]
    assert ("group", "line-2", "sites: east, south (was: north, south)") in audit
    assert any(a == "publish" and t == "bank v2" and d.endswith("for group line-2") for a, t, d in audit)


def _client(app):
    from fastapi.testclient import TestClient

    return TestClient(app, follow_redirects=False)


def _signed_in(app, name: str):
    client = _client(app)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text
    page = client.get("/groups").text
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_site_operator_cannot_reach_other_sites_through_a_group(store: FleetStore) -> None:
    for site in ("north", "south", "east"):
        store.create_enrolment_code(site)
    users = FleetUsers(store)
    users.create("ann", PASSWORD, "admin")
    users.create("eve", PASSWORD, "editor", site="north")
    users.create("sal", PASSWORD, "admin", site="north")
    users.create("vic", PASSWORD, "viewer", site="east")
    store.publish("bank", [ENTRY], site=None)
    app = create_app(store)
    ann, csrf = _signed_in(app, "ann")

    # groups from the page: admins of every site only
    saved = ann.post("/groups", data={"csrf_token": csrf, "name": "line-2", "sites": ["north", "south"]})
    assert saved.status_code == 303 and store.group_sites("line-2") == ["north", "south"]
    assert ann.post("/groups", data={"csrf_token": csrf, "name": "north-only", "sites": ["north"]}).status_code == 303
    empty = ann.post("/groups", data={"csrf_token": csrf, "name": "nobody"})
    assert empty.status_code == 400 and "at least one site" in empty.text
    groups_page = ann.get("/groups").text
    assert 'data-group="line-2"' in groups_page and "north, south" in groups_page
    eve, eve_csrf = _signed_in(app, "eve")
    assert eve.post("/groups", data={"csrf_token": eve_csrf, "name": "x", "sites": ["north"]}).status_code == 403
    sal, sal_csrf = _signed_in(app, "sal")
    assert sal.post("/groups", data={"csrf_token": sal_csrf, "name": "x", "sites": ["north"]}).status_code == 403

    # an editor of north: refused for a group holding south, allowed for a group of north alone
    assert ann.post("/knowledge", data={"csrf_token": csrf, "kb": "bank", "from_version": "1"}).status_code == 303
    kb_page = eve.get("/knowledge/bank").text
    assert '<option value="group:north-only">' in kb_page and "group:line-2" not in kb_page
    refused = eve.post("/knowledge/bank/publish", data={"csrf_token": eve_csrf, "target": "group:line-2"})
    assert refused.status_code == 403 and "group line-2 also holds south" in refused.text
    rollback = eve.post("/knowledge/bank/rollback", data={"csrf_token": eve_csrf, "version": "1",
                                                          "target": "group:line-2"})  # fmt: skip
    assert rollback.status_code == 403
    assert [v["version"] for v in store.versions("bank")] == [1]
    allowed = eve.post("/knowledge/bank/publish", data={"csrf_token": eve_csrf, "target": "group:north-only"})
    assert allowed.status_code == 303
    assert (store.versions("bank")[0]["site"], store.versions("bank")[0]["site_group"]) == (None, "north-only")
    unknown = ann.post("/knowledge/bank/publish", data={"csrf_token": csrf, "target": "group:line-9"})
    assert unknown.status_code == 400 and "no group named &#39;line-9&#39;" in unknown.text

    # a site's admin: the same rule for settings; an admin of every site publishes to the group
    toml = "[dialog]\nfaq_threshold = 0.5\n"
    refused = sal.post("/settings/publish", data={"csrf_token": sal_csrf, "target": "group:line-2", "text": toml})
    assert refused.status_code == 403 and store.settings_versions() == []
    assert ann.post("/knowledge/bank/publish", data={"csrf_token": csrf, "target": "group:line-2"}).status_code == 303
    assert store.target("south")["bank"]["version"] == 3 and store.target("east")["bank"]["version"] == 1

    # what a site's operator sees: versions for all, their site, or a group holding it
    vic, _ = _signed_in(app, "vic")
    east_page = vic.get("/knowledge/bank").text
    assert 'data-version="1"' in east_page and 'data-version="3"' not in east_page
    north_page = eve.get("/knowledge/bank").text
    assert all(f'data-version="{n}"' in north_page for n in (1, 2, 3)) and "group line-2" in north_page
    assert "line-2" not in vic.get("/groups").text  # a group without east is not east's business


def test_migration_5_keeps_the_documents_of_drafts_started_before_it(fleet_db: str) -> None:
    """A draft started (schema 4) from a version with documents publishes them after the upgrade too."""
    import psycopg
    from psycopg.types.json import Jsonb

    from fleet.drafts import DraftStore
    from fleet.schema import MIGRATIONS

    with psycopg.connect(fleet_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        for version, name, apply in MIGRATIONS[:4]:
            apply(conn)
            conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", [version, name])
        conn.execute("INSERT INTO sites (name) VALUES ('north')")
        doc = {"id": "guide", "title": "Guide", "body": "The lockers are downstairs.", "language": "en"}
        conn.execute(
            """INSERT INTO kb_versions (kb, version, site, entries, entry_count, documents, document_count, sha256)
               VALUES ('bank', 1, NULL, %s, 1, %s, 1, 'x')""",
            [Jsonb([ENTRY]), Jsonb([doc])],
        )
        conn.execute("INSERT INTO kb_drafts (kb, base_version, created_by) VALUES ('bank', 1, 'ann')")
    store = FleetStore(fleet_db, max_size=2)
    try:
        drafts = DraftStore(store)
        assert [(d["id"], d["body"]) for d in drafts.documents("bank")] == [("guide", doc["body"])]
        version = drafts.publish("bank", site="north", actor="ann")
        assert store.kb_payload("bank", version)["documents"] == [doc]
    finally:
        store.close()
