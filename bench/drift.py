"""Lip-sync drift over a long run through a real audio device: does the mouth's clock stay on the sound?

    scripts/with-test-env.sh .venv/bin/python bench/drift.py --minutes 30 [--json]

The kiosk's speaker (``devices.sound.Speaker``) plays synthesized sentences
back to back into a PulseAudio null sink for ``--minutes``; a microphone on the
sink's monitor records what actually came out. Every 5 s the bench reads
the speaker's clock (the sample at the loudspeaker, from the DAC time PortAudio
gives each block: the position the avatar draws the mouth for) and the samples
recorded so far. ``mouth_vs_heard`` is the difference
of the two clocks in ms; its change from the first to the last minute is the
drift (goal: none; offset <= 40 ms). ``wall_vs_audio`` shows how far a mouth
driven by a wall-clock timer would have drifted over the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import tempfile

    from core.home import KioskHome
    from core.settings import load_settings
    from devices.base import SAMPLE_RATE
    from devices.sound import Microphone, Speaker
    from kiosk.wiring import KioskServices

    sink = f"drift_{uuid.uuid4().hex[:6]}"
    module = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={sink}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            services = KioskServices(settings=load_settings(None, env={}), home=KioskHome(Path(tmp)).ensure())
            texts = [
                "Good morning, and welcome to Harbor and Pine.",
                "The cash machines are on the left as you come in.",
                "We are open Monday to Friday, nine to five.",
                "Please ask at the counter if you need more help.",
            ]
            chunks = [services.tts.synthesize_sentence(t) for t in texts]
        rate = chunks[0].sample_rate
        speaker = Speaker(device=f"pulse:{sink}")
        mic = Microphone(device=f"pulse:{sink}.monitor")
        recorded = {"samples": 0, "first": None}
        stop = threading.Event()

        def record() -> None:
            for block in mic.blocks():
                if recorded["first"] is None:
                    loud = np.nonzero(np.abs(block) > 1e-3)[0]
                    if len(loud) == 0:
                        continue
                    recorded["first"] = time.monotonic()
                    recorded["samples"] += len(block) - int(loud[0])
                else:
                    recorded["samples"] += len(block)
                if stop.is_set():
                    break

        recorder = threading.Thread(target=record, daemon=True)
        recorder.start()
        time.sleep(1.0)
        queued = 0
        start = time.monotonic()
        samples: list[tuple[float, float, float]] = []
        next_sample = start + 5.0
        i = 0
        while time.monotonic() - start < args.minutes * 60:
            while queued - speaker.played_samples() < rate:  # keep about a second queued, like a long answer
                chunk = chunks[i % len(chunks)]
                speaker.play(chunk.samples, rate)
                queued += len(chunk.samples)
                i += 1
            now = time.monotonic()
            if now >= next_sample and recorded["first"] is not None:
                mouth_s = speaker.played_samples() / rate  # what the avatar draws the mouth for
                heard_s = recorded["samples"] / SAMPLE_RATE  # what came out of the device
                samples.append((now - start, mouth_s, heard_s))
                next_sample += 5.0
            time.sleep(0.05)
        stop.set()
        speaker.close()
        mic.close()
    finally:
        subprocess.run(["pactl", "unload-module", module], check=False)
    data = np.array(samples)
    offset_ms = (data[:, 1] - data[:, 2]) * 1000
    wall_ms = (data[:, 0] - data[0, 0] - (data[:, 1] - data[0, 1])) * 1000
    minute = max(1, int(60 / 5))
    print(
        json.dumps(
            {
                "bench": "drift",
                "minutes": round(float(data[-1, 0]) / 60, 1),
                "readings": len(data),
                "mouth_vs_heard_ms": {
                    "first_minute_mean": round(float(offset_ms[:minute].mean()), 1),
                    "last_minute_mean": round(float(offset_ms[-minute:].mean()), 1),
                    "drift": round(float(offset_ms[-minute:].mean() - offset_ms[:minute].mean()), 1),
                    "max_abs_deviation_from_first_minute": round(
                        float(np.abs(offset_ms - offset_ms[:minute].mean()).max()), 1
                    ),
                },
                "wall_vs_audio_ms_at_end": round(float(wall_ms[-1]), 1),
                # capture overflows lose audio on the recording side: each one moves "heard" behind the mouth
                "recorder_dropped_blocks": mic.dropped_blocks,
            }
        )
    )


if __name__ == "__main__":
    main()
