"""A damaged or unusable kiosk home gives one coded line (exit 2), never ``kiosk: internal error``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, CliResult


def run_kiosk(*args: str, env: dict[str, str] | None = None) -> CliResult:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=full_env, timeout=120, cwd=REPO
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_coded(result: CliResult, code: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "internal error" not in result.stderr
    assert f"kiosk: error [{code}]: " in result.stderr, result.stderr


def test_settings_file_with_binary_bytes(kiosk_cli, kiosk_home: Path) -> None:
    settings = kiosk_home / "settings.toml"
    settings.write_bytes(b'[kiosk]\nlanguage = "en"\n\xff\xfe\x00garbage\n')
    for args in (("kb", "list"), ("config", "show")):
        result = kiosk_cli(*args)
        assert_coded(result, "settings-invalid")
        assert f"{settings} is not UTF-8 text" in result.stderr


def test_chroma_path_that_is_a_file(kiosk_cli, kiosk_home: Path) -> None:
    chroma = kiosk_home / "chroma"
    chroma.write_text("not a folder")
    result = kiosk_cli("ask", "I lost my card", "--no-llm")
    assert_coded(result, "kb-index-unavailable")
    assert f"{chroma}: it is a file, not a folder" in result.stderr
    assert "kiosk kb reindex" in result.stderr


def test_home_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    home = blocker / "home"
    for result in (run_kiosk("--home", str(home), "kb", "list"), run_kiosk("backup", env={"KIOSK_HOME": str(home)})):
        assert_coded(result, "home-unavailable")
        assert f"cannot create the kiosk home {home}: Not a directory" in result.stderr
        assert "--home DIR or KIOSK_HOME=DIR" in result.stderr
    doctor = run_kiosk("--home", str(home), "doctor", "--json")  # doctor still reports on the machine
    assert doctor.returncode == 1 and "internal error" not in doctor.stderr
