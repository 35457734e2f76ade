"""espeak-ng speech with its phoneme timings, through libespeak-ng's C API (ctypes).

The ``espeak-ng`` command gives no phoneme durations (its ``--pho`` output needs
mbrola voices), but the library reports a phoneme event for every phoneme it
speaks, at the sample where it starts, when initialized with
``espeakINITIALIZE_PHONEME_EVENTS``; with ``espeakINITIALIZE_PHONEME_IPA`` the
event names the phoneme in IPA, the alphabet piper's alignments use, so
:func:`avatar.visemes.segments_from_phonemes` reads both alike. The audio-to-mouth
training data (:mod:`avatar.dataset`) speaks with these voices.

The library keeps one global voice and callback, so every call holds a module
lock. Multi-letter phonemes (diphthongs, affricates: ``aɪ``, ``tʃ``) are split
into their letters with equal shares of the time, as piper's alignments come
(combining marks are dropped); an empty phoneme event is a pause and becomes
``_``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import unicodedata
from functools import cache

import numpy as np

from core.errors import TTSError
from speech.events import PhonemeTiming, TTSAudio

_LOGGER = logging.getLogger(__name__)

# espeak_ng/speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_EE_OK = 0
PAUSE = "_"


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Library:
    """The loaded library, its sample rate and the callback collecting one synthesis."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise TTSError(
                f"libespeak-ng is not installed: {exc}", code="model-not-found", hint="apt-get install espeak-ng"
            ) from exc
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        self.rate = int(self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options))
        if self.rate <= 0:
            raise TTSError("libespeak-ng failed to initialize (espeak-ng-data missing?)", code="model-not-found")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, int]] = []  # (IPA phoneme, start sample)
        self._callback = _CALLBACK(self._collect)  # referenced for as long as the library may call it
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n_samples: int, events) -> int:
        if n_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self.events.append((event.id.string.decode("utf-8", "replace"), int(event.sample)))
            i += 1
        return 0


_LOCK = threading.Lock()


@cache
def _library() -> _Library:
    return _Library()


def split_phonemes(events: list[tuple[str, int]], total_samples: int, rate: int) -> tuple[PhonemeTiming, ...]:
    """Phoneme timings in seconds from (phoneme, start sample) events; each ends where the next starts."""
    out: list[PhonemeTiming] = []
    for k, (phoneme, start) in enumerate(events):
        end = events[k + 1][1] if k + 1 < len(events) else total_samples
        if end <= start:
            continue
        letters = [c for c in phoneme if unicodedata.category(c) != "Mn"] if phoneme else [PAUSE]
        step = (end - start) / len(letters)
        for j, letter in enumerate(letters):
            s, e = start + j * step, start + (j + 1) * step
            out.append(PhonemeTiming(letter, s / rate, e / rate))
    return tuple(out)


def synthesize(text: str, *, voice: str = "en-us", words_per_minute: int = 165, pitch: int | None = None) -> TTSAudio:
    """One sentence spoken by espeak-ng's ``voice`` (``en-us``, ``en+f3``...), with IPA phoneme timings.

    ``pitch`` is espeak-ng's base pitch, 0..99 (its default is 50).
    """
    if not text.strip():
        raise TTSError("nothing to say", code="tts-empty")
    with _LOCK:
        lib = _library()
        if lib.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise TTSError(f"espeak-ng has no voice {voice!r}", code="model-not-found")
        lib.lib.espeak_SetParameter(_RATE, int(words_per_minute), 0)
        lib.lib.espeak_SetParameter(_PITCH, 50 if pitch is None else max(0, min(99, int(pitch))), 0)
        lib.chunks, lib.events = [], []
        data = text.encode("utf-8")
        status = lib.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.lib.espeak_Synchronize()
        if status != _EE_OK:
            raise TTSError(f"espeak-ng failed for {text[:40]!r} (status {status})")
        pcm = np.concatenate(lib.chunks) if lib.chunks else np.zeros(0, dtype=np.int16)
        events, rate = list(lib.events), lib.rate
    samples = (pcm.astype(np.float32) / 32768.0).clip(-1.0, 1.0)
    return TTSAudio(samples, rate, text, split_phonemes(events, len(samples), rate))
