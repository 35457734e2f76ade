"""Training and evaluation data for the audio-to-mouth model, generated here: speech with exact phoneme timings.

Each utterance is synthesized by the packaged piper voice (its phoneme
alignments are the truth) or by an espeak-ng voice (the phoneme events of
libespeak-ng, :mod:`speech.tts.espeak_lib`, are the truth), at a chosen speed,
optionally pitch/formant shifted with sox (a different-sounding voice, same
timing). Truth per 10 ms frame: the
viseme of the phoneme being spoken and the mouth parameters the TTS-driven
avatar would show (:meth:`VisemeTrack.from_phonemes`). Utterances are cached
on disk, so a second run of training or evaluation does not synthesize again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.audio2mouth import FRAME_S, log_mel
from avatar.visemes import VisemeTrack, segments_from_phonemes, viseme_labels
from core.errors import AvatarError

_LOGGER = logging.getLogger(__name__)
DATA_VERSION = 3
ESPEAK_WORDS_PER_MINUTE = 160  # espeak-ng at speed 1.0, about piper's pace


@dataclass(frozen=True)
class VoiceVariant:
    """How an utterance is voiced: speed and a pitch shift in cents (0: the voice as is).

    ``espeak`` names an espeak-ng voice (``en-gb+f3``: accent + voice variant) to
    speak instead of piper, with ``espeak_pitch`` its base pitch (0..99).
    """

    name: str
    speed: float = 1.0
    pitch_cents: int = 0
    snr_db: float | None = None  # white noise added at evaluation (training adds noise on the fly)
    espeak: str = ""
    espeak_pitch: int = 50
    reverb_rt60: float = 0.0  # a room's reverberation added at evaluation (training reverberates features)
    reverb_drr_db: float = 0.0  # its direct-to-reverberant ratio

    def cache_fields(self) -> dict:
        """What makes the audio (variants keep the keys they had before espeak-ng voices and reverberation)."""
        fields = dict(self.__dict__)
        if not self.espeak:
            fields.pop("espeak")
            fields.pop("espeak_pitch")
        if not self.reverb_rt60:
            fields.pop("reverb_rt60")
            fields.pop("reverb_drr_db")
        return fields


@dataclass
class Utterance:
    text: str
    variant: str
    feats: np.ndarray  # (T, n_mels)
    labels: np.ndarray  # (T,) viseme index
    params: np.ndarray  # (T, P)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kiosk-avatar" / "audio2mouth-data"


def voice_path() -> Path:
    """The packaged piper voice (as the kiosk resolves it)."""
    from core.home import KioskHome
    from core.models import ModelManager
    from core.settings import load_settings

    home = KioskHome(Path(tempfile.gettempdir()) / "kiosk-avatar-train-home")
    return ModelManager(settings=load_settings(None, env={}), home=home).require("tts")


def pitch_shift(samples: np.ndarray, rate: int, cents: int) -> np.ndarray:
    """Shift pitch (and formants) by ``cents`` keeping duration, with sox."""
    if cents == 0:
        return samples
    if shutil.which("sox") is None:
        raise AvatarError("sox is not installed", code="avatar-tool-missing", hint="apt-get install sox")
    proc = subprocess.run(
        ["sox", "-q", "-t", "f32", "-r", str(rate), "-c", "1", "-", "-t", "f32", "-", "pitch", str(cents)],
        input=np.asarray(samples, dtype="<f4").tobytes(),
        capture_output=True,
        check=True,
    )
    out = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    if len(out) < len(samples):
        out = np.pad(out, (0, len(samples) - len(out)))
    return out[: len(samples)]


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(samples**2)) + 1e-9
    noise = rng.standard_normal(len(samples)).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def add_reverb(
    samples: np.ndarray, rate: int, rt60: float, rng: np.random.Generator, drr_db: float = 0.0
) -> np.ndarray:
    """A room: the direct sound plus an exponentially decaying noise tail that is ``drr_db`` below it in
    energy (0 dB: a microphone a metre or two from the speaker in a hall) and fades by 60 dB in ``rt60`` s."""
    from scipy.signal import fftconvolve

    n = max(2, int(rt60 * rate))
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    tail[0] = 0.0
    ir = tail * np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    ir[0] = 1.0
    wet = fftconvolve(samples, ir)[: len(samples)]
    return (wet * np.sqrt((np.mean(samples**2) + 1e-12) / (np.mean(wet**2) + 1e-12))).astype(np.float32)


def truth_for(phonemes: object, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame labels (viseme at each 10 ms frame) and target mouth parameters for phoneme timings."""
    times = np.arange(n_frames) * FRAME_S
    segments = segments_from_phonemes(phonemes)
    labels = viseme_labels(segments, times)
    params = VisemeTrack.from_phonemes(phonemes, duration=n_frames * FRAME_S).sample_many(times)
    return labels, params.astype(np.float32)


class UtteranceFactory:
    """Synthesizes (and caches) utterances for sentence/variant pairs."""

    def __init__(self, cache: Path | None = None) -> None:
        self.cache = cache or cache_dir()
        self._tts = None

    def _engine(self):
        if self._tts is None:
            from speech.tts.piper import PiperTts

            # without piper's random variation: the same sentence gives the same audio in every process, so the
            # training script reproduces the committed weights (speeds, pitch shifts and voices give variety)
            self._tts = PiperTts(model_path=voice_path(), variation=0.0)
        return self._tts

    def audio(self, text: str, variant: VoiceVariant, seed: int = 0) -> tuple[np.ndarray, int, tuple]:
        """Samples, rate and phoneme timings of one voiced sentence (not cached)."""
        if variant.espeak:
            from speech.tts.espeak_lib import synthesize

            wpm = round(ESPEAK_WORDS_PER_MINUTE * variant.speed)
            chunk = synthesize(text, voice=variant.espeak, words_per_minute=wpm, pitch=variant.espeak_pitch)
        else:
            tts = self._engine()
            tts.speed = variant.speed
            chunk = tts.synthesize_sentence(text)
        samples = pitch_shift(chunk.samples, chunk.sample_rate, variant.pitch_cents)
        if variant.reverb_rt60:
            rng = np.random.default_rng(seed + 1)
            samples = add_reverb(samples, chunk.sample_rate, variant.reverb_rt60, rng, variant.reverb_drr_db)
        if variant.snr_db is not None:
            samples = add_noise(samples, variant.snr_db, np.random.default_rng(seed))
        return samples, chunk.sample_rate, chunk.phonemes

    def utterance(self, text: str, variant: VoiceVariant, seed: int = 0) -> Utterance:
        """Features of the voiced sentence (cached) with truth derived from its phoneme timings (not cached)."""
        key = json.dumps([DATA_VERSION, text, variant.cache_fields(), seed], sort_keys=True)
        path = self.cache / f"{hashlib.sha1(key.encode()).hexdigest()}.npz"
        feats = phonemes = None
        if path.exists():
            try:
                with np.load(path) as data:
                    feats, phonemes = data["feats"], json.loads(str(data["phonemes"]))
            except (OSError, ValueError, KeyError):
                _LOGGER.warning("re-creating unreadable cached utterance %s", path.name)
        if feats is None:
            samples, rate, timings = self.audio(text, variant, seed)
            feats = log_mel(samples, rate)
            phonemes = [[p.phoneme, p.start, p.end] for p in timings]
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, feats=feats, phonemes=np.array(json.dumps(phonemes)))
            tmp.replace(path)
        labels, params = truth_for(phonemes, len(feats))
        return Utterance(text, variant.name, feats, labels, params)
