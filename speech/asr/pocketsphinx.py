"""pocketsphinx with its bundled en-us model, biased toward the knowledge base.

Decoding always uses the large bundled generic language model (partials come
from it). :meth:`PocketsphinxAsr.set_vocabulary` adds a second pass: the final
transcript is chosen from the decoder's n-best list by a model that
interpolates the knowledge base's trigrams (questions, alternates, answers,
small talk) with the generic model (speech/asr/kb_lm.py). A first pass with a
model of the knowledge base alone was worse than the generic model, because
visitors' wording falls outside it.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.errors import SpeechError
from devices.wav import pcm16
from speech.asr.base import AsrEngine, AsrSession, normalize_phrase
from speech.asr.kb_lm import KbRescorer

_LOGGER = logging.getLogger(__name__)

GENERAL_PHRASES = [
    "hello", "hi", "hey kiosk", "good morning", "good afternoon", "thank you", "thanks", "goodbye", "bye",
    "yes", "no", "yes please", "no thank you", "what can you do", "help", "the first one", "the second one",
    "the third one", "repeat that please", "stop", "can you help me", "i have a question",
    "where is the", "how much is the", "when does the", "what time does the", "can i", "do you have",
]  # fmt: skip

# Re-ranking, tuned on bench/voice.py --split tune (not on the reported questions): the knowledge base's
# share of the interpolated model, the weight of its log-probability gain (log-math units) against the
# n-best path scores (whose units are coarser; the scale absorbs that), and the n-best depth.
KB_WEIGHT = 0.6
KB_SCALE = 10 / 1024
NBEST = 50
GENERIC_VOCABULARY = 72_000  # words of the bundled generic model: the floor of the knowledge-base model


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
        text = self.partial()
        if text and text != self._last:
            self._last = text
            return text
        return None

    def partial(self) -> str:
        hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp else ""

    def finish(self) -> str:
        try:
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            text = hyp.hypstr.strip() if hyp else ""
            rescorer = self._engine._rescorer
            if rescorer is not None and text:
                text = _rerank(rescorer, itertools.islice(self._decoder.nbest(), NBEST)) or text
            return text
        finally:
            self._engine._lock.release()


def _rerank(rescorer: KbRescorer, nbest: Iterable) -> str | None:
    """The n-best entry the knowledge-base model prefers (words only: no fillers, no pronunciation marks)."""
    entries = []
    for hyp in nbest:
        if hyp.score <= 0:  # the path score underflowed: nothing to weigh the language model against
            return None
        words = [w.split("(")[0] for w in hyp.hypstr.split() if not w.startswith(("<", "["))]
        entries.append((" ".join(words), math.log(hyp.score) / math.log(1.0001)))
    return rescorer.best(entries)


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
        self._rescorer: KbRescorer | None = None
        self.vocabulary_size = 0

    def set_vocabulary(self, phrases: Iterable[str]) -> None:
        """Re-rank final transcripts toward ``phrases`` (questions, alternates, answer sentences)."""
        lines = [normalize_phrase(p) for p in [*phrases, *GENERAL_PHRASES]]
        lines = [line for line in dict.fromkeys(lines) if line]
        known = [" ".join(w for w in line.split() if self._decoder.lookup_word(w) is not None) for line in lines]
        corpus = [line for line in dict.fromkeys(known) if line]
        generic = self._decoder.get_lm()
        if generic is None:
            raise SpeechError("cannot bias pocketsphinx: the decoder has no n-gram language model")
        rescorer = KbRescorer(
            corpus, generic.prob, weight=KB_WEIGHT, scale=KB_SCALE, vocabulary_size=GENERIC_VOCABULARY
        )
        with self._lock:
            self._rescorer = rescorer
        self.vocabulary_size = len({w for line in corpus for w in line.split()})
        _LOGGER.info("pocketsphinx biased to %d phrases, %d words", len(corpus), self.vocabulary_size)

    def session(self) -> AsrSession:
        return _Session(self)
