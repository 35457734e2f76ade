"""Always-on wake phrase ("hey kiosk"): pocketsphinx keyphrase spotting on the bundled en-us model, verified.

Stage 1, always on and cheap (a few percent of one core): keyphrase spotting,
``sensitivity`` (0..1) mapping to its threshold on a log scale. Spotting alone
also fires on near misses ("the kiosk over there"), so stage 2 decodes the last
1.3 s with a small grammar in which the phrase competes with look-alikes
("the kiosk", "a kiosk", "okay kiosk", ...) and accepts only when a wake-like
word wins. A refractory period stops one utterance from waking the kiosk twice.
Measured in bench/wake.py.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from core.errors import SpeechError
from devices.base import BLOCK, SAMPLE_RATE
from devices.wav import pcm16

_LOGGER = logging.getLogger(__name__)


VERIFY_WINDOW_S = 1.3
# Words the grammar lets compete with the phrase's first word; only the first group counts as a wake.
WAKE_LIKE = ("hey", "hi", "pay", "they", "say", "way", "may", "day", "he")
LOOK_ALIKE = ("the", "a", "okay", "key", "this", "that", "his", "to", "at")
FILLERS = (
    "the | a | is | there | this | that | used | what's | at | to | of | and | it | okay | please | ask | about | i"
)


def sensitivity_to_threshold(sensitivity: float) -> float:
    """0 → 1e-5 (strict), 1 → 1e-35 (eager); the default 0.5 → 1e-20, eager because stage 2 verifies."""
    return 10.0 ** -(5.0 + 30.0 * sensitivity)


def _grammar(last_word: str) -> str:
    heads = " | ".join(dict.fromkeys([*WAKE_LIKE, *LOOK_ALIKE]))
    return (
        "#JSGF V1.0;\ngrammar wake;\n"
        f"public <s> = [<pre>] [<pre>] <head> {last_word};\n<pre> = {FILLERS};\n<head> = {heads};\n"
    )


class WakeWordDetector:
    """Feed 16 kHz float blocks; :meth:`process` returns True on the block where the phrase ends."""

    def __init__(
        self, *, model_dir: Path, phrase: str = "hey kiosk", sensitivity: float = 0.5, refractory_s: float = 2.0
    ) -> None:
        from pocketsphinx import Config, Decoder

        words = re.findall(r"[a-z']+", phrase.lower())
        if not words:
            raise SpeechError("the wake phrase is empty", code="wake-phrase-invalid")
        config = Config(
            hmm=str(model_dir / "en-us"),
            dict=str(model_dir / "cmudict-en-us.dict"),
            keyphrase=" ".join(words),
            kws_threshold=sensitivity_to_threshold(sensitivity),
            samprate=SAMPLE_RATE,
            loglevel="FATAL",
        )
        try:
            self._decoder = Decoder(config)
        except (RuntimeError, ValueError) as exc:
            raise SpeechError(f"cannot set up wake phrase {phrase!r}: {exc}", code="wake-phrase-invalid") from exc
        missing = [w for w in words if self._decoder.lookup_word(w) is None]
        if missing:
            raise SpeechError(
                f"wake phrase words not in the pronunciation dictionary: {', '.join(missing)}",
                code="wake-phrase-invalid",
                hint="choose common English words",
            )
        self.phrase = " ".join(words)
        self._verifier = None
        if len(words) == 2 and words[0] in WAKE_LIKE:  # the default kind of phrase: "hey <name>"
            self._verifier = Decoder(
                Config(hmm=config["hmm"], dict=config["dict"], samprate=SAMPLE_RATE, loglevel="FATAL")
            )
            self._verifier.add_jsgf_string("wake", _grammar(words[1]))
            self._verifier.activate_search("wake")
        self._recent: list[np.ndarray] = []
        self._recent_blocks = round(VERIFY_WINDOW_S * SAMPLE_RATE / BLOCK)
        self.refractory_blocks = round(refractory_s * SAMPLE_RATE / BLOCK)
        self._since_wake = self.refractory_blocks
        self._blocks = 0
        self._decoder.start_utt()

    def process(self, block: np.ndarray) -> bool:
        self._recent = [*self._recent[-self._recent_blocks :], block]
        self._decoder.process_raw(pcm16(block), False, False)
        self._since_wake += 1
        self._blocks += 1
        if self._decoder.hyp() is None:
            # keep the search from growing forever: restart in a quiet moment, or after a minute regardless
            quiet = float(np.sqrt(np.mean(block**2))) < 0.01
            if (quiet and self._blocks > 30 * SAMPLE_RATE // BLOCK) or self._blocks > 60 * SAMPLE_RATE // BLOCK:
                self._restart()
            return False
        self._restart()
        if self._since_wake < self.refractory_blocks or not self._verified():
            return False
        self._since_wake = 0
        return True

    def _verified(self) -> bool:
        if self._verifier is None:
            return True
        audio = np.concatenate(self._recent)
        self._verifier.start_utt()
        self._verifier.process_raw(pcm16(audio), False, True)
        self._verifier.end_utt()
        hyp = self._verifier.hyp()
        words = hyp.hypstr.split() if hyp else []
        accepted = len(words) >= 2 and words[-2] in WAKE_LIKE
        _LOGGER.debug("wake candidate %r: %s", " ".join(words), "accepted" if accepted else "rejected")
        return accepted

    def _restart(self) -> None:
        self._decoder.end_utt()
        self._decoder.start_utt()
        self._blocks = 0

    def close(self) -> None:
        self._decoder.end_utt()
