"""``scripts/fleet-db.sh`` (a throwaway PostgreSQL, also as root) and the kiosk agent's back-off while offline."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from core.home import KioskHome
from core.settings import FleetSection
from fleet.agent import FleetAgent
from fleet.local import Credential, save_credential
from tests.fleet_support import SCRIPT, free_port

pytestmark = pytest.mark.network


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_the_script_starts_a_cluster_prints_its_url_and_stops_it() -> None:
    directory = Path(tempfile.mkdtemp(prefix="kiosk-fleet-pg-", dir="/tmp"))
    try:
        started = _script("start", str(directory))
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql://fleet:") and "@127.0.0.1:" in url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == "fleet"
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert _script("url", str(directory)).stdout.strip() == url
        assert (directory / "password").stat().st_mode & 0o077 == 0
        assert _script("stop", str(directory)).returncode == 0
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=3)
        again = _script("start", str(directory))  # the same data, started again: the same URL (its port was free)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1] == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        assert _script("stop", str(directory)).returncode == 0
    finally:
        _script("stop", str(directory))
        shutil.rmtree(directory, ignore_errors=True)


def test_the_script_explains_what_it_needs(tmp_path: Path) -> None:
    usage = _script("start")
    assert usage.returncode == 2 and "usage" in usage.stderr
    missing = _script("stop", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "no cluster" in missing.stderr


def test_the_agent_backs_off_while_the_server_is_unreachable(tmp_path: Path) -> None:
    home = KioskHome(tmp_path / "home").ensure()
    save_credential(
        home.root, Credential(f"http://127.0.0.1:{free_port()}", "lobby-x", "lobby", "lobby-x.secret", "now")
    )
    waits: list[float] = []
    agent = FleetAgent(home, FleetSection(sync_interval_s=10.0, max_backoff_s=60.0), retries=0)
    agent.run_forever(stop=lambda: len(waits) >= 5, sleep=waits.append)
    expected = [20.0, 40.0, 60.0, 60.0, 60.0]
    assert all(0.85 * e <= w <= 1.15 * e for w, e in zip(waits, expected, strict=True)), waits
    assert "fleet-unreachable" in agent.status()["last_error"]
