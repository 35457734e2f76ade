"""Speech synthesis speed: time to first audio and real-time factor of the piper voice, cache off.

    .venv/bin/python bench/tts.py [--json]

Sentences of about ten words (the demo knowledge bases' spoken answers, cut to
their first ten words) are synthesized one by one, as the turn loop does.
Goals: first audio <= 250 ms for a 10-word sentence; real-time factor <= 0.3 on
two cores. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.answers import percentile  # noqa: E402


def ten_word_sentences(n: int = 30) -> list[str]:
    out = []
    for path in sorted((ROOT / "knowledge" / "demo").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            words = (entry.get("spoken_answer") or entry["answer"]).split()
            if len(words) >= 10:
                out.append(" ".join(words[:10]).rstrip(",;:") + ".")
    return out[:: max(1, len(out) // n)][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.parse_args()
    import numpy as np

    from core.home import KioskHome
    from core.models import ModelManager
    from core.settings import load_settings
    from speech.tts.piper import PiperTts

    with tempfile.TemporaryDirectory() as home:
        voice = ModelManager(settings=load_settings(None, env={}), home=KioskHome(Path(home))).require("tts")
    tts = PiperTts(model_path=voice)  # no cache directory: every sentence is synthesized
    tts.warm()
    first, factors = [], []
    for sentence in ten_word_sentences():
        began = time.perf_counter()
        audio = tts.synthesize_sentence(sentence)
        elapsed = time.perf_counter() - began
        first.append(elapsed * 1000)
        factors.append(elapsed / audio.duration)
    print(
        json.dumps(
            {
                "bench": "tts",
                "machine": f"{os.cpu_count()} cores",
                "sentences": len(first),
                "first_audio_ms": {"p50": round(percentile(first, 50), 1), "p95": round(percentile(first, 95), 1)},
                "real_time_factor": {
                    "p50": round(float(np.percentile(factors, 50)), 3),
                    "p95": round(float(np.percentile(factors, 95)), 3),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
