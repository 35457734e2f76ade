"""Train the wake-phrase network: ``python -m speech.train_wake [--out PATH] [--steps N]``.

Everything is generated here, offline, with fixed seeds:

- positives: "hey kiosk" alone or followed by a question from the demo
  knowledge bases, spoken by espeak-ng (8 English accents × 12 voice
  variants, random rate and pitch) and by the packaged piper voice (random
  speed, natural variation);
- negatives: near misses written for training ("hey kid", "okay kiosk",
  "the kiosk is new", "hey Siri", ...), questions and answers, noise;
- augmentation: gain, babble and broadband noise at 5–30 dB SNR, synthetic
  reverberation.

Voices are split three ways: training variants; two held-out variants (dev)
that choose the threshold (no false wake on dev negatives, plus a margin of 1.0 logit);
and the voices ``bench/voice.py`` tests with (en-us, en-us+f3, en+m3,
en-gb+f2), which are never used here. Writes
``speech/weights/wake_hey_kiosk.pt`` (about 0.3 MB). Several minutes on two
CPU cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.base import SAMPLE_RATE, resample
from devices.wav import read_wav
from speech.features import SILENCE_LOG, log_mel
from speech.wakenet import DEFAULT_WEIGHTS, STRIDE_BLOCKS, WINDOW_FRAMES, build_network

_LOGGER = logging.getLogger(__name__)

SEED = 20261121
PHRASE = "hey kiosk"
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
TRAIN_VARIANTS = ["m1", "m2", "m4", "m5", "m6", "f1", "f4", "klatt", "klatt2", "klatt3"]
DEV_VARIANTS = ["m7", "f5"]
BENCH_VOICES = {"en-us", "en-us+f3", "en+m3", "en-gb+f2"}  # bench/voice.py's test voices: never trained on
PHRASES = ["Hey kiosk", "Hey kiosk!", "Hey, kiosk.", "hey kiosk?", "Hey kiosk,"]
NEAR_MISSES = [
    "Hey kid", "Hey kitty", "Hey Casey", "Hey coach", "Hey Keith", "Hey Kayla", "Hey guys", "Hey Siri",
    "Hey Google", "OK Google", "Hey there", "Hey you", "Hey honey", "Hey Kiki", "Okay kiosk, show me",
    "A kiosk", "The kiosk", "This kiosk", "That kiosk is new", "Kiosk", "Kiosks", "Ask the kiosk",
    "He asked us", "They asked", "Pay cash", "Hey, can you ask", "Hey Oscar", "Hey cousin", "Hey, costs?",
    "Hey skip it", "Key kiosk", "Hey Kia", "The kiosk by the door", "Use the kiosk", "Hey, hold on",
    "I like this kiosk", "Hey, okay", "Hey, Chris", "Hay, corn and oats", "Hey Jack, look",
    "Okay kiosk", "OK kiosk, what now", "Okay, kiosk, tell me", "Hey there kiosk", "Hey there, kiosk users",
    "Hi there, kiosk", "Hey now, kiosk", "Hey look, a kiosk", "Say kiosk", "Hey, the kiosk", "Hey, that kiosk",
    "Okay, the kiosk", "Hey, nice kiosk", "Way to the kiosk", "Stay by the kiosk", "Hey, is this a kiosk",
    "Okay so the kiosk", "Hello kiosk", "Hey you kiosk", "Thanks kiosk",
]  # fmt: skip


@dataclass
class Clip:
    audio: np.ndarray  # 16 kHz
    phrase_end: int | None  # sample index where the wake phrase ends (None: a negative)
    split: str  # train | dev
    hard: bool = False  # a near miss


def demo_sentences() -> list[str]:
    root = Path(__file__).resolve().parent.parent / "knowledge" / "demo"
    out = []
    for path in sorted(root.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            out += [entry["question"], *entry.get("alternates", [])]
            out.append(entry.get("spoken_answer") or entry["answer"].split(". ")[0])
    return out


def _voiced(audio: np.ndarray) -> np.ndarray:
    """Indices of the 10 ms frames above 2 % of the loudest frame's RMS."""
    frames = len(audio) // 160
    if frames == 0:
        return np.zeros(0, dtype=int)
    rms = np.sqrt(np.mean(audio[: frames * 160].reshape(frames, 160) ** 2, axis=1))
    return np.nonzero(rms > 0.02 * rms.max())[0]


def trim(audio: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence."""
    voiced = _voiced(audio)
    if len(voiced) == 0:
        return audio
    return audio[voiced[0] * 160 : (voiced[-1] + 1) * 160]


def phrase_end_s(phonemes) -> float | None:
    """Where "kiosk" ends in piper's phoneme alignments (its closing /sk/), in seconds; None if absent."""
    names = [p.phoneme for p in phonemes]
    for i in range(1, len(names)):
        if names[i - 1] == "s" and names[i] == "k":
            return phonemes[i].end
    return None


def first_pause_end(audio: np.ndarray, after_s: float = 0.3, min_gap_frames: int = 6) -> int | None:
    """Sample where speech stops before the first pause of >= 60 ms after ``after_s`` (the comma after the phrase)."""
    voiced = _voiced(audio)
    gaps = np.nonzero(np.diff(voiced) >= min_gap_frames)[0]
    for g in gaps:
        if voiced[g] * 160 >= after_s * SAMPLE_RATE:
            return int((voiced[g] + 1) * 160)
    return None


class Synth:
    """espeak-ng and piper speech, trimmed, at 16 kHz."""

    def __init__(self, tmp: Path, piper_model: Path | None) -> None:
        self.tmp = tmp
        self.piper_model = piper_model
        self._piper: dict[float, object] = {}

    def espeak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        out = self.tmp / "e.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        samples, sr = read_wav(out)
        return trim(resample(samples, sr))

    def _piper_chunk(self, text: str, speed: float):
        from speech.tts.piper import PiperTts

        key = round(speed, 2)
        if key not in self._piper:
            self._piper[key] = PiperTts(model_path=self.piper_model, speed=speed)
        return self._piper[key].synthesize_sentence(text)

    def piper_say(self, text: str, speed: float) -> np.ndarray:
        chunk = self._piper_chunk(text, speed)
        return trim(resample(chunk.samples, chunk.sample_rate))

    def piper_sentence(self, text: str, speed: float) -> tuple[np.ndarray, int | None]:
        """One sentence starting with the phrase; the phrase's end from piper's phoneme alignments."""
        chunk = self._piper_chunk(text, speed)
        end = phrase_end_s(chunk.phonemes)
        return resample(chunk.samples, chunk.sample_rate), None if end is None else int(end * SAMPLE_RATE)

    def espeak_sentence(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int | None]:
        """One sentence "Hey kiosk, ..."; the phrase ends where the comma's pause begins."""
        audio = self.espeak(text, voice, rate, pitch)
        return audio, first_pause_end(audio)


def make_clips(synth: Synth, rng: random.Random, *, piper: bool) -> list[Clip]:
    sentences = demo_sentences()
    voices = [(f"{a}+{v}", "train") for a in ACCENTS for v in TRAIN_VARIANTS]
    voices += [(f"{a}+{v}", "dev") for a in ACCENTS for v in DEV_VARIANTS]
    voices += [(a, "train") for a in ACCENTS if a not in BENCH_VOICES and a != "en-gb"]
    assert not {v for v, _ in voices} & BENCH_VOICES
    clips: list[Clip] = []

    def silence(lo: float, hi: float) -> np.ndarray:
        return np.zeros(int(rng.uniform(lo, hi) * SAMPLE_RATE), dtype=np.float32)

    def whole(say_sentence, split: str) -> Clip | None:
        """The phrase and the question in one breath, as a visitor says it."""
        audio, end = say_sentence(f"Hey kiosk, {rng.choice(sentences)}")
        if end is None:
            return None
        pre = silence(0.2, 0.8)
        return Clip(np.concatenate([pre, audio, silence(0.6, 1.0)]), len(pre) + end, split)

    def positive(say, split: str) -> Clip:
        phrase = say(rng.choice(PHRASES))
        tail = say(rng.choice(sentences)) if rng.random() < 0.7 else np.zeros(0, np.float32)
        pre = silence(0.2, 0.8)
        audio = np.concatenate([pre, phrase, silence(0.03, 0.4), tail, silence(0.6, 1.0)])
        return Clip(audio, len(pre) + len(phrase), split)

    def negative(say, split: str) -> Clip:
        hard = rng.random() < 0.7
        text = rng.choice(NEAR_MISSES) if hard else rng.choice(sentences)
        return Clip(np.concatenate([silence(0.2, 0.6), say(text), silence(0.5, 0.8)]), None, split, hard)

    for voice, split in voices:
        for _ in range(3):
            rate, pitch = rng.randint(125, 200), rng.randint(25, 75)
            clips.append(positive(lambda t, v=voice, r=rate, p=pitch: synth.espeak(t, v, r, p), split))
        for _ in range(2):
            rate, pitch = rng.randint(125, 200), rng.randint(25, 75)
            clip = whole(lambda t, v=voice, r=rate, p=pitch: synth.espeak_sentence(t, v, r, p), split)
            if clip is not None:
                clips.append(clip)
        for _ in range(6):
            rate, pitch = rng.randint(125, 200), rng.randint(25, 75)
            clips.append(negative(lambda t, v=voice, r=rate, p=pitch: synth.espeak(t, v, r, p), split))
    if piper:
        for i in range(90):
            speed = round(rng.uniform(0.75, 1.35) * 20) / 20  # buckets of 0.05: one loaded voice each
            split = "dev" if i % 6 == 0 else "train"
            clips.append(positive(lambda t, s=speed: synth.piper_say(t, s), split))
            clips.append(negative(lambda t, s=speed: synth.piper_say(t, s), split))
            for _ in range(2):
                clip = whole(lambda t, s=speed: synth.piper_sentence(t, s), split)
                if clip is not None:
                    clips.append(clip)
    return clips


def augment(audio: np.ndarray, rng: np.random.Generator, babble: np.ndarray) -> np.ndarray:
    out = audio.copy()
    if rng.random() < 0.4:  # reverberation: exponentially decaying noise tail
        rt60 = rng.uniform(0.15, 0.6)
        n = int(rt60 * SAMPLE_RATE)
        ir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9 * np.arange(n) / n).astype(np.float32)
        ir[0] = 1.0
        out = np.convolve(out, ir / np.sqrt(np.sum(ir**2)), mode="full")[: len(out)].astype(np.float32)
    power = float(np.mean(out**2)) + 1e-9
    snr = rng.uniform(5.0, 30.0)
    if rng.random() < 0.5:
        start = rng.integers(0, max(1, len(babble) - len(out)))
        noise = babble[start : start + len(out)]
        noise = np.pad(noise, (0, len(out) - len(noise)))
    else:
        noise = rng.standard_normal(len(out)).astype(np.float32)
        if rng.random() < 0.5:  # pink-ish
            noise = np.cumsum(noise).astype(np.float32)
            noise -= np.convolve(noise, np.ones(64) / 64, mode="same").astype(np.float32)
    noise_power = float(np.mean(noise**2)) + 1e-9
    out = out + noise * np.sqrt(power / (noise_power * 10 ** (snr / 10)))
    gain = 10 ** (rng.uniform(-12.0, 6.0) / 20)
    return np.clip(out * gain, -1.0, 1.0).astype(np.float32)


def windows(feats: np.ndarray, phrase_end: int | None) -> tuple[list[int], list[int]]:
    """Window end frames labelled positive / negative for one clip's features."""
    n = len(feats)
    if phrase_end is None:
        return [], list(range(WINDOW_FRAMES // 3, n, 4))
    end = phrase_end // 160
    pos = [e for e in range(end, min(n, end + 25))]
    neg = [e for e in range(WINDOW_FRAMES // 3, n, 4) if e < end - 25 or e > end + 90]
    return pos, neg


def padded(feats: np.ndarray) -> np.ndarray:
    return np.concatenate([np.full((WINDOW_FRAMES, feats.shape[1]), SILENCE_LOG, np.float32), feats])


def stream_logits(model, audio: np.ndarray) -> np.ndarray:
    """Logits as the live detector computes them (every STRIDE_BLOCKS blocks over a sliding buffer)."""
    from devices.base import BLOCK, to_blocks
    from speech.wakenet import NeuralWakeDetector

    detector = NeuralWakeDetector(model=model, sensitivity=0.5)
    detector.threshold = float("inf")
    out = []
    for i, block in enumerate(to_blocks(audio)):
        detector.process(block)
        if (i + 1) % STRIDE_BLOCKS == 0:
            out.append((((i + 1) * BLOCK), detector.last_logit))
    return np.array(out)


def fires(logits: np.ndarray, threshold: float, confirm: int = 2) -> list[int]:
    hits, out = 0, []
    for sample, logit in logits:
        hits = hits + 1 if logit >= threshold else 0
        if hits >= confirm:
            out.append(int(sample))
            hits = 0
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--no-piper", action="store_true", help="espeak-ng voices only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = random.Random(SEED)
    nrng = np.random.default_rng(SEED)
    began = time.perf_counter()
    piper_model = None
    if not args.no_piper:
        from core.home import KioskHome
        from core.models import ModelManager
        from core.settings import load_settings

        with tempfile.TemporaryDirectory() as home:
            piper_model = ModelManager(settings=load_settings(None, env={}), home=KioskHome(Path(home))).require("tts")
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Synth(Path(tmp), piper_model), rng, piper=piper_model is not None)
    _LOGGER.info("%d clips synthesized in %.0f s", len(clips), time.perf_counter() - began)
    babble = np.concatenate([c.audio for c in clips if c.phrase_end is None and c.split == "train"][:200])

    train = [c for c in clips if c.split == "train"]
    feats_pos, feats_neg, feats_hard = [], [], []
    for clip in train:
        for k in range(3):
            audio = clip.audio if k == 0 else augment(clip.audio, nrng, babble)
            feats = padded(log_mel(audio, SAMPLE_RATE))
            pos, neg = windows(feats[WINDOW_FRAMES:], clip.phrase_end)
            feats_pos += [feats[e + 1 : e + 1 + WINDOW_FRAMES] for e in pos]
            (feats_hard if clip.hard else feats_neg).extend(feats[e + 1 : e + 1 + WINDOW_FRAMES] for e in neg)
    pos_x, neg_x, hard_x = np.stack(feats_pos), np.stack(feats_neg), np.stack(feats_hard)
    _LOGGER.info(
        "windows: %d positive, %d negative, %d near-miss (%.0f s)",
        len(pos_x), len(neg_x), len(hard_x), time.perf_counter() - began,
    )  # fmt: skip
    everything = np.concatenate([pos_x[::7], neg_x[::7], hard_x[::7]])
    mean, std = everything.mean(axis=(0, 1)), everything.std(axis=(0, 1)) + 1e-5

    net = build_network()
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=args.steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batch = 128
    for step in range(args.steps):
        pi = nrng.integers(0, len(pos_x), batch // 2)
        ni = nrng.integers(0, len(neg_x), batch // 4)
        hi = nrng.integers(0, len(hard_x), batch // 4)  # near misses: a quarter of every batch
        x = np.concatenate([pos_x[pi], neg_x[ni], hard_x[hi]])
        x = (np.transpose(x, (0, 2, 1)) - mean[:, None]) / std[:, None]
        if nrng.random() < 0.5:  # band masking
            lo = nrng.integers(0, 36)
            x[:, lo : lo + nrng.integers(1, 5), :] = 0.0
        y = np.concatenate([np.ones(batch // 2), np.zeros(batch // 2)]).astype(np.float32)
        net.train()
        loss = loss_fn(net(torch.from_numpy(x.astype(np.float32))), torch.from_numpy(y))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 500 == 0 or step == args.steps - 1:
            _LOGGER.info("step %d loss %.4f (%.0f s)", step, loss.item(), time.perf_counter() - began)

    from speech.wakenet import WakeModel

    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = {"phrase": PHRASE, "threshold": 0.0, "mean": mean, "std": std, "channels": 64,
            "state": net.state_dict(), "seed": SEED}  # fmt: skip
    torch.save(data, args.out)
    model = WakeModel(args.out)

    # threshold on held-out voices: no false wake on dev negatives (also with noise), then a margin
    dev = [c for c in clips if c.split == "dev"]
    dev_audio = [(c, c.audio) for c in dev] + [(c, augment(c.audio, nrng, babble)) for c in dev]
    neg_max, pos_logits = -99.0, []
    for clip, audio in dev_audio:
        logits = stream_logits(model, audio)
        if clip.phrase_end is None:
            pairs = np.minimum(logits[1:, 1], logits[:-1, 1]) if len(logits) > 1 else logits[:, 1]
            neg_max = max(neg_max, float(pairs.max(initial=-99.0)))
        else:
            pos_logits.append((clip.phrase_end, logits))
    threshold = neg_max + 1.0  # a margin for near misses no dev voice said
    detected = sum(
        any(clip_end - 1600 <= f <= clip_end + 9600 for f in fires(logits, threshold))
        for clip_end, logits in pos_logits
    )
    data["threshold"] = threshold
    torch.save(data, args.out)
    _LOGGER.info(
        "dev (held-out voices): threshold %.2f, detected %d/%d, 0 false wakes on %d negatives; %s written (%.0f s)",
        threshold, detected, len(pos_logits), sum(c.phrase_end is None for c, _ in dev_audio), args.out,
        time.perf_counter() - began,
    )  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
