"""The fleet end to end through the real CLI: two server processes on one PostgreSQL, a kiosk home that joins,
ships its turns exactly once, answers from a newly published version, survives a broken download and
an outage, and is refused once revoked.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.fleet_support import REPO, clean_env, fleet_server

pytestmark = [pytest.mark.network, pytest.mark.slow]

NEW_BANK = """id,question,answer,alternates,category,language
bank-lost-card,I lost my card,"Call the new 24-hour card line on 0800 555 0199 to block it at once.",my card is gone|someone stole my card|block my card,cards,en
bank-hours,When are you open?,"We are open 8:00 to 18:00 on weekdays.",opening hours|what time do you close,branch,en
"""


class Fleet:
    """The ``kiosk`` command, as the server's operator (a database URL) or as one kiosk (its home)."""

    def __init__(self, database_url: str, root: Path) -> None:
        self.database_url = database_url
        self.root = root

    def run(self, *args: str, home: Path | None = None, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        home = home or self.root / "server-home"
        return subprocess.run(
            [sys.executable, "-m", "kiosk", "--home", str(home), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=clean_env(**{"KIOSK_FLEET_DATABASE_URL": self.database_url, **env}),
            cwd=REPO,
            timeout=300,
        )

    def ok(self, *args: str, **kwargs: object) -> str:
        proc = self.run(*args, **kwargs)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc.stdout

    def lines(self, *args: str) -> list[dict]:
        return [json.loads(line) for line in self.ok(*args).splitlines() if line.strip()]


def _log_turns(home: Path, texts: list[str]) -> None:
    from core.db import open_database
    from dialog.turns import TurnLog, TurnRecord

    log = TurnLog(open_database(home / "kiosk.db"))
    for text in texts:
        log.record(TurnRecord(kb="bank", text=text, answer="an answer", mode="faq", faq_id="bank-lost-card"))
    log.db.close()


def _unship_all(home: Path) -> None:
    from core.db import open_database

    db = open_database(home / "kiosk.db")
    db.execute("UPDATE turns SET shipped_at = NULL")
    db.conn.commit()
    db.close()


@pytest.mark.models
def test_enrol_join_sync_publish_answer_revoke(fleet_db: str, tmp_path: Path) -> None:
    fleet = Fleet(fleet_db, tmp_path)
    kiosk = tmp_path / "kiosk-home"
    (tmp_path / "server-home").mkdir()
    assert "created admin ann" in fleet.ok(
        "fleet", "create-user", "ann", "--role", "admin", stdin="a long passphrase\n"
    )
    short = fleet.run("fleet", "create-user", "bob", "--role", "viewer", stdin="short\n")
    assert short.returncode == 2 and "admin-password-invalid" in short.stderr
    code = fleet.ok("fleet", "enrol-code", "--site", "branch-7").strip().splitlines()[-1]

    with fleet_server(fleet_db, tmp_path / "server-home") as server_a, fleet_server(fleet_db, tmp_path) as server_b:
        # a kiosk stays a stand-alone kiosk until it joins
        assert json.loads(fleet.ok("fleet", "status", "--json", home=kiosk)) == {"joined": False}
        not_joined = fleet.run("fleet", "sync", home=kiosk)
        assert not_joined.returncode == 2 and "fleet-not-joined" in not_joined.stderr

        assert "site branch-7" in fleet.ok("fleet", "join", server_a, code, home=kiosk)
        credential = kiosk / "fleet" / "credential.json"
        assert stat.S_IMODE(credential.stat().st_mode) == 0o600
        used = fleet.run("fleet", "join", server_b, code, home=tmp_path / "other-kiosk")
        assert used.returncode == 2 and "fleet-code-used" in used.stderr

        # turns written while joined ship once; a resend through the other server process is harmless
        _log_turns(kiosk, ["where is my card 4111 1111 1111 1111", "opening hours", "thanks"])
        first = json.loads(fleet.ok("fleet", "sync", "--json", home=kiosk))
        assert first["ok"] and first["pushed"] == 3 and first["pending"] == 0
        assert json.loads(fleet.ok("fleet", "sync", "--json", home=kiosk))["pushed"] == 0
        _unship_all(kiosk)
        resent = json.loads(fleet.ok("fleet", "sync", "--json", home=kiosk, KIOSK_FLEET__SERVER_URL=server_b))
        assert resent["pushed"] == 0 and resent["duplicates"] == 3
        turns = fleet.lines("fleet", "turns", "--json")
        assert [t["text"] for t in turns] == ["where is my card [CARD]", "opening hours", "thanks"]
        assert set(turns[0]) == {"kiosk", "ts", "text", "answer", "mode", "faq_id"}
        (row,) = fleet.lines("fleet", "kiosks", "--json")
        kiosk_id = row["id"]
        assert row["site"] == "branch-7" and row["last_seen"] and row["state"] == "stopped"

        # publish a new bank for every site: the kiosk's next sync answers from it
        before = json.loads(fleet.ok("ask", "I lost my card", "--no-llm", "--json", home=kiosk))
        assert "0800 555 0199" not in before["answer"]
        source = tmp_path / "bank.csv"
        source.write_text(NEW_BANK, encoding="utf-8")
        published = json.loads(fleet.ok("fleet", "publish", "bank", "--from", str(source), "--all", "--json"))
        assert published["version"] == 1 and published["entries"] == 2
        pulled = json.loads(fleet.ok("fleet", "sync", "--json", home=kiosk, KIOSK_FLEET__SERVER_URL=server_b))
        assert pulled["applied"] == {"bank": 1}
        after = json.loads(fleet.ok("ask", "I lost my card", "--no-llm", "--json", home=kiosk))
        assert after["faq_id"] == "bank-lost-card" and "0800 555 0199" in after["answer"]
        (row,) = fleet.lines("fleet", "kiosks", "--json")
        assert row["kb_version"] == {"bank": 1}
        status = json.loads(fleet.ok("fleet", "status", "--json", home=kiosk))
        assert status["kb_versions"] == {"bank": 1} and status["kiosk_id"] == kiosk_id

        # revoked: refused with 401, and the turns stay in the outbox
        assert kiosk_id in fleet.ok("fleet", "revoke", kiosk_id)
        _log_turns(kiosk, ["one more"])
        refused = fleet.run("fleet", "sync", "--json", home=kiosk)
        assert refused.returncode == 2 and "fleet-credential-rejected" in refused.stderr
        assert json.loads(fleet.ok("fleet", "status", "--json", home=kiosk))["pending_turns"] >= 1


def test_a_broken_download_changes_nothing_and_an_outage_loses_nothing(fleet_db: str, tmp_path: Path) -> None:
    fleet = Fleet(fleet_db, tmp_path)
    kiosk = tmp_path / "kiosk-home"
    (tmp_path / "server-home").mkdir()
    code = fleet.ok("fleet", "enrol-code", "--site", "lobby").strip().splitlines()[-1]
    source = tmp_path / "bank.csv"
    source.write_text(NEW_BANK, encoding="utf-8")
    with fleet_server(fleet_db, tmp_path / "server-home") as server:
        fleet.ok("fleet", "join", server, code, home=kiosk)
        fleet.ok("fleet", "publish", "bank", "--from", str(source), "--site", "lobby")
        assert json.loads(fleet.ok("fleet", "sync", "--json", home=kiosk))["applied"] == {"bank": 1}
        # version 2 arrives damaged (its entries no longer match the digest): nothing changes on the kiosk
        fleet.ok("fleet", "publish", "bank", "--from", str(source), "--site", "lobby")
        with psycopg.connect(fleet_db) as conn:
            conn.execute(
                "UPDATE kb_versions SET entries = %s WHERE version = 2",
                [Jsonb([{"id": "bank-lost-card", "question": "I lost my card", "answer": "tampered"}])],
            )
        broken = fleet.run("fleet", "sync", "--json", home=kiosk)
        assert broken.returncode == 1
        report = json.loads(broken.stdout)
        assert report["applied"] == {} and "fleet-download-invalid" in report["errors"][0]
        status = json.loads(fleet.ok("fleet", "status", "--json", home=kiosk))
        assert status["kb_versions"] == {"bank": 1} and "fleet-download-invalid" in status["last_error"]
        from knowledge.store import FaqStore

        store = FaqStore.open(kiosk / "kiosk.db")
        assert "0800 555 0199" in store.get("bank", "bank-lost-card").answer
        store.db.close()
        fleet.ok("fleet", "publish", "bank", "--from", str(source), "--site", "lobby")  # version 3 repairs it

    # the server is gone: turns wait in the outbox, however long
    _log_turns(kiosk, ["while offline 1", "while offline 2"])
    offline = fleet.run("fleet", "sync", home=kiosk)
    assert offline.returncode == 2 and "fleet-unreachable" in offline.stderr
    assert json.loads(fleet.ok("fleet", "status", "--json", home=kiosk))["pending_turns"] == 2
    with fleet_server(fleet_db, tmp_path / "server-home") as server:
        back = json.loads(fleet.ok("fleet", "sync", "--json", home=kiosk, KIOSK_FLEET__SERVER_URL=server))
        assert back["pushed"] == 2 and back["pending"] == 0 and back["applied"] == {"bank": 3}
    texts = [t["text"] for t in fleet.lines("fleet", "turns", "--json", "--since", "2000-01-01")]
    assert texts == ["while offline 1", "while offline 2"]


def test_the_cli_refuses_what_it_cannot_do(fleet_db: str, tmp_path: Path) -> None:
    fleet = Fleet(fleet_db, tmp_path)
    (tmp_path / "server-home").mkdir()
    source = tmp_path / "bank.csv"
    source.write_text(NEW_BANK, encoding="utf-8")
    both = fleet.run("fleet", "publish", "bank", "--from", str(source))
    assert both.returncode == 2 and "exactly one of --site S, --group G or --all" in both.stderr
    unknown = fleet.run("fleet", "publish", "bank", "--from", str(source), "--site", "nowhere")
    assert unknown.returncode == 2 and "fleet-site-unknown" in unknown.stderr
    broken = tmp_path / "broken.csv"
    broken.write_text("id,question,answer,alternates,category,language\nx,,no question,,,en\n", encoding="utf-8")
    bad_file = fleet.run("fleet", "publish", "bank", "--from", str(broken), "--all")
    assert bad_file.returncode == 2 and "kb-import-invalid" in bad_file.stderr
    assert fleet.lines("fleet", "kiosks", "--json") == []
    insecure = fleet.run("fleet", "serve", "--host", "0.0.0.0")
    assert insecure.returncode == 2 and "fleet-insecure" in insecure.stderr
    no_db = fleet.run("fleet", "kiosks", KIOSK_FLEET_DATABASE_URL="postgresql://x:y@127.0.0.1:1/none")
    assert no_db.returncode == 2 and "fleet-db-unavailable" in no_db.stderr
    bad_url = fleet.run("fleet", "join", "fleet.example", "AAAA-BBBB-CCCC-DDDD", home=tmp_path / "kiosk")
    assert bad_url.returncode == 2 and "fleet-url-invalid" in bad_url.stderr


def test_a_running_kiosk_syncs_in_the_background(fleet_db: str, tmp_path: Path) -> None:
    """What `kiosk run` starts for a kiosk that joined: turns reach the server without `kiosk fleet sync`."""
    import threading
    import time

    from core.home import KioskHome
    from core.settings import FleetSection
    from kiosk.fleet_cli import start_background_sync

    fleet = Fleet(fleet_db, tmp_path)
    kiosk = tmp_path / "kiosk-home"
    (tmp_path / "server-home").mkdir()
    code = fleet.ok("fleet", "enrol-code", "--site", "branch-9").strip().splitlines()[-1]
    home = KioskHome(kiosk).ensure()
    assert start_background_sync(home, FleetSection()) is None  # not joined: a stand-alone kiosk does nothing
    with fleet_server(fleet_db, tmp_path / "server-home") as server:
        fleet.ok("fleet", "join", server, code, home=kiosk)
        _log_turns(kiosk, ["is there parking", "thanks"])
        stop = threading.Event()
        thread = start_background_sync(home, FleetSection(sync_interval_s=5.0), stop)
        try:
            deadline = time.monotonic() + 120  # a hang guard: the first sync starts at once
            while len(fleet.lines("fleet", "turns", "--json")) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert [t["text"] for t in fleet.lines("fleet", "turns", "--json")] == ["is there parking", "thanks"]
        finally:
            stop.set()
            thread.join(60)
        assert not thread.is_alive()
