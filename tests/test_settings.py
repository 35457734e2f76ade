from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import Settings, load_settings, schema, to_dict, to_toml


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", env={})
    assert settings == Settings()
    assert settings.asr.engine == "auto"
    assert settings.wake.phrase == "hey kiosk"
    assert settings.vad.end_silence_s == 0.6


def test_file_values_override_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", '[asr]\nengine = "vosk"\n[tts]\nspeed = 1\n[kiosk]\nfullscreen = false\n')
    settings = load_settings(path, env={})
    assert settings.asr.engine == "vosk"
    assert settings.tts.speed == 1.0 and isinstance(settings.tts.speed, float)
    assert settings.kiosk.fullscreen is False
    assert settings.wake.phrase == "hey kiosk"


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", '[asr]\nengine = "vosk"\n')
    env = {"KIOSK_ASR__ENGINE": "pocketsphinx", "KIOSK_KIOSK__FULLSCREEN": "no", "KIOSK_ADMIN__PORT": "9090"}
    settings = load_settings(path, env=env)
    assert settings.asr.engine == "pocketsphinx"
    assert settings.kiosk.fullscreen is False
    assert settings.admin.port == 9090


def test_kiosk_home_variable_is_not_a_setting(tmp_path: Path) -> None:
    assert load_settings(None, env={"KIOSK_HOME": "/somewhere"}) == Settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[asr]\nengine = "whisper"\n',
            "asr.engine = 'whisper' is not allowed; choose one of: auto, vosk, moonshine, pocketsphinx",
        ),
        ("[tts]\nspeed = 9.0\n", "tts.speed = 9.0 is above the maximum 2"),
        ("[vad]\nconfident_end_score = 1.5\n", "vad.confident_end_score = 1.5 is above the maximum 1"),
        ("[vad]\nconfident_end_silence_s = 0.01\n", "vad.confident_end_silence_s = 0.01 is below the minimum 0.1"),
        ('[admin]\nport = "eighty"\n', "admin.port must be an integer"),
        ("[kiosk]\nfullscreen = 1\n", "kiosk.fullscreen must be true or false"),
        ('[asr]\nengnie = "vosk"\n', "unknown key asr.engnie"),
        ("[sound]\nvolume = 1\n", "unknown section [sound]"),
        ("[asr\nengine=", "is not valid TOML"),
    ],
)
def test_bad_file_values_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "s.toml", text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert info.value.code == "settings-invalid"


def test_typo_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", '[asr]\nengnie = "vosk"\n')
    with pytest.raises(SettingsError, match="did you mean 'engine'"):
        load_settings(path, env={})


def test_range_message_gives_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", "[tts]\nspeed = 9.0\n")
    with pytest.raises(SettingsError, match="above the maximum 2"):
        load_settings(path, env={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"KIOSK_ASR__ENGINE": "siri"}, "asr.engine = 'siri' is not allowed"),
        ({"KIOSK_ADMIN__PORT": "http"}, "admin.port must be an integer, got 'http' (in KIOSK_ADMIN__PORT)"),
        ({"KIOSK_KIOSK__FULLSCREEN": "maybe"}, "must be true or false"),
        (
            {"KIOSK_ASR__ENGNIE": "vosk"},
            "unknown environment variable KIOSK_ASR__ENGNIE; did you mean 'KIOSK_ASR__ENGINE'",
        ),
    ],
)
def test_bad_environment_values_name_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(None, env=env)
    assert expected in str(info.value)


def test_rendered_toml_round_trips(tmp_path: Path) -> None:
    custom = load_settings(None, env={"KIOSK_WAKE__PHRASE": 'hey "museum"', "KIOSK_LLM__MAX_TOKENS": "64"})
    text = to_toml(custom, docs=True, reveal_secrets=True)
    tomllib.loads(text)  # valid TOML
    reloaded = load_settings(write(tmp_path / "s.toml", text), env={})
    assert reloaded == custom


def test_secrets_are_masked_unless_revealed() -> None:
    settings = load_settings(None, env={"KIOSK_KIOSK__OPERATOR_PIN": "4711"})
    assert "4711" not in to_toml(settings)
    assert to_dict(settings)["kiosk"]["operator_pin"] == "********"
    assert "4711" in to_toml(settings, reveal_secrets=True)


def test_every_setting_is_documented() -> None:
    for section, keys in schema().items():
        for key, info in keys.items():
            assert info.doc.strip(), f"{section}.{key} has no documentation"


@pytest.mark.parametrize("value", ["nan", "+nan", "-nan", "inf", "-inf"])
def test_nan_and_infinity_are_refused_in_the_file(tmp_path: Path, value: str) -> None:
    # NaN compares false with both bounds, so a range check alone let it through
    path = write(tmp_path / "s.toml", f"[dialog]\nclarify_threshold = {value}\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    assert info.value.code == "settings-invalid"
    assert "dialog.clarify_threshold must be a finite number" in str(info.value)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity"])
def test_nan_and_infinity_are_refused_from_the_environment(value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(None, env={"KIOSK_DIALOG__CLARIFY_THRESHOLD": value})
    assert info.value.code == "settings-invalid"
    message = str(info.value)
    assert "dialog.clarify_threshold must be a finite number" in message
    assert "KIOSK_DIALOG__CLARIFY_THRESHOLD" in message


def test_every_float_setting_refuses_nan() -> None:
    for section, keys in schema().items():
        for key, info in keys.items():
            if info.type is float:
                env = {f"KIOSK_{section.upper()}__{key.upper()}": "nan"}
                with pytest.raises(SettingsError, match="must be a finite number"):
                    load_settings(None, env=env)
