"""The audio-to-mouth model: features, bounded look-ahead, and accuracy on a held-out sentence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from avatar.audio2mouth import FRAME_S, N_MELS, log_mel
from core.models import AVATAR_WEIGHTS

needs_weights = pytest.mark.skipif(not AVATAR_WEIGHTS.exists(), reason="train with python -m avatar.train")


def test_log_mel_frames_every_10ms() -> None:
    rate = 22050
    t = np.arange(rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    feats = log_mel(tone, rate)
    assert feats.shape == (100, N_MELS)
    assert np.isfinite(feats).all()
    # a 440 Hz tone puts its energy in a low band, silence is far below
    assert feats[50].argmax() < N_MELS // 3
    silence = log_mel(np.zeros(rate, dtype=np.float32), rate)
    assert silence.max() < feats.max() - 10


@pytest.mark.models
@needs_weights
def test_model_looks_ahead_at_most_lookahead_frames() -> None:
    import torch

    from avatar.audio2mouth import AudioToMouth

    model = AudioToMouth.load(AVATAR_WEIGHTS)
    assert model.config.lookahead * FRAME_S <= 0.1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, N_MELS, 200)).astype(np.float32)
    y = x.copy()
    y[:, :, 120:] += 5.0  # change the future from frame 120 on
    with torch.inference_mode():
        a = model.net(torch.from_numpy(x))[1].numpy()
        b = model.net(torch.from_numpy(y))[1].numpy()
    # output frame n describes the mouth at n - LOOKAHEAD; it must not see anything after n
    assert np.allclose(a[:, :, :120], b[:, :, :120], atol=1e-5)
    assert not np.allclose(a[:, :, 120:], b[:, :, 120:])


@pytest.mark.models
@needs_weights
def test_model_follows_a_held_out_sentence() -> None:
    from avatar.audio2mouth import AudioToMouth
    from avatar.dataset import UtteranceFactory, VoiceVariant, truth_for
    from avatar.visemes import MOUTH_PARAMS

    model = AudioToMouth.load(AVATAR_WEIGHTS)
    factory = UtteranceFactory()
    samples, rate, phonemes = factory.audio("Could you please remind me where the gift shop is?", VoiceVariant("v"))
    times, probs, _ = model.predict(samples, rate)
    labels, truth = truth_for(phonemes, len(times))
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    track = model.track(samples, rate)
    jaw = track.sample_many(times)[:, MOUTH_PARAMS.index("jaw")]
    corr = float(np.corrcoef(jaw, truth[:, 0])[0, 1])
    assert accuracy > 0.45, accuracy
    assert corr > 0.6, corr
    # speech opens the mouth, the silence at the end closes it
    assert jaw.max() > 0.4 and jaw[-5:].max() < 0.2


def test_espeak_library_reports_phoneme_timings_that_match_its_audio() -> None:
    from avatar.visemes import SUFFIX_MARKS, phoneme_viseme
    from speech.tts.espeak_lib import synthesize

    audio = synthesize("Mama made apple pie.", voice="en-us", words_per_minute=150)
    assert audio.sample_rate > 8000 and audio.duration > 0.8
    phones = audio.phonemes
    assert [p.phoneme for p in phones if p.phoneme in "mp"] == ["m", "m", "m", "p", "p"]
    # contiguous, inside the audio, every sound has a mouth shape
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(phones))
    assert phones[0].start >= 0 and phones[-1].end == pytest.approx(audio.duration)
    assert all(phoneme_viseme(p.phoneme) != "rest" for p in phones if p.phoneme not in ("_", *SUFFIX_MARKS))
    # the lips are closed for /m p/ and open for the vowels: much less energy there
    x = audio.samples

    def level(p) -> float:
        s, e = int(p.start * audio.sample_rate), int(p.end * audio.sample_rate)
        return float(np.sqrt(np.mean(x[s:e] ** 2)))

    closed = np.mean([level(p) for p in phones if p.phoneme in ("m", "p")])
    open_ = np.mean([level(p) for p in phones if p.phoneme in ("a", "æ", "ɑ", "e")])
    assert closed < 0.5 * open_, (closed, open_)


def test_espeak_library_splits_diphthongs_and_refuses_unknown_voices() -> None:
    from core.errors import TTSError
    from speech.tts.espeak_lib import split_phonemes, synthesize

    timings = split_phonemes([("aɪ", 0), ("", 200), ("tʃ", 300)], 500, 1000)
    assert [(t.phoneme, t.start, t.end) for t in timings] == [
        ("a", 0.0, 0.1),
        ("ɪ", 0.1, 0.2),
        ("_", 0.2, 0.3),
        ("t", 0.3, 0.4),
        ("ʃ", 0.4, 0.5),
    ]
    with pytest.raises(TTSError) as err:
        synthesize("hello", voice="xx-nowhere")
    assert err.value.code == "model-not-found"
    with pytest.raises(TTSError) as err:
        synthesize("   ")
    assert err.value.code == "tts-empty"


@pytest.mark.models
@needs_weights
def test_model_follows_an_espeak_voice_it_never_trained_on() -> None:
    from avatar.audio2mouth import AudioToMouth
    from avatar.dataset import UtteranceFactory, truth_for
    from avatar.evaluate import EVAL_VARIANTS
    from avatar.train import ESPEAK_TRAIN_ACCENTS, ESPEAK_TRAIN_VOICES

    variant = next(v for v in EVAL_VARIANTS if v.espeak)
    accent, voice = variant.espeak.split("+")
    assert accent not in ESPEAK_TRAIN_ACCENTS and voice not in ESPEAK_TRAIN_VOICES
    model = AudioToMouth.load(AVATAR_WEIGHTS)
    samples, rate, phonemes = UtteranceFactory().audio("Could you please remind me where the gift shop is?", variant)
    times, probs, _ = model.predict(samples, rate)
    labels, _ = truth_for(phonemes, len(times))
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    assert accuracy > 0.6, accuracy


@pytest.mark.models
@needs_weights
def test_model_follows_speech_in_a_reverberant_hall() -> None:
    from avatar.audio2mouth import AudioToMouth
    from avatar.dataset import UtteranceFactory, VoiceVariant, truth_for

    model = AudioToMouth.load(AVATAR_WEIGHTS)
    factory = UtteranceFactory()
    hall = VoiceVariant("hall", reverb_rt60=0.6, reverb_drr_db=0.0)
    accuracies = []
    for text in (
        "Could you please remind me where the gift shop is?",
        "The museum cafe closes at half past five on Sundays.",
        "Please keep your ticket until the end of your visit.",
    ):
        samples, rate, phonemes = factory.audio(text, hall)
        times, probs, _ = model.predict(samples, rate)
        labels, _ = truth_for(phonemes, len(times))
        accuracies.append(float((probs.argmax(axis=1) == labels).mean()))
    # a model trained without rooms gets about 0.45 here
    assert np.mean(accuracies) > 0.52, accuracies
