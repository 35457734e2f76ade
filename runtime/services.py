"""The composition root: every part of the kiosk built from one settings object and one kiosk home.

Parts are created on first use, so a command that only needs the FAQ store
never loads the embedding model or the LLM. :class:`KioskServices` is also what
the admin app is given (it implements ``admin_web.backend.KioskBackend``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import KnowledgeError
from core.events import Event
from core.home import KioskHome
from core.models import ModelManager
from core.settings import Settings
from devices.base import AudioSink
from dialog.llm.base import LlmEngine
from dialog.policy import AnswerPolicy
from dialog.turns import TurnLog
from knowledge.demo import ensure_kb
from knowledge.embeddings import Embedder, EmbeddingChoice, choose_model
from knowledge.index import VectorIndex
from knowledge.retrieval import Retriever
from knowledge.store import FaqStore
from speech.asr.base import AsrEngine, normalize_phrase
from speech.listener import Listener
from speech.tts.base import TtsEngine
from speech.vad import EndOfTurnDetector, SpeechProbability
from speech.wake import WakeWordDetector

if TYPE_CHECKING:
    from runtime.turn_loop import TurnLoop

_LOGGER = logging.getLogger(__name__)


def _index_dir(path: Path) -> Path:
    """The Chroma folder, created; ``kb-index-unavailable`` (with what to do) when it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "it is a file, not a folder" if path.exists() and not path.is_dir() else (exc.strerror or str(exc))
        raise KnowledgeError(
            f"cannot use the Chroma index folder {path}: {reason}",
            code="kb-index-unavailable",
            hint=f"the index is derived from kiosk.db: move or delete {path}, then `kiosk kb reindex --all` rebuilds it",
        ) from exc
    return path


class KioskServices:
    """The kiosk's parts, wired once."""

    def __init__(self, *, settings: Settings, home: KioskHome) -> None:
        self.settings = settings
        self.home = home
        self.models = ModelManager(settings=settings, home=home)
        self._voices: dict[str, TtsEngine | None] = {}
        self.live = False  # the kiosk's own long-running process (`kiosk run`): see :meth:`run_live`

    def run_live(self) -> None:
        """Set up these services for the kiosk's window process: whatever would stall the window while visitors
        watch runs elsewhere (today: a retrain after an FAQ edit fits its classifier in a child process)."""
        self.live = True
        if "retriever" in self.__dict__:
            self.retriever.train_in_child = True

    @cached_property
    def store(self) -> FaqStore:
        return FaqStore.open(self.home.database)

    @cached_property
    def embedding_choice(self) -> EmbeddingChoice:
        """The packaged model, or the kiosk's knowledge base's fine-tuned one (``knowledge.finetune``)."""
        base = self.models.require("embeddings")
        return choose_model(base, self.home.models_dir, self.settings.dialog.knowledge_base)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.embedding_choice.model_path)

    def loaded_embedder(self) -> Embedder | None:
        """The sentence encoder only if its model is already in memory (never loads it)."""
        embedder = self.__dict__.get("embedder")
        return embedder if embedder is not None and embedder.loaded else None

    @cached_property
    def index(self) -> VectorIndex:
        path = self.embedding_choice.index_dir or self.home.chroma_dir
        return VectorIndex(_index_dir(path), self.embedder, status_root=self.home.root)

    @cached_property
    def retriever(self) -> Retriever:
        cache_dir = self.embedding_choice.cache_dir or self.home.cache_dir
        retriever = Retriever(store=self.store, index=self.index, embedder=self.embedder, cache_dir=cache_dir)
        retriever.train_in_child = self.live
        return retriever

    def reload_matching(self, kb: str) -> Retriever:
        """A retriever for the model the fine-tune pointer names now, prepared for ``kb``; these services use it from
        now on (after a nightly switch: ``runtime.nightly`` hands it to the kiosk's policy)."""
        fresh = KioskServices(settings=self.settings, home=self.home)
        fresh.__dict__["store"] = self.store
        fresh.live = self.live
        fresh.retriever.prepare(kb)
        for name in ("embedding_choice", "embedder", "index", "retriever"):
            self.__dict__[name] = getattr(fresh, name)
        return fresh.retriever

    @cached_property
    def llm(self) -> LlmEngine:
        cfg = self.settings.llm
        if cfg.engine == "openai_http":
            from dialog.llm.openai_http import OpenAIHttpEngine

            return OpenAIHttpEngine(base_url=cfg.base_url, model=cfg.http_model, api_key=cfg.api_key)
        from dialog.llm.llama_cpp import LlamaCppEngine

        return LlamaCppEngine(
            model_path=self.models.require("llm"), context_tokens=cfg.context_tokens, threads=cfg.threads
        )

    @cached_property
    def tts(self) -> TtsEngine:
        from speech.tts.piper import PiperTts

        cfg = self.settings.tts
        return PiperTts(
            model_path=self.models.require("tts"), speed=cfg.speed, volume=cfg.volume, cache_dir=self.home.cache_dir
        )

    def preload(self, *, audio: bool = True, kb: str | None = None) -> None:
        """Load the models whose loading holds Python's lock (ONNX sessions, protobuf and torch files).

        The window calls this before it shows: loaded later, on its start-up thread, they
        would freeze the avatar's animation for up to half a second at a time. With ``kb``
        the knowledge base is indexed and its classifier trained or loaded here too (the
        optimizer holds the lock; on a first start that takes seconds). A part that fails
        here is left to report itself when the kiosk starts it.
        """
        parts = [("voice", self.tts.warm), ("embeddings", self.embedder.warm), ("index", lambda: self.index.client)]
        if kb is not None:
            parts.append(("knowledge base", lambda: self.retriever.ensure_prepared(kb)))  # never a long build
        if audio:
            parts += [("end of turn", self.end_of_turn), ("asr", lambda: self.asr), ("wake", self._preload_wake)]
        for name, load in parts:
            try:
                load()
            except Exception as exc:
                _LOGGER.warning("not preloaded (%s): %s", name, exc)

    def _preload_wake(self) -> None:
        if self.settings.wake.engine != "pocketsphinx" and self.models.resolve("wake-model").found:
            _ = self.wake_model

    def voice_for(self, language: str) -> TtsEngine | None:
        """A voice for ``language``: the piper voice if it speaks it, else espeak-ng's; None if neither does."""
        from dialog.languages import base
        from speech.tts.espeak import EspeakTts, installed_languages

        voices = self._voices
        if language not in voices:
            cfg = self.settings.tts
            if base(language) == self.tts.language:
                voices[language] = self.tts
            elif language.lower() in installed_languages():
                voices[language] = EspeakTts(language=language, speed=cfg.speed, volume=cfg.volume)
            else:
                _LOGGER.warning("no voice speaks %r: its entries are not offered on the kiosk", language)
                voices[language] = None
        return voices[language]

    @cached_property
    def asr(self) -> AsrEngine:
        """The ASR engine `asr.engine` asks for (auto: vosk if a model for the language is installed, else moonshine)."""
        location = self.models.resolve("asr")
        path = self.models.require("asr")
        if location.extra.get("engine") == "vosk":
            from speech.asr.vosk import VoskAsr

            engine: AsrEngine = VoskAsr(model_dir=path)
        elif location.extra.get("engine") == "moonshine":
            from speech.asr.moonshine import MoonshineAsr

            engine = MoonshineAsr(model_dir=path)
        else:
            from speech.asr.pocketsphinx import PocketsphinxAsr

            engine = PocketsphinxAsr(model_dir=path)
        _LOGGER.info("ASR engine: %s (%s)", engine.name, location.detail)
        if self.settings.asr.kb_language_model:
            kb = self.kb_name()
            phrases = [text for _, _, text in self.store.phrasings(kb)]
            phrases += [e.answer for e in self.store.list(kb, enabled=True)]
            engine.set_vocabulary(phrases)
        return engine

    @cached_property
    def wake_model(self):
        """The trained wake network (loaded once; detectors share it)."""
        from speech.wakenet import WakeModel

        return WakeModel(self.models.require("wake-model"))

    def wake_detector(self) -> WakeWordDetector:
        """The wake phrase detector ``wake.engine`` asks for (auto: the trained network for its own phrase)."""
        cfg = self.settings.wake
        phrase = normalize_phrase(cfg.phrase)
        if cfg.engine == "model" or (cfg.engine == "auto" and self.models.resolve("wake-model").found):
            from speech.wakenet import NeuralWakeDetector

            model = self.wake_model
            if model.phrase == phrase:
                return NeuralWakeDetector(model=model, sensitivity=cfg.sensitivity, refractory_s=cfg.refractory_s)
            if cfg.engine == "model":
                from core.errors import SpeechError

                raise SpeechError(
                    f"the wake model was trained for {model.phrase!r}, not {cfg.phrase!r}",
                    code="wake-phrase-invalid",
                    hint='set wake.engine = "pocketsphinx" for other phrases',
                )
        return WakeWordDetector(
            model_dir=self.models.require("wake"),
            phrase=cfg.phrase,
            sensitivity=cfg.sensitivity,
            refractory_s=cfg.refractory_s,
        )

    def end_of_turn(self) -> EndOfTurnDetector:
        cfg = self.settings.vad
        probability = SpeechProbability(self.models.require("vad"))
        return EndOfTurnDetector(
            end_silence_s=cfg.end_silence_s, max_utterance_s=cfg.max_utterance_s, probability=probability
        )

    def listener(self, *, require_wake: bool = True) -> Listener:
        return Listener(
            endpoint=self.end_of_turn(),
            asr=self.asr,
            wake=self.wake_detector() if (require_wake or self.settings.wake.enabled) else None,
            require_wake=require_wake,
            confident_end_silence_s=self.settings.vad.confident_end_silence_s,
        )

    def turn_loop(
        self,
        *,
        sink: AudioSink,
        emit: Callable[[Event], None],
        listener: Listener | None,
        kb: str | None = None,
        **options: Any,
    ) -> TurnLoop:
        """The visitor's turn loop over ``sink`` and ``listener`` (see ``runtime.turn_loop``); ``options`` override
        the settings' values."""
        from runtime.turn_loop import TurnLoop

        configured: dict[str, Any] = {
            "followup_window_s": self.settings.kiosk.follow_up_listen_s,
            "inactivity_timeout_s": self.settings.kiosk.inactivity_timeout_s,
            "voice_language": self.settings.kiosk.language,
            "confident_end_score": self.settings.vad.confident_end_score,
        }
        policy = self.policy(kb)
        loop = TurnLoop(
            policy=policy,
            tts=self.tts,
            sink=sink,
            listener=listener,
            emit=emit,
            voices=self.voice_for,
            **(configured | options),
        )
        if not loop.synchronous:  # a live kiosk (not the simulator): the nightly fine-tune watches it
            from runtime.nightly import start_nightly

            start_nightly(self, loop, policy)
        return loop

    @cached_property
    def turn_log(self) -> TurnLog:
        return TurnLog(self.store.db)

    def kb_name(self, kb: str | None = None) -> str:
        name = kb or self.settings.dialog.knowledge_base
        ensure_kb(self.store, name)
        return name

    def policy(self, kb: str | None = None, *, with_llm: bool = True, log_turns: bool = True) -> AnswerPolicy:
        name = self.kb_name(kb)
        return AnswerPolicy(
            kb=name,
            store=self.store,
            retriever=self.retriever,
            dialog=self.settings.dialog,
            llm_settings=self.settings.llm,
            llm=self.llm if (with_llm and self.settings.dialog.generate) else None,
            turn_log=self.turn_log if log_turns else None,
        )
