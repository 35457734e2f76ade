"""The interface every TTS engine implements: sentences in, audio with phoneme timings out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from core.text import split_sentences
from speech.events import TTSAudio


class TtsEngine(ABC):
    name = "tts"
    sample_rate = 22050
    language = "en"  # the voice's language code (``en``, ``es``, ...)

    @abstractmethod
    def synthesize_sentence(self, sentence: str, index: int = 0) -> TTSAudio:
        """One sentence as one audio chunk; ``phonemes`` is empty when the engine has no timings."""

    def synthesize(self, text: str) -> Iterator[TTSAudio]:
        """Yield one :class:`TTSAudio` per sentence of ``text``, as soon as each is ready."""
        for index, sentence in enumerate(split_sentences(text)):
            yield self.synthesize_sentence(sentence, index)

    def warm(self) -> None:
        """Load the voice ahead of the first visitor."""
