"""The malloc arena cap a long-running kiosk sets at start (core/memory.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def test_the_cap_is_set_in_a_fresh_process_and_the_environment_wins():
    code = "from core.memory import limit_malloc_arenas; print(limit_malloc_arenas())"
    capped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert capped.stdout.strip() == "True"
    env_set = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"MALLOC_ARENA_MAX": "4"},
    )
    assert env_set.stdout.strip() == "False"


def test_the_kiosk_command_caps_the_arenas(monkeypatch):
    calls = []
    monkeypatch.setattr("kiosk.cli.limit_malloc_arenas", lambda: calls.append(True) or True)
    from click.testing import CliRunner

    from kiosk.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert calls == []  # --help stops before the command runs
    result = CliRunner().invoke(main, ["config", "path"])
    assert calls == [True]
