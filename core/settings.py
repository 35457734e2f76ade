"""Settings: one TOML file, documented defaults, environment overrides, validation.

The schema is the frozen dataclasses below. Every field carries its documentation
and its constraints (allowed values, range), so validation messages, ``kiosk config
show`` and the README's settings reference all come from one place.

Precedence, lowest first: defaults, ``$KIOSK_HOME/settings.toml``, the fleet's central
overlay ``$KIOSK_HOME/fleet_settings.toml`` beside it (written by the fleet agent, only keys the
fleet may set centrally), environment variables ``KIOSK_<SECTION>__<KEY>`` (for example
``KIOSK_ASR__ENGINE=vosk``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import SettingsError

ENV_PREFIX = "KIOSK_"
ENV_SEPARATOR = "__"
FLEET_SETTINGS_FILE = "fleet_settings.toml"  # the fleet's central overlay, beside settings.toml


def setting(
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    secret: bool = False,
) -> Any:
    """Declare one setting: its default, its documentation and its constraints."""
    meta = {"doc": doc, "choices": choices, "min": minimum, "max": maximum, "secret": secret}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class KioskSection:
    """The visitor-facing application."""

    orientation: str = setting("portrait", "Screen layout.", choices=("portrait", "landscape"))
    fullscreen: bool = setting(True, "Run full screen and locked down (false: a normal window for development).")
    language: str = setting(
        "en",
        "Language the kiosk listens in and starts in (ISO 639-1). Entries in other languages get a language "
        "switch on screen (touch only there; spoken by a piper voice for the language, else espeak-ng).",
    )
    inactivity_timeout_s: float = setting(
        60.0, "Seconds without interaction before returning to the attract screen.", minimum=25.0, maximum=3600.0
    )
    follow_up_listen_s: float = setting(
        8.0, "After an answer, keep listening this long without the wake phrase.", minimum=0.0, maximum=60.0
    )
    operator_pin: str = setting("", "PIN for the hidden operator exit; empty disables the exit gesture.", secret=True)


@dataclass(frozen=True)
class AudioSection:
    """Microphone and speaker."""

    backend: str = setting(
        "sounddevice", "Audio backend: real devices, or WAV files for headless runs.", choices=("sounddevice", "file")
    )
    input_device: str = setting("", "Microphone by (part of its) name; empty uses the system default.")
    output_device: str = setting("", "Speaker by (part of its) name; empty uses the system default.")
    sample_rate: int = setting(
        16000, "Capture sample rate in Hz (speech models expect 16000).", minimum=8000, maximum=48000
    )
    reconnect_max_s: float = setting(
        30.0, "Longest wait between attempts to reopen a lost device.", minimum=1.0, maximum=600.0
    )


@dataclass(frozen=True)
class WakeSection:
    """Always-on wake phrase."""

    enabled: bool = setting(True, "Listen for the wake phrase (touch-to-talk always works).")
    engine: str = setting(
        "auto",
        "model: the trained network (its phrase only); pocketsphinx: keyphrase spotting (any phrase); "
        "auto: the network when it was trained for the phrase.",
        choices=("auto", "model", "pocketsphinx"),
    )
    phrase: str = setting("hey kiosk", "The wake phrase.")
    sensitivity: float = setting(0.5, "0 = fewest false wakes, 1 = fewest missed wakes.", minimum=0.0, maximum=1.0)
    refractory_s: float = setting(
        2.0, "Seconds after a wake during which no new wake is reported.", minimum=0.0, maximum=30.0
    )


@dataclass(frozen=True)
class VadSection:
    """Voice activity and end-of-turn detection."""

    end_silence_s: float = setting(0.6, "Silence that ends the visitor's turn.", minimum=0.2, maximum=5.0)
    confident_end_silence_s: float = setting(
        0.25,
        "Shorter silence that ends the turn when what was heard so far is already a question the knowledge base "
        "answers with confidence (see confident_end_score).",
        minimum=0.1,
        maximum=5.0,
    )
    confident_end_score: float = setting(
        0.7,
        "Answer score the words heard so far must reach for the shorter silence to end the turn; 1 turns the "
        "shortcut off.",
        minimum=0.0,
        maximum=1.0,
    )
    max_utterance_s: float = setting(
        15.0, "Longest single question before the kiosk cuts in.", minimum=2.0, maximum=120.0
    )


@dataclass(frozen=True)
class AsrSection:
    """Speech recognition."""

    engine: str = setting(
        "auto",
        "auto = vosk when a vosk model for the language is installed, else moonshine (English, packaged), "
        "else pocketsphinx.",
        choices=("auto", "vosk", "moonshine", "pocketsphinx"),
    )
    kb_language_model: bool = setting(
        True,
        "Bias recognition toward the knowledge base's questions, alternates and answers: pocketsphinx re-ranks "
        "its 50 best transcripts with their trigrams mixed into the generic model; vosk is restricted to their "
        "words; moonshine takes no bias. Measured in bench/voice.py.",
    )


@dataclass(frozen=True)
class TtsSection:
    """Speech synthesis."""

    engine: str = setting("piper", "Speech synthesis engine.", choices=("piper",))
    voice: str = setting(
        "en_US-joe-medium", "Piper voice name (a packaged voice or one under $KIOSK_HOME/models/piper)."
    )
    speed: float = setting(1.0, "Speaking rate; 1.0 is the voice's natural pace.", minimum=0.5, maximum=2.0)
    volume: float = setting(1.0, "Output gain.", minimum=0.0, maximum=2.0)


@dataclass(frozen=True)
class LlmSection:
    """Local language model for grounded answers."""

    engine: str = setting(
        "llama_cpp", "In-process llama.cpp, or an OpenAI-compatible HTTP server.", choices=("llama_cpp", "openai_http")
    )
    base_url: str = setting("http://127.0.0.1:8000/v1", "Server address for engine openai_http.")
    api_key: str = setting("", "API key for engine openai_http, if the server wants one.", secret=True)
    http_model: str = setting("local", "Model name sent to the openai_http server.")
    context_tokens: int = setting(2048, "Context window for llama.cpp.", minimum=256, maximum=131072)
    max_tokens: int = setting(96, "Most tokens generated for one answer.", minimum=8, maximum=1024)
    timeout_s: float = setting(8.0, "Wall-time cap for generating one answer.", minimum=0.5, maximum=120.0)
    temperature: float = setting(0.2, "Sampling temperature.", minimum=0.0, maximum=2.0)
    threads: int = setting(0, "CPU threads for llama.cpp; 0 = all cores.", minimum=0, maximum=256)


@dataclass(frozen=True)
class DialogSection:
    """Answer policy."""

    knowledge_base: str = setting("bank", "Knowledge base the kiosk answers from.")
    fallback_message: str = setting(
        "I'm sorry, I can't help with that here. Please ask a member of staff at the counter.",
        "What the kiosk says when a question is out of scope.",
    )
    faq_threshold: float = setting(
        0.45, "Match confidence at or above which the kiosk answers with the entry.", minimum=0.0, maximum=1.0
    )
    clarify_threshold: float = setting(
        0.4, "Below this confidence the question is out of scope (fallback).", minimum=0.0, maximum=1.0
    )
    clarify_margin: float = setting(
        0.15, "Candidates closer than this to the best one are offered as choices.", minimum=0.0, maximum=1.0
    )
    generate: bool = setting(True, "Let the LLM compose answers from several entries or document passages.")
    followup_window_s: float = setting(
        90.0, "A short question within this many seconds may refer to the previous answer.", minimum=0.0, maximum=3600.0
    )


@dataclass(frozen=True)
class AvatarSection:
    """The face on screen."""

    name: str = setting("presenter", "Avatar pack to show.")
    fps: int = setting(30, "Frames per second.", minimum=10, maximum=60)


@dataclass(frozen=True)
class AdminSection:
    """Operator web app."""

    host: str = setting("127.0.0.1", "Address the admin app listens on.")
    port: int = setting(8080, "Port the admin app listens on.", minimum=1, maximum=65535)
    tls_cert: str = setting("", "TLS certificate (PEM) for LAN use; empty serves plain HTTP.")
    tls_key: str = setting("", "TLS private key (PEM) matching tls_cert.")
    session_idle_minutes: int = setting(30, "Sign operators out after this much inactivity.", minimum=1, maximum=1440)
    retention_days: int = setting(90, "Delete conversation turns older than this.", minimum=1, maximum=3650)


@dataclass(frozen=True)
class ModelsSection:
    """Explicit model paths; empty means: packaged model, then $KIOSK_HOME/models."""

    tts: str = setting("", "Piper voice .onnx file (its .onnx.json beside it).")
    llm: str = setting("", "GGUF file for the llama.cpp engine.")
    embeddings: str = setting("", "sentence-transformers model directory.")
    vosk: str = setting("", "vosk model directory.")
    moonshine: str = setting(
        "", "moonshine tiny model directory (encoder_model.ort, decoder_model_merged.ort, tokenizer.bin)."
    )
    pocketsphinx: str = setting("", "pocketsphinx model directory (with en-us/, en-us.lm.bin, cmudict-en-us.dict).")
    wake: str = setting("", "pocketsphinx model directory used for wake-phrase spotting.")
    wake_model: str = setting("", "trained wake-phrase network (.pt) used by wake.engine = model / auto.")
    avatar: str = setting("", "audio-to-mouth torch weights (.pt).")


@dataclass(frozen=True)
class FleetSection:
    """Membership of a central fleet server (`kiosk fleet join`); a kiosk that never joins ignores it."""

    server_url: str = setting("", "Fleet server URL; empty: the one `kiosk fleet join` stored.")
    sync_interval_s: float = setting(
        60.0, "Seconds between syncs (pull knowledge, push turns and a heartbeat).", minimum=5.0, maximum=86400.0
    )
    max_backoff_s: float = setting(
        900.0, "Longest wait between retries while the server is unreachable.", minimum=5.0, maximum=86400.0
    )
    ca_cert: str = setting("", "CA certificate (PEM) that signed the server's TLS certificate; empty: the system's.")


@dataclass(frozen=True)
class LearningSection:
    """The nightly fine-tune of the sentence embedding on the knowledge base's own phrasings (`kiosk kb finetune`)."""

    finetune_at: str = setting(
        "03:00",
        "Local time (HH:MM) after which the kiosk fine-tunes its embedding, once a night, when it has been idle "
        "and its knowledge base changed since the last run; empty: never.",
    )
    idle_minutes: float = setting(
        30.0, "Minutes without a visitor before the nightly fine-tune starts.", minimum=1.0, maximum=1440.0
    )
    window_hours: float = setting(
        4.0, "Hours after finetune_at during which the nightly fine-tune may start.", minimum=0.5, maximum=23.0
    )
    max_minutes: float = setting(
        60.0,
        "Training time of one run (the held-out check and the index build come on top).",
        minimum=1.0,
        maximum=600.0,
    )
    min_gain: float = setting(
        0.005,
        "Held-out top-1 the fine-tuned model must gain (a fraction) before the kiosk switches to it.",
        minimum=0.0,
        maximum=1.0,
    )


@dataclass(frozen=True)
class LoggingSection:
    """Logs under $KIOSK_HOME/logs."""

    level: str = setting("INFO", "Level written to the log file.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    max_bytes: int = setting(5_000_000, "Size at which the log file rotates.", minimum=10_000, maximum=1_000_000_000)
    backups: int = setting(5, "Rotated log files kept.", minimum=0, maximum=100)


@dataclass(frozen=True)
class Settings:
    """The effective settings of one kiosk home."""

    kiosk: KioskSection = field(default_factory=KioskSection)
    audio: AudioSection = field(default_factory=AudioSection)
    wake: WakeSection = field(default_factory=WakeSection)
    vad: VadSection = field(default_factory=VadSection)
    asr: AsrSection = field(default_factory=AsrSection)
    tts: TtsSection = field(default_factory=TtsSection)
    llm: LlmSection = field(default_factory=LlmSection)
    dialog: DialogSection = field(default_factory=DialogSection)
    avatar: AvatarSection = field(default_factory=AvatarSection)
    admin: AdminSection = field(default_factory=AdminSection)
    models: ModelsSection = field(default_factory=ModelsSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    fleet: FleetSection = field(default_factory=FleetSection)
    learning: LearningSection = field(default_factory=LearningSection)


@dataclass(frozen=True)
class SettingInfo:
    """One key of the schema, for validation and documentation."""

    section: str
    key: str
    type: type
    default: Any
    doc: str
    choices: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None
    secret: bool

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


def schema() -> dict[str, dict[str, SettingInfo]]:
    """Every section and key with its type, default and constraints, in file order."""
    out: dict[str, dict[str, SettingInfo]] = {}
    for section_field in dataclasses.fields(Settings):
        section_cls = typing.get_type_hints(Settings)[section_field.name]
        hints = typing.get_type_hints(section_cls)
        keys: dict[str, SettingInfo] = {}
        for f in dataclasses.fields(section_cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            keys[f.name] = SettingInfo(
                section=section_field.name,
                key=f.name,
                type=hints[f.name],
                default=default,
                doc=f.metadata["doc"],
                choices=f.metadata["choices"],
                minimum=f.metadata["min"],
                maximum=f.metadata["max"],
                secret=f.metadata["secret"],
            )
        out[section_field.name] = keys
    return out


def section_doc(section: str) -> str:
    cls = typing.get_type_hints(Settings)[section]
    return (cls.__doc__ or "").strip()


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(options)}"


def _type_name(tp: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _coerce(info: SettingInfo, value: Any, origin: str) -> Any:
    """Check one value against its schema entry; return it in its proper type."""
    key, where = info.name, f" (in {origin})"
    tp = info.type
    if tp is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"settings: {key} must be true or false, got {value!r}{where}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"settings: {key} must be an integer, got {value!r}{where}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"settings: {key} must be a number, got {value!r}{where}")
        value = float(value)
        if not math.isfinite(value):  # NaN compares false with every bound: refuse it (and infinities) here
            raise SettingsError(f"settings: {key} must be a finite number, got {value!r}{where}")
    elif tp is str and not isinstance(value, str):
        raise SettingsError(f"settings: {key} must be a string, got {value!r}{where}")
    if info.choices is not None and value not in info.choices:
        allowed = ", ".join(info.choices)
        raise SettingsError(f"settings: {key} = {value!r} is not allowed; choose one of: {allowed}{where}")
    if info.minimum is not None and value < info.minimum:
        raise SettingsError(f"settings: {key} = {value!r} is below the minimum {info.minimum:g}{where}")
    if info.maximum is not None and value > info.maximum:
        raise SettingsError(f"settings: {key} = {value!r} is above the maximum {info.maximum:g}{where}")
    return value


def _parse_env_value(info: SettingInfo, raw: str, origin: str) -> Any:
    tp = info.type
    try:
        if tp is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(raw)
        if tp is float:
            return float(raw)
    except ValueError:
        raise SettingsError(f"settings: {info.name} must be {_type_name(tp)}, got {raw!r} (in {origin})") from None
    return raw


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings: {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"settings: {path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
            hint="save it as UTF-8 in a text editor, or move it aside: every setting has a default",
        ) from exc
    except OSError as exc:
        raise SettingsError(f"settings: cannot read {path}: {exc.strerror or exc}") from exc


def check_table(raw: Mapping[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    """Every ``[section] key = value`` of a parsed TOML table checked against the schema, in its proper type.

    Raises :class:`SettingsError` naming the first unknown section or key, or bad value, and ``origin``.
    """
    known = schema()
    values: dict[str, dict[str, Any]] = {}
    for section, body in raw.items():
        if section not in known:
            raise SettingsError(f"settings: unknown section [{section}] in {origin}{_suggest(section, list(known))}")
        if not isinstance(body, dict):
            raise SettingsError(f"settings: {section} in {origin} must be a [{section}] table, got {body!r}")
        for key, value in body.items():
            if key not in known[section]:
                raise SettingsError(
                    f"settings: unknown key {section}.{key} in {origin}{_suggest(key, list(known[section]))}"
                )
            values.setdefault(section, {})[key] = _coerce(known[section][key], value, origin)
    return values


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None, *, overlay: Path | bool = True
) -> Settings:
    """Build the effective settings from defaults, the TOML file, the fleet overlay and the environment.

    ``overlay``: ``True`` reads ``fleet_settings.toml`` beside ``path`` when there is one, a path reads
    that file, ``False`` none. Raises :class:`SettingsError` whose message names the bad key, where it
    came from, and what is allowed.
    """
    env = os.environ if env is None else env
    known = schema()
    values: dict[str, dict[str, Any]] = {name: {} for name in known}

    overlay_path = path.with_name(FLEET_SETTINGS_FILE) if overlay is True and path is not None else overlay
    layers = [path, overlay_path if isinstance(overlay_path, Path) else None]
    for layer in layers:
        if layer is not None:
            for section, body in check_table(_read_file(layer), str(layer)).items():
                values[section].update(body)

    for name, raw_value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or ENV_SEPARATOR not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition(ENV_SEPARATOR)
        if section not in known or key not in known[section]:
            options = [f"{ENV_PREFIX}{s.upper()}{ENV_SEPARATOR}{k.upper()}" for s in known for k in known[s]]
            raise SettingsError(f"settings: unknown environment variable {name}{_suggest(name, options)}")
        info = known[section][key]
        values[section][key] = _coerce(info, _parse_env_value(info, raw_value, name), name)

    hints = typing.get_type_hints(Settings)
    sections = {name: hints[name](**values[name]) for name in known}
    return Settings(**sections)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def to_toml(settings: Settings, *, docs: bool = True, reveal_secrets: bool = False) -> str:
    """Render settings as a TOML document (with each key's documentation as comments)."""
    lines: list[str] = []
    for section, keys in schema().items():
        if lines:
            lines.append("")
        if docs:
            lines.append(f"# {section_doc(section)}")
        lines.append(f"[{section}]")
        current = getattr(settings, section)
        for key, info in keys.items():
            value = getattr(current, key)
            if docs:
                extra = f" One of: {', '.join(info.choices)}." if info.choices else ""
                lines.append(f"# {info.doc}{extra}")
            if info.secret and value and not reveal_secrets:
                lines.append(f'{key} = "********"')
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def to_dict(settings: Settings, *, reveal_secrets: bool = False) -> dict[str, dict[str, Any]]:
    data = dataclasses.asdict(settings)
    if not reveal_secrets:
        for section, keys in schema().items():
            for key, info in keys.items():
                if info.secret and data[section][key]:
                    data[section][key] = "********"
    return data
