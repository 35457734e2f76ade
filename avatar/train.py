"""Train the audio-to-mouth model: ``python -m avatar.train [--out PATH] [--sentences N] [--steps N]``.

Generates its own data (piper speech at several speeds and pitch shifts with
exact phoneme alignments, and espeak-ng accents and voices with the phoneme
timings libespeak-ng reports, see :mod:`avatar.dataset`), augments features on the
fly (room reverberation, gain, spectral tilt, noise floor, band masking), trains the small causal
network for a fixed number of steps with fixed seeds, and writes
``avatar/weights/audio2mouth.pt``. About ten minutes on two CPU cores (the first run also synthesizes its data).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np

from avatar.audio2mouth import FRAME_S, AudioToMouth, ModelConfig, build_network
from avatar.corpus import sentences
from avatar.dataset import Utterance, UtteranceFactory, VoiceVariant
from avatar.visemes import MOUTH_PARAMS

_LOGGER = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parent / "weights" / "audio2mouth.pt"
SEED = 1234
CROP = 200  # frames (2 s)


TRAIN_SPEEDS = (0.8, 0.9, 1.0, 1.1, 1.25)  # avatar.evaluate speaks faster and slower than these
# espeak-ng accents ("en" is British) and voice variants for training; avatar.evaluate speaks with others
ESPEAK_TRAIN_ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
ESPEAK_TRAIN_VOICES = (
    "m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "f4", "klatt", "klatt2", "Alex", "Andy", "linda", "benjamin", "steph"
)  # fmt: skip


def training_variants(rng: random.Random, per_sentence: int, espeak_per_sentence: int = 0) -> list[VoiceVariant]:
    """piper at speeds 0.8..1.25 with pitch shifts within +-250 cents (evaluation uses shifts outside this
    range), and espeak-ng voices at speeds 0.8..1.25 and base pitches 30..70."""
    out = []
    for k in range(per_sentence):
        speed = rng.choice(TRAIN_SPEEDS)
        cents = 0 if k == 0 else rng.choice((-250, -150, 150, 250))
        out.append(VoiceVariant(f"train-s{speed}-p{cents}", speed=speed, pitch_cents=cents))
    for _ in range(espeak_per_sentence):
        voice = f"{rng.choice(ESPEAK_TRAIN_ACCENTS)}+{rng.choice(ESPEAK_TRAIN_VOICES)}"
        speed = rng.choice(TRAIN_SPEEDS)
        pitch = rng.randrange(30, 71, 10)
        out.append(VoiceVariant(f"train-{voice}-s{speed}-p{pitch}", speed=speed, espeak=voice, espeak_pitch=pitch))
    return out


def build_dataset(
    n_sentences: int, per_sentence: int, seed: int, espeak_per_sentence: int = 0, progress: bool = True
) -> list[Utterance]:
    factory = UtteranceFactory()
    rng = random.Random(seed)
    texts = sentences(n_sentences, seed=seed)
    data: list[Utterance] = []
    start = time.perf_counter()
    for i, text in enumerate(texts):
        for variant in training_variants(rng, per_sentence, espeak_per_sentence):
            data.append(factory.utterance(text, variant))
        if progress and (i + 1) % 20 == 0:
            _LOGGER.info("data: %d/%d sentences (%.0f s)", i + 1, len(texts), time.perf_counter() - start)
    return data


def reverberate(feats: np.ndarray, rt60: float, drr_db: float) -> np.ndarray:
    """A room in the feature domain: each frame's mel power plus an exponentially decaying sum of the frames
    before it, ``drr_db`` below the direct sound, fading by 60 dB in ``rt60`` seconds."""
    from scipy.signal import lfilter

    a = 10 ** (-6 * FRAME_S / rt60)  # power decay per frame
    power = np.exp(feats.astype(np.float64))
    tail = lfilter([0.0, 1.0 - a], [1.0, -a], power, axis=0)  # unit gain, past frames only
    return np.log(power + 10 ** (-drr_db / 10) * tail).astype(np.float32)


def augment(feats: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Feature-domain augmentation: reverberation, gain, spectral tilt, additive noise floor, one masked band."""
    x = feats
    if rng.random() < 0.35:
        x = reverberate(x, rt60=rng.uniform(0.2, 1.0), drr_db=rng.uniform(-3.0, 10.0))
    x = x + rng.uniform(-1.5, 1.5)
    n_mels = x.shape[1]
    x = x + rng.uniform(-0.6, 0.6) * np.linspace(-1, 1, n_mels)[None, :]
    if rng.random() < 0.6:
        # a noise floor roughly 5..35 dB under the speech peaks; white noise rises with the (wider) high mel bands
        floor = np.percentile(x, 90) - rng.uniform(1.0, 8.0)
        tilt = rng.uniform(-0.5, 2.5) * np.linspace(-1, 1, n_mels)[None, :]
        noise = floor + tilt + 0.3 * rng.standard_normal(x.shape)
        x = np.logaddexp(x, noise)
    if rng.random() < 0.4:
        width = rng.integers(2, 6)
        start = rng.integers(0, n_mels - width)
        x[:, start : start + width] = x.mean()
    return x.astype(np.float32)


def batches(data: list[Utterance], batch: int, rng: np.random.Generator):
    while True:
        idx = rng.integers(0, len(data), batch)
        feats, labels, params = [], [], []
        for i in idx:
            u = data[i]
            n = len(u.feats)
            if n > CROP:
                s = int(rng.integers(0, n - CROP))
                f, lab, par = u.feats[s : s + CROP], u.labels[s : s + CROP], u.params[s : s + CROP]
            else:
                pad = CROP - n
                floor = u.feats.min(axis=0, keepdims=True)
                f = np.concatenate([u.feats, np.repeat(floor, pad, axis=0)])
                lab = np.concatenate([u.labels, np.zeros(pad, dtype=u.labels.dtype)])
                par = np.concatenate([u.params, np.zeros((pad, u.params.shape[1]), dtype=np.float32)])
            feats.append(augment(f, rng))
            labels.append(lab)
            params.append(par)
        yield np.stack(feats), np.stack(labels), np.stack(params)


def train(
    *,
    out: Path,
    n_sentences: int = 160,
    per_sentence: int = 2,
    espeak_per_sentence: int = 2,
    steps: int = 5000,
    batch: int = 16,
    channels: int = ModelConfig.channels,
    seed: int = SEED,
) -> dict:
    import torch

    torch.manual_seed(seed)
    np_rng = np.random.default_rng(seed)
    torch.set_num_threads(1)  # two threads on a busy two-core machine are many times slower
    t0 = time.perf_counter()
    data = build_dataset(n_sentences, per_sentence, seed, espeak_per_sentence)
    data_s = time.perf_counter() - t0
    frames = sum(len(u.feats) for u in data)
    _LOGGER.info("dataset: %d utterances, %.1f min of audio, ready in %.0f s", len(data), frames / 6000, data_s)
    all_feats = np.concatenate([u.feats for u in data])
    mean, std = all_feats.mean(axis=0), all_feats.std(axis=0) + 1e-5

    config = ModelConfig(channels=channels)
    net = build_network(config)
    n_params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    look = config.lookahead
    t1 = time.perf_counter()
    net.train()
    gen = batches(data, batch, np_rng)
    for step in range(1, steps + 1):
        f, lab, par = next(gen)
        x = torch.from_numpy(((f - mean) / std).transpose(0, 2, 1).copy())
        logits, pred = net(x)
        # output frame n describes the mouth at frame n - look
        loss_cls = ce(logits[:, :, look:], torch.from_numpy(lab[:, :-look]))
        loss_par = torch.nn.functional.smooth_l1_loss(
            pred[:, :, look:], torch.from_numpy(par[:, :-look].transpose(0, 2, 1).copy()), beta=0.1
        )
        loss = loss_cls + 4.0 * loss_par
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == 1:
            _LOGGER.info(
                "step %d/%d: loss %.3f (visemes %.3f, params %.3f)",
                step,
                steps,
                loss.item(),
                loss_cls.item(),
                loss_par.item(),
            )
    train_s = time.perf_counter() - t1
    meta = {
        "seed": seed,
        "sentences": n_sentences,
        "utterances": len(data),
        "espeak_per_sentence": espeak_per_sentence,
        "audio_minutes": round(frames / 6000, 2),
        "steps": steps,
        "batch": batch,
        "parameters": n_params,
        "data_seconds": round(data_s, 1),
        "train_seconds": round(train_s, 1),
        "mouth_params": list(MOUTH_PARAMS),
    }
    model = AudioToMouth(net, mean, std, config, meta)
    model.save(out, meta)
    meta["weights_bytes"] = out.stat().st_size
    _LOGGER.info(
        "wrote %s (%d bytes, %d parameters) in %.0f s of training", out, meta["weights_bytes"], n_params, train_s
    )
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avatar.train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sentences", type=int, default=160)
    parser.add_argument("--per-sentence", type=int, default=2)
    parser.add_argument("--espeak-per-sentence", type=int, default=2, help="espeak-ng voicings of each sentence")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels", type=int, default=ModelConfig.channels, help="width of the network")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    meta = train(
        out=args.out,
        n_sentences=args.sentences,
        per_sentence=args.per_sentence,
        espeak_per_sentence=args.espeak_per_sentence,
        steps=args.steps,
        batch=args.batch,
        channels=args.channels,
        seed=args.seed,
    )
    print(meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
