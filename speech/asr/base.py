"""The interface every ASR engine implements: a session per utterance, partials and a final text."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_DIGITS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
    "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine",
}  # fmt: skip


def normalize_phrase(text: str) -> str:
    """Lower-case words as a recognizer outputs them ("ATM 24h?" → "atm two four h")."""
    text = re.sub(r"\d", lambda m: f" {_DIGITS[m.group()]} ", text.lower())
    return " ".join(_WORD.findall(text))


class AsrSession(ABC):
    """One utterance being recognized."""

    @abstractmethod
    def accept(self, block: np.ndarray) -> str | None:
        """Feed 16 kHz float audio; returns a new partial transcript when there is one."""

    @abstractmethod
    def finish(self) -> str:
        """The final transcript of the utterance."""

    def partial(self) -> str:
        """The best transcript of the audio so far, without ending the utterance (may cost a decoder step)."""
        return ""

    def pause(self) -> None:
        """The visitor paused: only silence follows until :meth:`resume`. An engine that transcribes whole
        utterances starts on the words so far, so the transcript is ready when the turn ends."""

    def resume(self) -> None:
        """Speech again after :meth:`pause` (no-op when not paused)."""

    def cancel(self) -> None:
        """Drop the utterance (the kiosk started speaking); the default finishes it and ignores the text."""
        self.finish()


class AsrEngine(ABC):
    name = "asr"

    @abstractmethod
    def session(self) -> AsrSession: ...

    def set_vocabulary(self, phrases: Iterable[str]) -> None:
        """Bias recognition toward these phrases (the knowledge base's questions and alternates)."""

    def transcribe(self, samples: np.ndarray) -> str:
        session = self.session()
        for start in range(0, len(samples), 4096):
            session.accept(samples[start : start + 4096])
        return session.finish()
