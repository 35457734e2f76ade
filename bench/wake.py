"""False wakes over a long stream of ordinary speech: an hour of questions that never say the wake phrase.

    .venv/bin/python bench/wake.py [--minutes 60] [--json]

The speech is made here: customer questions from Banking77 and CLINC150
(../shared/datasets, read at run time, never copied) and the avatar corpus,
spoken by the packaged piper voice at random speeds and by espeak-ng voices
(the four voices bench/voice.py uses, which the wake network never trained
on), a third of them in hall noise (babble and broadband noise at 5-20 dB SNR),
separated by 0.2-1.5 s pauses. The stream runs block by block through one
wake detector, as the kiosk's microphone would, without a restart. Texts that
contain the wake phrase's words in order are left out. Reports minutes of
speech, false wakes (with the text around each), and the detector's CPU share
of one core (this thread's CPU time: piper's ONNX threads
keep spinning briefly after each sentence and are not the detector's). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.voice import with_noise  # noqa: E402
from core.home import KioskHome  # noqa: E402
from core.settings import load_settings  # noqa: E402
from devices.base import BLOCK, SAMPLE_RATE, resample  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
ESPEAK_VOICES = ("en-us", "en-us+f3", "en+m3", "en+f2")  # bench/voice.py's voices ("en" is British English)


def texts(seed: int) -> list[str]:
    """Questions people ask, shuffled; the wake phrase's words never appear together."""
    from avatar.corpus import sentences

    out = list(sentences(200, seed=seed))
    banking = DATASETS / "banking77" / "train.csv"
    if banking.exists():
        with banking.open(encoding="utf-8") as handle:
            out += [row["text"] for row in csv.DictReader(handle)]
    clinc = DATASETS / "clinc150" / "data_full_train_val.json"
    if clinc.exists():
        data = json.loads(clinc.read_text(encoding="utf-8"))
        out += [text for split in data.values() for text, _ in split]
    wake = re.compile(r"\bhey\W+kiosk", re.IGNORECASE)
    out = [t for t in out if t.strip() and not wake.search(t)]
    random.Random(seed).shuffle(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="minutes of speech")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="(the output is always one JSON object)")
    args = parser.parse_args()
    from runtime.services import KioskServices
    from speech.tts.espeak_lib import synthesize
    from speech.tts.piper import PiperTts

    rng = np.random.default_rng(args.seed)
    pick = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmpdir:
        services = KioskServices(settings=load_settings(None, env={}), home=KioskHome(Path(tmpdir) / "home").ensure())
        piper = PiperTts(model_path=services.models.require("tts"))
        detector = services.wake_detector()
        target = int(args.minutes * 60 * SAMPLE_RATE)
        babble = np.zeros(0, dtype=np.float32)
        fed = 0
        pending = np.zeros(0, dtype=np.float32)
        false_wakes: list[dict] = []
        recent: list[tuple[int, str]] = []  # (first sample, text) of the last utterances, to name a false wake
        counts = {"piper": 0, "espeak": 0, "noisy": 0}
        synth_s = detect_cpu = 0.0
        for text in texts(args.seed):
            if fed >= target:
                break
            started = time.perf_counter()
            if pick.random() < 0.5:
                piper.speed = pick.choice((0.8, 0.9, 1.0, 1.1, 1.25))
                chunk = piper.synthesize_sentence(text)
                counts["piper"] += 1
            else:
                chunk = synthesize(text, voice=pick.choice(ESPEAK_VOICES), words_per_minute=pick.randrange(140, 200))
                counts["espeak"] += 1
            audio = resample(chunk.samples, chunk.sample_rate)
            if len(babble) > 5 * SAMPLE_RATE and pick.random() < 1 / 3:
                audio = with_noise(audio, pick.uniform(5.0, 20.0), rng, babble)
                counts["noisy"] += 1
            else:
                babble = np.concatenate([babble, audio])[-60 * SAMPLE_RATE :]
            synth_s += time.perf_counter() - started
            gap = np.zeros(int(pick.uniform(0.2, 1.5) * SAMPLE_RATE), dtype=np.float32)
            recent = [*recent[-3:], (fed + len(pending), text)]
            pending = np.concatenate([pending, audio, gap])
            n_blocks = len(pending) // BLOCK
            cpu = time.thread_time()  # the detector runs on this thread (piper's ONNX threads spin on after it)
            for k in range(n_blocks):
                if detector.process(pending[k * BLOCK : (k + 1) * BLOCK]):
                    at = fed + (k + 1) * BLOCK
                    heard = [t for start, t in recent if start <= at]
                    false_wakes.append({"t_s": round(at / SAMPLE_RATE, 2), "text": heard[-1] if heard else ""})
            detect_cpu += time.thread_time() - cpu
            fed += n_blocks * BLOCK
            pending = pending[n_blocks * BLOCK :]
        minutes = fed / SAMPLE_RATE / 60
        report = {
            "bench": "wake",
            "machine": f"{os.cpu_count()} cores",
            "engine": type(detector).__name__,
            "phrase": services.settings.wake.phrase,
            "speech_minutes": round(minutes, 1),
            "utterances": counts,
            "false_wakes": len(false_wakes),
            "false_wakes_per_hour": round(len(false_wakes) / max(minutes / 60, 1e-9), 2),
            "false_wake_details": false_wakes[:20],
            "cpu_share_of_one_core": round(detect_cpu / max(fed / SAMPLE_RATE, 1e-9), 4),
            "synthesis_s": round(synth_s, 1),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
