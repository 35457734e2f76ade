"""The ``kiosk`` command line, run as a separate process the way an operator runs it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from core.models import ROLES


def test_doctor_json_lists_every_role(kiosk_cli, kiosk_home: Path) -> None:
    result = kiosk_cli("doctor", "--json")
    report = result.json()
    assert set(report["models"]) == set(ROLES)
    for role, model in report["models"].items():
        assert isinstance(model["found"], bool), role
        assert model["source"] in {"settings", "package", "bundled", "home", "missing"}, role
        assert "path" in model
    assert report["models"]["asr"]["engine"] in {"vosk", "moonshine", "pocketsphinx"}
    assert {"audio", "display", "packages", "home", "settings"} <= set(report)
    assert report["home"]["path"] == str(kiosk_home.resolve())
    assert result.returncode == (0 if report["ok"] else 1)
    assert report["ok"], report["problems"]


def test_doctor_table_is_readable(kiosk_cli) -> None:
    result = kiosk_cli("doctor")
    assert "models" in result.stdout and "asr-pocketsphinx" in result.stdout
    assert "everything the kiosk needs is here" in result.stdout


def test_home_holds_logs_and_state(kiosk_cli, kiosk_home: Path) -> None:
    kiosk_cli("-v", "doctor", "--json")
    assert (kiosk_home / "logs" / "kiosk.log").is_file()
    assert (kiosk_home / "models").is_dir()


def test_home_from_environment(kiosk_cli, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    # --home given by the fixture wins over the environment ...
    result = kiosk_cli("config", "path", env={"KIOSK_HOME": str(other)})
    assert "elsewhere" not in result.stdout
    # ... and the environment is used without it.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "config", "path"],
        capture_output=True,
        text=True,
        env={"KIOSK_HOME": str(other), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert proc.stdout.strip() == str(other / "settings.toml")


def test_config_show_prints_valid_effective_toml(kiosk_cli, kiosk_home: Path) -> None:
    (kiosk_home / "settings.toml").write_text("[tts]\nspeed = 1.2\n")
    result = kiosk_cli("config", "show", env={"KIOSK_ASR__ENGINE": "pocketsphinx"})
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(result.stdout)
    assert data["tts"]["speed"] == 1.2
    assert data["asr"]["engine"] == "pocketsphinx"
    assert "# Speech recognition." in result.stdout


def test_config_init_writes_a_loadable_file(kiosk_cli, kiosk_home: Path) -> None:
    assert kiosk_cli("config", "init").returncode == 0
    assert tomllib.loads((kiosk_home / "settings.toml").read_text())["wake"]["phrase"] == "hey kiosk"
    again = kiosk_cli("config", "init")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_bad_setting_is_one_line_naming_the_key(kiosk_cli, kiosk_home: Path) -> None:
    (kiosk_home / "settings.toml").write_text('[asr]\nengine = "whisper"\n')
    for args in (("config", "show"), ("models", "list")):
        result = kiosk_cli(*args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "asr.engine" in lines[0] and "auto, vosk, moonshine, pocketsphinx" in lines[0]
        assert lines[0].startswith("kiosk: error [settings-invalid]")


def test_doctor_reports_bad_settings_instead_of_crashing(kiosk_cli, kiosk_home: Path) -> None:
    (kiosk_home / "settings.toml").write_text("[tts]\nspeed = 7\n")
    result = kiosk_cli("doctor", "--json")
    assert result.returncode == 1
    report = result.json()
    assert not report["settings"]["ok"] and "tts.speed" in report["settings"]["error"]


def test_models_list_json(kiosk_cli) -> None:
    result = kiosk_cli("models", "list", "--json")
    assert result.returncode == 0
    assert set(result.json()) == set(ROLES)


def test_models_pull_offline_fails_fast_and_keeps_fallback(kiosk_cli, kiosk_home: Path) -> None:
    result = kiosk_cli("models", "pull", "vosk-en", timeout=60)
    assert result.returncode == 2
    assert "model-download-failed" in result.stderr
    assert "alphacephei.com" in result.stderr
    assert not any((kiosk_home / "models").iterdir())
    asr = kiosk_cli("models", "list", "--json").json()["asr"]
    assert asr["found"] and asr["engine"] == "moonshine"


def test_models_pull_of_packaged_or_unknown_model(kiosk_cli) -> None:
    packaged = kiosk_cli("models", "pull", "llm")
    assert packaged.returncode == 0 and "already available from package" in packaged.stdout
    unknown = kiosk_cli("models", "pull", "whisper")
    assert unknown.returncode == 2 and "downloadable: vosk-en" in unknown.stderr
