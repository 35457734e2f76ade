"""Publishing documents, settings and avatar packs to kiosks, rolling them back, and the server's upkeep
(turn retention, silence alerts with their webhook), on a real PostgreSQL through real HTTP: a
`kiosk fleet serve` process, the `kiosk fleet` CLI and a real kiosk home.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import psycopg
import pytest

from avatar.pack import BUILTIN_PACKS, load_pack
from core.home import KioskHome
from core.settings import load_settings
from fleet.agent import FleetAgent
from fleet.errors import FleetInputError
from fleet.maintenance import FleetUpkeep, UpkeepPolicy
from fleet.packs import archive_digest, make_archive
from fleet.store import FleetStore, KioskIdentity
from knowledge.store import FaqStore
from tests.fleet_support import REPO, clean_env, fleet_server

pytestmark = [pytest.mark.network, pytest.mark.slow]

BANK = """id,question,answer,alternates,category,language
bank-hours,When are you open?,"We are open 8:00 to 18:00 on weekdays.",opening hours,branch,en
"""
GUIDE = "# Branch guide\n\nThe safe deposit boxes are in the basement, next to the night safe.\n"


def kiosk_cli(database_url: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=clean_env(KIOSK_FLEET_DATABASE_URL=database_url),
        cwd=REPO,
        timeout=300,
    )


def ok(database_url: str, home: Path, *args: str) -> str:
    proc = kiosk_cli(database_url, home, *args)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def make_pack(root: Path, name: str, description: str = "published") -> Path:
    folder = root / f"pack-{name}-{description}"
    folder.mkdir(parents=True)
    manifest = json.loads((BUILTIN_PACKS / "presenter" / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(name=name, description=description)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def counts(database_url: str) -> tuple[int, int, int]:
    with psycopg.connect(database_url) as conn:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("kb_versions", "settings_versions", "avatar_versions")
        )


@pytest.fixture
def store(fleet_db: str) -> Iterator[FleetStore]:
    fleet_store = FleetStore(fleet_db, max_size=3)
    yield fleet_store
    fleet_store.close()


def test_documents_settings_and_avatars_reach_a_kiosk_and_roll_back(
    fleet_db: str, store: FleetStore, tmp_path: Path
) -> None:
    server_home, kiosk = tmp_path / "server-home", tmp_path / "kiosk-home"
    server_home.mkdir()
    home = KioskHome(kiosk).ensure()
    (kiosk / "settings.toml").write_text(
        '[avatar]\nname = "mascot"\n[audio]\ninput_device = "USB mic"\n[dialog]\nfaq_threshold = 0.5\n'
    )
    (tmp_path / "bank.csv").write_text(BANK, encoding="utf-8")
    guide = tmp_path / "branch-guide.md"
    guide.write_text(GUIDE, encoding="utf-8")
    central = tmp_path / "central.toml"
    central.write_text('[avatar]\nname = "anna"\n[dialog]\nfallback_message = "Please ask at desk 3."\n')
    code = store.create_enrolment_code("north")

    with fleet_server(fleet_db, server_home) as server:
        FleetAgent(home, retries=0).join(server, code)
        published = json.loads(
            ok(fleet_db, server_home, "fleet", "publish", "bank", "--from", str(tmp_path / "bank.csv"),
               "--document", str(guide), "--all", "--json")
        )  # fmt: skip
        assert published["version"] == 1 and published["entries"] == 1 and published["documents"] == 1
        avatar = json.loads(
            ok(fleet_db, server_home, "fleet", "publish-avatar", "anna", "--from", str(make_pack(tmp_path, "anna")),
               "--all", "--json")
        )  # fmt: skip
        assert avatar["version"] == 1 and avatar["size"] > 0
        settings = json.loads(
            ok(fleet_db, server_home, "fleet", "publish-settings", "--from", str(central), "--site", "north", "--json")
        )
        assert settings["settings_version"] == 1 and settings["keys"] == 2

        pulled = json.loads(ok(fleet_db, kiosk, "fleet", "sync", "--json"))
        assert pulled["ok"], pulled["errors"]
        assert pulled["applied"] == {"bank": 1} and pulled["documents"] == {"bank": 1}
        assert pulled["avatars"] == {"anna": 1} and pulled["settings"] == 1

        # the documents answer on the kiosk, the pack is installed, and central settings win over local ones
        faq = FaqStore.open(kiosk / "kiosk.db")
        (doc,) = faq.documents("bank")
        assert doc.id == "branch-guide" and "safe deposit boxes" in doc.body and doc.chunks
        assert load_pack("anna", kiosk).description == "published"
        effective = load_settings(home.settings_file, env={})
        assert effective.avatar.name == "anna" and effective.dialog.fallback_message == "Please ask at desk 3."
        assert effective.audio.input_device == "USB mic" and effective.dialog.faq_threshold == 0.5
        assert load_settings(home.settings_file, env={"KIOSK_AVATAR__NAME": "presenter"}).avatar.name == "presenter"
        (row,) = store.kiosks()
        assert row["settings_version"] == 1 and row["avatar_versions"] == {"anna": 1}
        status = json.loads(ok(fleet_db, kiosk, "fleet", "status", "--json"))
        assert status["settings_version"] == 1 and status["avatar_versions"] == {"anna": 1}
        assert json.loads(ok(fleet_db, kiosk, "fleet", "sync", "--json"))["avatars"] == {}  # nothing new

        # entries alone keep the documents; --no-documents drops them; roll back brings them again
        store.publish("bank", [{"id": "x", "question": "Is there parking?", "answer": "Yes, behind us."}], site=None)
        ok(fleet_db, server_home, "fleet", "publish", "bank", "--from", str(tmp_path / "bank.csv"), "--no-documents",
           "--all")  # fmt: skip
        store.publish_settings({"dialog": {"fallback_message": "Changed."}}, site=None)
        store.publish_avatar("anna", make_archive("anna", make_pack(tmp_path, "anna", "second")), site="north")
        assert [v["document_count"] for v in store.versions("bank")] == [0, 1, 1]
        second = FleetAgent(home, retries=0).sync()
        assert second.applied == {"bank": 3} and second.documents == {"bank": 0} and faq.documents("bank") == []
        assert load_pack("anna", kiosk).description == "second"
        assert load_settings(home.settings_file, env={}).dialog.fallback_message == "Changed."
        assert load_settings(home.settings_file, env={}).avatar.name == "mascot"  # the new version is the whole set

        for args in (("bank", "--to", "1"), ("--settings", "--to", "1"), ("anna", "--avatar", "--to", "1")):
            back = json.loads(ok(fleet_db, server_home, "fleet", "rollback", *args, "--all", "--json"))
            assert back["rollback_of"] == 1 and back["version"] == 3 + (back["kind"] == "kb")
        third = FleetAgent(home, retries=0).sync()
        assert third.ok and third.applied == {"bank": 4} and third.settings == 3 and third.avatars == {"anna": 3}
        assert [d.id for d in faq.documents("bank")] == ["branch-guide"]
        assert [e.id for e in faq.list("bank")] == ["bank-hours"]
        assert load_pack("anna", kiosk).description == "published"
        assert load_settings(home.settings_file, env={}).avatar.name == "anna"
        listed = [json.loads(line) for line in ok(fleet_db, server_home, "fleet", "versions", "--json").splitlines()]
        assert {(r["kind"], r["version"], r["rollback_of"]) for r in listed} >= {("kb", 4, 1), ("settings", 3, 1)}
        assert any("rollback to v1" in a["detail"] for a in store.audit_entries())
        faq.db.close()


def test_a_tampered_or_hostile_download_changes_nothing(fleet_db: str, store: FleetStore, tmp_path: Path) -> None:
    server_home, kiosk = tmp_path / "server-home", tmp_path / "kiosk-home"
    server_home.mkdir()
    home = KioskHome(kiosk).ensure()
    code = store.create_enrolment_code("north")
    store.publish_avatar("anna", make_archive("anna", make_pack(tmp_path, "anna")), site=None)
    store.publish_settings({"dialog": {"fallback_message": "First."}}, site=None)
    docs = [{"id": "guide", "title": "Guide", "body": GUIDE, "language": "en"}]
    store.publish("bank", [{"id": "a", "question": "Where?", "answer": "Here."}], documents=docs, site=None)
    with fleet_server(fleet_db, server_home) as server:
        agent = FleetAgent(home, retries=0)
        agent.join(server, code)
        assert agent.sync().ok
        overlay = (kiosk / "fleet_settings.toml").read_text()
        manifest = (kiosk / "avatars" / "anna" / "manifest.json").read_bytes()

        store.publish_avatar("anna", make_archive("anna", make_pack(tmp_path, "anna", "v2")), site=None)
        store.publish_settings({"dialog": {"fallback_message": "Second."}}, site=None)
        store.publish("bank", [{"id": "a", "question": "Where?", "answer": "There."}], site=None)
        hostile = io.BytesIO()
        with tarfile.open(fileobj=hostile, mode="w:gz") as tar:
            for name, body in (("manifest.json", manifest), ("../../escaped.txt", b"outside")):
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
        with psycopg.connect(fleet_db) as conn:
            # the pack swapped wholesale, digest included: the kiosk's own member check refuses it
            conn.execute(
                "UPDATE avatar_versions SET archive = %s, sha256 = %s WHERE version = 2",
                [hostile.getvalue(), archive_digest(hostile.getvalue())],
            )
            conn.execute("""UPDATE settings_versions SET settings = '{"llm": {"threads": 2}}' WHERE version = 2""")
            conn.execute("""UPDATE kb_versions SET documents = '[{"id": "guide", "body": "tampered"}]'""")
        report = agent.sync()
        assert report.applied == {} and report.avatars == {} and report.settings is None
        assert len(report.errors) == 3 and all("fleet-download-invalid" in e for e in report.errors)
        assert (kiosk / "fleet_settings.toml").read_text() == overlay
        assert (kiosk / "avatars" / "anna" / "manifest.json").read_bytes() == manifest
        assert sorted(p.name for p in (kiosk / "avatars").iterdir()) == ["anna"]  # nothing left over
        assert not (tmp_path / "escaped.txt").exists() and not (kiosk / "escaped.txt").exists()
        faq = FaqStore.open(kiosk / "kiosk.db")
        assert faq.get("bank", "a").answer == "Here." and faq.documents("bank")[0].body == GUIDE
        faq.db.close()
        assert agent.status()["settings_version"] == 1 and agent.status()["avatar_versions"] == {"anna": 1}


def _tar(members: list[tuple[str, bytes | None, bytes]]) -> bytes:
    """A .tar.gz of (name, link target or None, body) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, link, body in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link.decode()
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def test_bad_settings_packs_and_documents_are_refused_with_nothing_stored(
    fleet_db: str, store: FleetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_home = tmp_path / "server-home"
    server_home.mkdir()
    store.create_enrolment_code("north")
    refusals = {
        "[dialog]\nfaq_threshold = 2.0\n": "fleet-settings-invalid",
        "[dialog]\nfaq_treshold = 0.5\n": "fleet-settings-invalid",
        '[llm]\napi_key = "sk-123"\n': "fleet-settings-local",
        '[kiosk]\noperator_pin = "1234"\n': "fleet-settings-local",
        '[admin]\ntls_cert = "/etc/ssl/kiosk.pem"\n': "fleet-settings-local",
        '[audio]\ninput_device = "USB"\n': "fleet-settings-local",
        '[fleet]\nserver_url = "http://evil"\n': "fleet-settings-local",
        "[dialog\n": "fleet-settings-invalid",
    }
    for n, (text, code) in enumerate(refusals.items()):
        source = tmp_path / f"bad-{n}.toml"
        source.write_text(text)
        proc = kiosk_cli(fleet_db, server_home, "fleet", "publish-settings", "--from", str(source), "--all")
        assert proc.returncode == 2 and code in proc.stderr, (text, proc.stderr)
    assert (
        "secret"
        in kiosk_cli(
            fleet_db, server_home, "fleet", "publish-settings", "--from", str(tmp_path / "bad-2.toml"), "--all"
        ).stderr
    )
    with pytest.raises(FleetInputError, match=r"no site named"):
        store.publish_settings({"dialog": {"generate": False}}, site="nowhere")

    manifest = (make_pack(tmp_path, "anna") / "manifest.json").read_bytes()
    bad_packs = {
        "traversal": _tar([("manifest.json", None, manifest), ("../evil.txt", None, b"x")]),
        "absolute": _tar([("manifest.json", None, manifest), ("/tmp/evil.txt", None, b"x")]),
        "symlink": _tar([("manifest.json", None, manifest), ("link", b"/etc/passwd", b"")]),
        "no manifest": _tar([("readme.txt", None, b"hello")]),
        "broken manifest": _tar([("manifest.json", None, b"{not json")]),
        "other name": _tar([("manifest.json", None, manifest.replace(b'"anna"', b'"bert"'))]),
        "not a tar": b"\x1f\x8b garbage",
    }
    for what, archive in bad_packs.items():
        with pytest.raises(FleetInputError) as refused:
            store.publish_avatar("anna", archive, site=None)
        assert refused.value.code == "fleet-avatar-invalid", what
    monkeypatch.setattr("fleet.packs.MAX_ARCHIVE_BYTES", 100)
    with pytest.raises(FleetInputError) as too_big:
        make_archive("anna", make_pack(tmp_path, "anna", "big"))
    assert too_big.value.code == "fleet-avatar-too-large"
    with pytest.raises(FleetInputError):
        store.publish_avatar("anna", _tar([("manifest.json", None, manifest)]), site=None)
    monkeypatch.undo()
    mismatch = kiosk_cli(
        fleet_db, server_home, "fleet", "publish-avatar", "bert", "--from", str(make_pack(tmp_path, "anna", "x")),
        "--all",
    )  # fmt: skip
    assert mismatch.returncode == 2 and "fleet-avatar-invalid" in mismatch.stderr
    with pytest.raises(FleetInputError):
        store.publish("bank", [], documents=[{"id": "d", "body": "a"}, {"id": "d", "body": "b"}], site=None)
    with pytest.raises(FleetInputError):
        store.publish("bank", [], documents=[{"id": "d", "body": "  "}], site=None)
    unknown = kiosk_cli(fleet_db, server_home, "fleet", "rollback", "bank", "--to", "7", "--all")
    assert unknown.returncode == 2 and "fleet-version-unknown" in unknown.stderr
    assert counts(fleet_db) == (0, 0, 0)


def _kiosk(store: FleetStore, site: str = "north") -> KioskIdentity:
    kiosk_id, site, _credential = store.join(store.create_enrolment_code(site))
    return KioskIdentity(kiosk_id, site, False)


def test_old_turns_are_purged_once_an_hour_with_an_audit_row(fleet_db: str, store: FleetStore, tmp_path: Path) -> None:
    kiosk = _kiosk(store)
    now = datetime.now(UTC)
    turns = [
        {"id": n, "ts": now - timedelta(days=age), "kb": "bank", "text": "q", "answer": "a", "mode": "faq",
         "faq_id": None}
        for n, age in enumerate((400, 91, 89, 0), 1)
    ]  # fmt: skip
    store.store_turns(kiosk, turns)
    assert store.purge_turns_if_due(90, timedelta(hours=1)) == 2
    assert store.purge_turns_if_due(90, timedelta(hours=1)) is None  # another process ran it within the hour
    assert sorted(t["turn_id"] for t in store.turns()) == [3, 4]
    (audit,) = [a for a in store.audit_entries() if a["action"] == "purge-turns"]
    assert audit["detail"] == "2 turns deleted" and audit["target"] == "older than 90 days"
    later = now + timedelta(hours=2)
    assert store.purge_turns_if_due(1, timedelta(hours=1), now=later) == 1  # due again; turn 3 is now old
    upkeep = FleetUpkeep(store, UpkeepPolicy(retention_days=0))
    assert upkeep.run_once()["purged"] is None  # 0 keeps turns for ever
    with pytest.raises(FleetInputError):
        store.purge_turns(0)
    out = ok(fleet_db, tmp_path, "fleet", "purge-turns", "--retention-days", "1")
    assert "deleted 0 turns" in out and store.turn_count() == 1


class _Webhook(BaseHTTPRequestHandler):
    """Answers 500 to the first POST, then 204; keeps what it received."""

    received: ClassVar[list[dict]] = []
    calls: ClassVar[int] = 0

    def do_POST(self) -> None:  # the http.server API names it
        type(self).calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if type(self).calls == 1:
            self.send_response(500)
        else:
            type(self).received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def test_a_silent_kiosk_raises_one_alert_and_one_webhook_call(fleet_db: str, store: FleetStore, tmp_path: Path) -> None:
    quiet, fine = _kiosk(store), _kiosk(store, "south")
    with psycopg.connect(fleet_db) as conn:
        conn.execute("UPDATE kiosks SET last_seen = now() - interval '2 hours' WHERE id = %s", [quiet.id])
        conn.execute("UPDATE kiosks SET last_seen = now() WHERE id = %s", [fine.id])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        policy = UpkeepPolicy(
            retention_days=0,
            silent_after=timedelta(minutes=30),
            webhook_url=f"http://127.0.0.1:{server.server_address[1]}/hook",
            first_retry=timedelta(0),
        )
        upkeep = FleetUpkeep(store, policy)
        first = upkeep.run_once()
        assert (first["raised"], first["notified"]) == (1, 0)  # the webhook failed once: retried later
        (alert,) = store.alerts()
        assert alert["kiosk_id"] == quiet.id and alert["notify_state"] == "pending" and alert["notify_attempts"] == 1
        second = upkeep.run_once()
        assert (second["raised"], second["notified"]) == (0, 1)
        assert upkeep.run_once() == {"purged": None, "raised": 0, "cleared": 0, "notified": 0}
        (payload,) = _Webhook.received
        assert payload["event"] == "kiosk-silent" and payload["kiosk_id"] == quiet.id and payload["site"] == "north"
        assert _Webhook.calls == 2

        with psycopg.connect(fleet_db) as conn:  # it is back
            conn.execute("UPDATE kiosks SET last_seen = now() WHERE id = %s", [quiet.id])
        assert upkeep.run_once()["cleared"] == 1
        assert store.alerts() == []
        (closed,) = store.alerts(open_only=False)
        assert closed["cleared_at"] and closed["notify_state"] == "sent"
        upkeep.stop()
    finally:
        server.shutdown()
        server.server_close()
    listed = ok(fleet_db, tmp_path, "fleet", "alerts", "--all", "--json")
    assert json.loads(listed)["kiosk_id"] == quiet.id
    bad = kiosk_cli(fleet_db, tmp_path, "fleet", "serve", "--webhook", "ftp://x")
    assert bad.returncode == 2 and "--webhook" in bad.stderr


@pytest.mark.models
def test_a_published_document_answers_on_the_kiosk(fleet_db: str, store: FleetStore, tmp_path: Path) -> None:
    """The kiosk answers from a document that only reached it inside a published version (real index, real ask)."""
    server_home, kiosk = tmp_path / "server-home", tmp_path / "kiosk-home"
    server_home.mkdir()
    (tmp_path / "bank.csv").write_text(BANK, encoding="utf-8")
    guide = tmp_path / "branch-guide.md"
    guide.write_text(GUIDE, encoding="utf-8")
    code = store.create_enrolment_code("north")
    with fleet_server(fleet_db, server_home) as server:
        ok(fleet_db, kiosk, "fleet", "join", server, code)
        question = "Where are the safe deposit boxes?"
        before = json.loads(ok(fleet_db, kiosk, "ask", question, "--no-llm", "--json"))
        assert "basement" not in before["answer"]
        ok(fleet_db, server_home, "fleet", "publish", "bank", "--from", str(tmp_path / "bank.csv"),
           "--document", str(guide), "--all")  # fmt: skip
        assert json.loads(ok(fleet_db, kiosk, "fleet", "sync", "--json"))["documents"] == {"bank": 1}
    after = json.loads(ok(fleet_db, kiosk, "ask", question, "--no-llm", "--json"))
    assert "basement" in after["answer"], after
