"""pocketsphinx with its bundled en-us model, biased toward the knowledge base.

Generic decoding with the large bundled language model is about 18 % WER on
clear speech. :meth:`PocketsphinxAsr.set_vocabulary` builds a small trigram
language model from the knowledge base's questions and alternates (plus small
talk and the wake phrase) and decodes with it: visitors ask those questions.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.errors import SpeechError
from speech.asr.base import AsrEngine, AsrSession, normalize_phrase
from speech.wav import pcm16

_LOGGER = logging.getLogger(__name__)

GENERAL_PHRASES = [
    "hello", "hi", "hey kiosk", "good morning", "good afternoon", "thank you", "thanks", "goodbye", "bye",
    "yes", "no", "yes please", "no thank you", "what can you do", "help", "the first one", "the second one",
    "the third one", "repeat that please", "stop", "can you help me", "i have a question",
    "where is the", "how much is the", "when does the", "what time does the", "can i", "do you have",
]  # fmt: skip


class _Session(AsrSession):
    def __init__(self, engine: PocketsphinxAsr) -> None:
        self._engine = engine
        self._engine._lock.acquire()
        self._decoder = engine._decoder
        self._decoder.start_utt()
        self._last = ""
        self._blocks = 0

    def accept(self, block: np.ndarray) -> str | None:
        self._decoder.process_raw(pcm16(block), False, False)
        self._blocks += 1
        if self._blocks % 8:
            return None
        hyp = self._decoder.hyp()
        text = hyp.hypstr if hyp else ""
        if text and text != self._last:
            self._last = text
            return text
        return None

    def finish(self) -> str:
        try:
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            return hyp.hypstr.strip() if hyp else ""
        finally:
            self._engine._lock.release()


class PocketsphinxAsr(AsrEngine):
    name = "pocketsphinx"

    def __init__(self, *, model_dir: Path) -> None:
        from pocketsphinx import Config, Decoder

        self.model_dir = Path(model_dir)
        self._config = dict(
            hmm=str(self.model_dir / "en-us"),
            dict=str(self.model_dir / "cmudict-en-us.dict"),
            samprate=16000,
            loglevel="FATAL",
        )
        try:
            self._decoder = Decoder(Config(lm=str(self.model_dir / "en-us.lm.bin"), **self._config))
        except (RuntimeError, ValueError) as exc:
            raise SpeechError(
                f"cannot load pocketsphinx model from {self.model_dir}: {exc}", code="model-not-found"
            ) from exc
        self._lock = threading.Lock()
        self.vocabulary_size = 0

    def set_vocabulary(self, phrases: Iterable[str]) -> None:
        """Decode with a trigram model of ``phrases`` (questions, alternates, answer sentences)."""
        from pocketsphinx.lm import ArpaBoLM

        lines = [normalize_phrase(p) for p in [*phrases, *GENERAL_PHRASES]]
        lines = [line for line in dict.fromkeys(lines) if line]
        known = [line for line in lines if all(self._decoder.lookup_word(w) is not None for w in line.split())]
        partial = [" ".join(w for w in line.split() if self._decoder.lookup_word(w) is not None) for line in lines]
        corpus = "\n".join(dict.fromkeys(known + [p for p in partial if p]))
        model = ArpaBoLM(text=corpus, add_start=True, discount_mass=0.4)
        model.compute()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kb.arpa"
            model.write_file(str(path))
            with self._lock:
                try:
                    self._decoder.add_lm_file("kb", str(path))
                    self._decoder.activate_search("kb")
                except (RuntimeError, ValueError) as exc:
                    raise SpeechError(f"cannot build the knowledge-base language model: {exc}") from exc
        self.vocabulary_size = len({w for line in corpus.splitlines() for w in line.split()})
        _LOGGER.info("pocketsphinx biased to %d phrases, %d words", len(lines), self.vocabulary_size)

    def session(self) -> AsrSession:
        return _Session(self)
