"""espeak-ng voices for the languages no piper voice is installed for.

espeak-ng (a system package the set-up installs) speaks about a hundred
languages with small, robotic but clear voices, and synthesizes a sentence in
tens of milliseconds. It gives no phoneme timings (those need mbrola voices), so
its chunks carry none and the avatar's audio-to-mouth network moves the lips.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import wave
from functools import cache

import numpy as np

from core.errors import TTSError
from speech.events import TTSAudio
from speech.tts.base import TtsEngine

_LOGGER = logging.getLogger(__name__)

WORDS_PER_MINUTE = 165  # espeak-ng's default is 175; a little slower is clearer in a hall
TIMEOUT_S = 20.0


@cache
def installed_languages() -> frozenset[str]:
    """Language codes espeak-ng has voices for (``es``, ``es-419``, ``fr-fr``...); empty without espeak-ng."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        return frozenset()
    try:
        out = subprocess.run([binary, "--voices"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    codes = {line.split()[1].lower() for line in out.splitlines()[1:] if len(line.split()) > 1}
    return frozenset(codes | {code.split("-")[0] for code in codes})


class EspeakTts(TtsEngine):
    name = "espeak-ng"

    def __init__(self, *, language: str, speed: float = 1.0, volume: float = 1.0) -> None:
        self.language = language.split("-", maxsplit=1)[0].lower()
        self.voice = language.lower()
        self.speed = speed
        self.volume = volume

    def warm(self) -> None:
        if self.voice not in installed_languages():
            raise TTSError(
                f"espeak-ng has no voice for {self.voice!r}",
                code="model-not-found",
                hint="install espeak-ng (scripts/setup.sh does) or a piper voice for the language",
            )

    def synthesize_sentence(self, sentence: str, index: int = 0) -> TTSAudio:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise TTSError("espeak-ng is not installed", code="model-not-found", hint="run scripts/setup.sh")
        command = [binary, "-v", self.voice, "-s", str(round(WORDS_PER_MINUTE * self.speed)), "--stdout", sentence]
        try:
            wav = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=True).stdout
            with wave.open(io.BytesIO(wav)) as reader:
                rate = reader.getframerate()
                pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
            raise TTSError(f"espeak-ng failed for {sentence[:40]!r}: {exc}") from exc
        samples = np.clip(pcm.astype(np.float32) / 32768.0 * self.volume, -1.0, 1.0)
        return TTSAudio(samples, rate, sentence, (), index)
