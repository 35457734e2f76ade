"""Faults of the fleet, made deterministic with the pause points of :mod:`fleet.faults` (no sleeps, no timing):

- the server killed with SIGKILL in the middle of storing a batch of turns (inserted but not committed, or
  committed but not acknowledged): after a restart the kiosk's next sync delivers every turn exactly once;
- a kiosk's ``kiosk fleet sync`` killed with SIGKILL in the middle of applying a new version: the kiosk
  answers from the old version, and its next sync completes and answers from the new one.

``bench/fleet.py --faults`` runs the same faults (and PostgreSQL restarted, a kiosk offline for an hour)
under simulated traffic and measures them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.fleet_support import REPO, clean_env, free_port

pytestmark = [pytest.mark.network, pytest.mark.slow]

OLD_BANK = """id,question,answer,alternates,category,language
bank-lost-card,I lost my card,"Call the card line on 0800 111 1111 to block it.",my card is gone|someone stole my card|block my card,cards,en
bank-hours,When are you open?,"We are open 9:00 to 17:00 on weekdays.",opening hours|what time do you close,branch,en
"""
NEW_BANK = OLD_BANK.replace("0800 111 1111", "0800 222 2222").replace("9:00 to 17:00", "8:00 to 18:00")
EXTRA = 200  # the new version is larger, so applying it is a real transaction


def _serve(database_url: str, home: Path, port: int, **env: str) -> tuple[subprocess.Popen, str]:
    """``kiosk fleet serve`` on ``port``, as its own process (killed by the test); its base URL once it answers."""
    import httpx

    home.mkdir(exist_ok=True)
    log = (home / f"serve-{port}.log").open("a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--home", str(home), "fleet", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(KIOSK_FLEET_DATABASE_URL=database_url, **env),
        cwd=REPO,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    while True:  # ends when it answers or exits
        assert proc.poll() is None, (home / f"serve-{port}.log").read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(marker: Path, alive: object) -> None:
    """Until ``marker`` exists; fails if the process (or thread) that should write it ends first."""
    is_alive = alive.is_alive if isinstance(alive, threading.Thread) else (lambda: alive.poll() is None)
    while not marker.exists():
        assert is_alive(), "it ended before reaching the pause point"
        time.sleep(0.02)


def _log_turns(home: Path, count: int) -> list[int]:
    from core.db import open_database
    from dialog.turns import TurnLog, TurnRecord

    log = TurnLog(open_database(home / "kiosk.db"))
    ids = [
        log.record(TurnRecord(kb="bank", text=f"question {n}", answer="an answer", mode="faq", faq_id="bank-hours"))
        for n in range(count)
    ]
    log.db.close()
    return ids


@pytest.mark.parametrize("point", ["turns-inserted", "turns-committed"])
def test_a_server_killed_while_storing_turns_loses_and_duplicates_nothing(
    fleet_db: str, tmp_path: Path, point: str
) -> None:
    from core.errors import KioskError
    from core.home import KioskHome
    from core.settings import FleetSection
    from fleet.agent import FleetAgent
    from fleet.errors import ServerUnreachableError
    from fleet.store import FleetStore

    store = FleetStore(fleet_db, max_size=1)
    code = store.create_enrolment_code("lobby")
    store.close()
    port, marker, server_home = free_port(), tmp_path / "paused", tmp_path / "server-home"
    home = KioskHome(tmp_path / "kiosk").ensure()
    server, base = _serve(fleet_db, server_home, port, KIOSK_FLEET_PAUSE_AT=point, KIOSK_FLEET_PAUSE_MARKER=str(marker))
    try:
        FleetAgent(home, retries=0).join(base, code)
        local_ids = _log_turns(home.root, 450)  # three batches: 200, 200, 50

        outcome: dict[str, object] = {}

        def first_sync() -> None:
            try:
                outcome["report"] = FleetAgent(home, retries=0).sync()
            except KioskError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=first_sync)
        thread.start()
        _wait_for(marker, thread)  # the server is in the middle of the first batch
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        thread.join()
        assert isinstance(outcome.get("error"), ServerUnreachableError), outcome
        assert FleetAgent(home).status()["pending_turns"] == 450  # nothing was acknowledged

        server, _ = _serve(fleet_db, server_home, port)  # started again, same address, no pause
        report = FleetAgent(home, FleetSection(), retries=0).sync()
        committed = 200 if point == "turns-committed" else 0
        assert report.ok and report.pending == 0
        assert report.pushed == 450 - committed and report.duplicates == committed
        with psycopg.connect(fleet_db) as conn:
            rows = conn.execute("SELECT turn_id FROM turns ORDER BY turn_id").fetchall()
        assert [r[0] for r in rows] == sorted(local_ids)  # every turn, exactly once
    finally:
        marker.unlink(missing_ok=True)
        _stop(server)


def _kiosk(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        cwd=REPO,
    )


def _ok(home: Path, *args: str, **env: str) -> str:
    proc = _kiosk(home, *args, **env)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


@pytest.mark.models
def test_a_kiosk_killed_while_applying_a_version_answers_from_the_old_one_then_completes(
    fleet_db: str, tmp_path: Path
) -> None:
    server_home, kiosk, marker = tmp_path / "server-home", tmp_path / "kiosk", tmp_path / "paused"
    server_home.mkdir()
    db = {"KIOSK_FLEET_DATABASE_URL": fleet_db}
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text(OLD_BANK, encoding="utf-8")
    extra = "".join(
        f"bank-extra-{n},What is service number {n}?,Service {n} is at desk {n % 9 + 1}.,,misc,en\n"
        for n in range(EXTRA)
    )
    new.write_text(NEW_BANK + extra, encoding="utf-8")
    code = _ok(server_home, "fleet", "enrol-code", "--site", "lobby", **db).strip().splitlines()[-1]
    server, base = _serve(fleet_db, server_home, free_port())
    try:
        _ok(kiosk, "fleet", "join", base, code)
        _ok(server_home, "fleet", "publish", "bank", "--from", str(old), "--all", **db)
        assert json.loads(_ok(kiosk, "fleet", "sync", "--json"))["applied"] == {"bank": 1}
        _ok(server_home, "fleet", "publish", "bank", "--from", str(new), "--all", **db)

        # killed inside the transaction that applies version 2: every entry written, nothing committed
        sync = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "--home", str(kiosk), "fleet", "sync", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=clean_env(KIOSK_FLEET_PAUSE_AT="applying", KIOSK_FLEET_PAUSE_MARKER=str(marker)),
            cwd=REPO,
        )
        _wait_for(marker, sync)
        sync.send_signal(signal.SIGKILL)
        sync.wait()
        marker.unlink()

        assert json.loads(_ok(kiosk, "fleet", "status", "--json"))["kb_versions"] == {"bank": 1}
        before = json.loads(_ok(kiosk, "ask", "I lost my card", "--no-llm", "--json"))
        assert before["faq_id"] == "bank-lost-card" and "0800 111 1111" in before["answer"]

        completed = json.loads(_ok(kiosk, "fleet", "sync", "--json"))
        assert completed["ok"] and completed["applied"] == {"bank": 2} and completed["pending"] == 0
        after = json.loads(_ok(kiosk, "ask", "I lost my card", "--no-llm", "--json"))
        assert after["faq_id"] == "bank-lost-card" and "0800 222 2222" in after["answer"]
        from knowledge.store import FaqStore

        store = FaqStore.open(kiosk / "kiosk.db")
        assert len(store.list("bank")) == EXTRA + 2
        store.db.close()
        # the question asked while the sync was dead reached the server once
        asked = json.loads(_ok(kiosk, "fleet", "sync", "--json"))
        assert asked["pending"] == 0
        with psycopg.connect(fleet_db) as conn:
            texts = [r[0] for r in conn.execute("SELECT text FROM turns ORDER BY ts").fetchall()]
        assert texts == ["I lost my card", "I lost my card"]
    finally:
        marker.unlink(missing_ok=True)
        _stop(server)


def test_the_server_store_survives_postgresql_dropping_its_connections(fleet_db: str) -> None:
    """A PostgreSQL restart ends every pooled connection: the next requests get fresh ones, not a 503 each."""
    from fleet.store import FleetStore

    store = FleetStore(fleet_db, min_size=3, max_size=3)
    try:
        store.create_enrolment_code("lobby")
        store.pool.wait()  # all three connected
        with psycopg.connect(fleet_db, autocommit=True) as admin:  # what a restart does to them
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert len(ended) >= 3
        for _ in range(4):  # every connection of the pool is stale now; none of them reaches a caller
            assert store.sites() == ["lobby"]
    finally:
        store.close()
