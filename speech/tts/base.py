"""The interface every TTS engine implements: sentences in, audio with phoneme timings out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from core.events import TTSAudio


class TtsEngine(ABC):
    name = "tts"
    sample_rate = 22050

    @abstractmethod
    def synthesize(self, text: str) -> Iterator[TTSAudio]:
        """Yield one :class:`TTSAudio` per sentence of ``text``, as soon as each is ready."""

    def warm(self) -> None:
        """Load the voice ahead of the first visitor."""
