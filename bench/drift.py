"""Lip-sync drift over a long run through a real audio device: does the mouth's clock stay on the sound?

    scripts/with-test-env.sh .venv/bin/python bench/drift.py --minutes 30 [--json]

The kiosk's speaker (``devices.sound.Speaker``) plays synthesized sentences
back to back into a PulseAudio null sink for ``--minutes``; a microphone on the
sink's monitor records what actually came out. Every 5 s the bench reads the
speaker's clock: the speech sample at the loudspeaker now, from the DAC time
PortAudio gives each block, which is what the avatar draws the mouth for.

At the end each reading is checked against the recording: the half second of
speech that starts at the clock's sample is found in the recording by
cross-correlation, near the sample the microphone took in at the reading's
moment (from PortAudio's capture time of each block, on the same clock as the
speaker's DAC times: the sink's own sample rate, a few ppm off the system
clock, cancels out). ``mouth_vs_heard_ms`` is how much later the sound came out
than the clock said; its change from the first to the last minute is the drift
(goal: none). Locating the speech itself keeps the
measure right when the device falls behind and plays silence in between
(underruns on a loaded machine), which counting recorded samples would not.
``wall_vs_audio_ms_at_end`` shows how far a mouth on a wall-clock timer would
have been off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WINDOW_S = 0.5  # speech matched per reading
SEARCH_S = 0.6  # how far from the expected moment it is looked for, either side
READ_EVERY_S = 5.0


def locate(recording: np.ndarray, speech: np.ndarray, expected: int, rate: int) -> tuple[int, float]:
    """Index in ``recording`` where ``speech`` best matches near ``expected``, and the normalized correlation."""
    from scipy.signal import fftconvolve

    lo = max(0, expected - int(SEARCH_S * rate))
    hi = min(len(recording), expected + int(SEARCH_S * rate) + len(speech))
    segment = recording[lo:hi]
    if len(segment) < len(speech) or not np.any(speech):
        return expected, 0.0
    corr = fftconvolve(segment, speech[::-1], mode="valid")
    energy = np.sqrt(np.convolve(segment**2, np.ones(len(speech)), mode="valid")) * np.linalg.norm(speech)
    score = corr / np.maximum(energy, 1e-9)
    best = int(np.argmax(score))
    return lo + best, float(score[best])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import tempfile

    from core.home import KioskHome
    from core.settings import load_settings
    from devices.base import BLOCK, SAMPLE_RATE, resample
    from devices.sound import Speaker, _sd, resolve_device
    from runtime.services import KioskServices

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
        heard16 = [resample(c.samples, rate) for c in chunks]  # the same sentences at the recording's rate
        speaker = Speaker(device=f"pulse:{sink}")
        blocks: list[tuple[float, np.ndarray]] = []  # (capture time of the first sample, samples)

        def captured(indata, frames, time_info, status) -> None:
            blocks.append((float(time_info.inputBufferAdcTime), indata[:, 0].copy()))

        sd = _sd()
        mic = sd.InputStream(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="float32",
            blocksize=BLOCK,
            device=resolve_device(f"pulse:{sink}.monitor", "input"),
            callback=captured,
        )
        mic.start()
        time.sleep(1.0)
        played: list[int] = []  # which sentence, in the order queued
        queued = 0
        start = time.monotonic()
        readings: list[tuple[float, int]] = []  # (PortAudio time, speaker clock)
        next_reading = start + READ_EVERY_S
        while time.monotonic() - start < args.minutes * 60:
            while queued - speaker.played_samples() < rate:  # keep about a second queued, like a long answer
                k = len(played) % len(chunks)
                speaker.play(chunks[k].samples, rate)
                played.append(k)
                queued += len(chunks[k].samples)
            if time.monotonic() >= next_reading:
                now, clock = speaker.clock()
                if now is not None:
                    readings.append((now, clock))
                next_reading += READ_EVERY_S
            time.sleep(0.05)
        speaker.close()
        mic.stop()
        mic.close()
    finally:
        subprocess.run(["pactl", "unload-module", module], check=False)

    recording = np.concatenate([b for _, b in blocks])
    adc = np.array([t for t, _ in blocks])
    block_starts = np.cumsum([0] + [len(b) for _, b in blocks])[:-1]
    have_adc = bool(np.all(adc > 0))
    if not have_adc:  # no capture times from this host API: the blocks' count stands in for them
        adc = adc[0] + block_starts / SAMPLE_RATE if adc[0] > 0 else readings[0][0] + block_starts / SAMPLE_RATE
    starts = np.cumsum([0] + [len(chunks[k].samples) for k in played])  # speaker clock where each sentence starts
    starts16 = np.cumsum([0] + [len(heard16[k]) for k in played])
    speech16 = np.concatenate([heard16[k] for k in played])
    rows = []
    for now, clock in readings:
        j = int(np.searchsorted(starts, clock, side="right")) - 1
        b = int(np.searchsorted(adc, now, side="right")) - 1
        if j >= len(played) or b < 0:
            continue
        at16 = int(starts16[j] + (clock - starts[j]) * SAMPLE_RATE / rate)  # the same moment of speech at 16 kHz
        window = speech16[at16 : at16 + int(WINDOW_S * SAMPLE_RATE)]
        expected = int(block_starts[b] + (now - adc[b]) * SAMPLE_RATE)  # what the microphone took in at that time
        found, score = locate(recording, window, expected, SAMPLE_RATE)
        rows.append((now - readings[0][0], clock / rate, (found - expected) / SAMPLE_RATE * 1000, score))
    data = np.array(rows)
    good = data[data[:, 3] > 0.8]
    offset_ms = good[:, 2]
    per_minute = max(1, int(60 / READ_EVERY_S))
    wall_ms = (data[-1, 0] - data[0, 0] - (data[-1, 1] - data[0, 1])) * 1000
    print(
        json.dumps(
            {
                "bench": "drift",
                "minutes": round(float(data[-1, 0]) / 60, 1),
                "readings": len(data),
                "located": len(good),
                "mouth_vs_heard_ms": {
                    "first_minute_mean": round(float(offset_ms[:per_minute].mean()), 1),
                    "last_minute_mean": round(float(offset_ms[-per_minute:].mean()), 1),
                    "drift": round(float(offset_ms[-per_minute:].mean() - offset_ms[:per_minute].mean()), 1),
                    "max_abs_deviation_from_first_minute": round(
                        float(np.abs(offset_ms - offset_ms[:per_minute].mean()).max()), 1
                    ),
                    "p95_abs_deviation_from_first_minute": round(
                        float(np.percentile(np.abs(offset_ms - offset_ms[:per_minute].mean()), 95)), 1
                    ),
                },
                "wall_vs_audio_ms_at_end": round(float(wall_ms), 1),
                "capture_times": "PortAudio ADC times" if have_adc else "counted",
            }
        )
    )


if __name__ == "__main__":
    main()
