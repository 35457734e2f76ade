"""Shared fixtures: an empty kiosk home per test and a runner for the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _own_pulse_devices() -> Iterator[None]:
    """Opening a ``pulse:NAME`` device sets ``PULSE_SINK`` / ``PULSE_SOURCE``; no later test inherits them."""
    before = {k: os.environ.get(k) for k in ("PULSE_SINK", "PULSE_SOURCE")}
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def kiosk_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


@pytest.fixture
def kiosk_cli(kiosk_home: Path):
    """Run ``python -m kiosk --home HOME ...`` as a separate process, like a user would."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "kiosk", "--home", str(kiosk_home), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=REPO,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory):
    """Real kiosk parts (SQLite, Chroma, MiniLM, SmolLM2) in one temporary home, bank demo installed."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from core.home import KioskHome
    from core.settings import load_settings
    from runtime.services import KioskServices

    home = KioskHome(tmp_path_factory.mktemp("kiosk-home")).ensure()
    wired = KioskServices(settings=load_settings(None, env={}), home=home)
    wired.retriever.prepare(wired.kb_name("bank"))
    yield wired
    wired.llm.close()


@pytest.fixture
def bank_policy(services):
    from dialog.policy import AnswerPolicy  # noqa: F401 - imported for type clarity in tests

    return services.policy("bank")


@pytest.fixture(scope="session")
def fleet_cluster() -> Iterator[str]:
    """A real PostgreSQL cluster for the fleet tests (scripts/fleet-db.sh); its URL."""
    from tests.fleet_support import postgres_cluster

    with postgres_cluster() as url:
        yield url


@pytest.fixture
def fleet_db(fleet_cluster: str) -> Iterator[str]:
    """A fresh, empty fleet database for one test."""
    from tests.fleet_support import fresh_database

    with fresh_database(fleet_cluster) as url:
        yield url
