"""End to end: end of the visitor's speech → first answer audio, through the whole kiosk loop.

    scripts/with-test-env.sh .venv/bin/python bench/e2e.py [--json] [--skip-app | --app-only]

Spoken questions (piper, natural variation) from bench/data/bank_eval.csv (30
in-scope questions, 10 of them after "Hey kiosk,") and two-part questions that
ask for a composed answer go through :class:`runtime.simulate.Simulator`: wake /
VAD → streaming ASR → answer policy → TTS, with the answer openings
synthesized at start-up as the kiosk does, each file fed at the microphone's
pace (so what the recognizer does while the visitor pauses overlaps the pause,
as it does live). Latency = the end-of-turn silence (stream time) + everything
after it (wall time). Goals: ``faq`` p50 <= 800 ms,
p95 <= 1.2 s; ``generated`` p50 <= 1.5 s.

Then the real Qt app (``kiosk run --windowed --ask ...``, needs a display and
PulseAudio, which scripts/with-test-env.sh provides) answers one question and
waits: CPU while idle (goal < 15 % of one core), peak RSS (goal < 1.5 GB) and
display frame gaps (a gap over 100 ms is a stall). Run nothing else that plays
sound meanwhile: the window's microphone is PulseAudio's default source, which
hears the default sink, and a null sink another program loads becomes the default.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.answers import GENERATED_QUESTIONS  # noqa: E402

TWO_PART = [
    *GENERATED_QUESTIONS["bank"],
    "do you exchange currency and what does it cost?",
    "how do I report a lost card and get a new one?",
    "is there step free access and a hearing loop?",
    "how do I send money abroad and how long does it take?",
    "can I pay in cheques and coins at the counter?",
    "is there parking and step free access?",
    "how do I change my address and my phone number?",
    "what do I need to open an account and how long does it take?",
    "can I book a mortgage appointment and what should I bring?",
    "do you count coins and is there a fee?",
    "how do I make a complaint and how long will it take?",
    "where is the cash machine and can I pay in cash there?",
]


def spoken_questions(n: int = 30, with_wake: int = 10) -> list[tuple[str, str]]:
    rows = list(csv.DictReader((ROOT / "bench" / "data" / "bank_eval.csv").open()))
    in_scope = [(r["text"], r["expected_id"]) for r in rows if r["expected_id"]][:n]
    return [(f"Hey kiosk, {text}" if i < with_wake else text, faq_id) for i, (text, faq_id) in enumerate(in_scope)]


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    import numpy as np

    return {
        "n": len(values),
        "p50": round(float(np.percentile(values, 50)), 1),
        "p95": round(float(np.percentile(values, 95)), 1),
        "max": round(max(values), 1),
    }


def run_turns(tmp: Path) -> dict:
    import numpy as np

    from core.home import KioskHome
    from core.settings import load_settings
    from devices.wav import write_wav
    from runtime.services import KioskServices
    from runtime.simulate import Simulator
    from speech.tts.piper import PiperTts

    home = KioskHome(tmp / "home").ensure()
    services = KioskServices(settings=load_settings(None, env={}), home=home)
    voice = PiperTts(model_path=services.models.require("tts"))  # natural variation, no cache
    cases = [(text, faq_id, "faq") for text, faq_id in spoken_questions()] + [(q, "", "two-part") for q in TWO_PART]
    files = []
    for i, (text, _, _) in enumerate(cases):
        chunks = list(voice.synthesize(text))
        rate = chunks[0].sample_rate
        pad = np.zeros(rate // 2, dtype=np.float32)
        path = tmp / f"q{i:02d}.wav"
        write_wav(path, np.concatenate([pad, *[c.samples for c in chunks], pad]), rate)
        files.append(path)
    simulator = Simulator(services, realtime=True)
    began = time.perf_counter()
    simulator.run(files[0])  # start-up: models load, answer openings are synthesized
    startup_s = time.perf_counter() - began
    by_mode: dict[str, list[float]] = {}
    asr_final, correct, wake_heard, rows = [], 0, 0, []
    for path, (text, expected, kind) in zip(files, cases, strict=True):
        turn = simulator.run(path)
        first = turn.timings_ms.get("first_audio_after_speech_end")
        if first is not None:
            by_mode.setdefault("generated" if turn.decided_mode == "generated" else turn.mode, []).append(first)
            asr_final.append(turn.timings_ms["asr_final_after_speech_end"])
        correct += kind == "faq" and turn.faq_id == expected
        wake_heard += text.startswith("Hey kiosk") and bool(turn.wake)
        rows.append({"said": text, "heard": turn.transcript, "mode": turn.mode, "decided": turn.decided_mode,
                     "faq_id": turn.faq_id, "expected": expected or None, "first_audio_ms": first})  # fmt: skip
    n_faq = sum(kind == "faq" for _, _, kind in cases)
    return {
        "questions": len(cases),
        "startup_s": round(startup_s, 1),
        "first_audio_after_speech_end_ms": {mode: stats(values) for mode, values in sorted(by_mode.items())},
        "asr_final_after_speech_end_ms": stats(asr_final),
        "end_of_turn_silence_ms": round(services.settings.vad.end_silence_s * 1000),
        "right_entry": f"{correct}/{n_faq}",
        "wake_heard": f"{wake_heard}/{sum(t.startswith('Hey kiosk') for t, _, _ in cases)}",
        "turns": rows,
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_app(tmp: Path) -> dict:
    """The real window: one spoken answer, then idle; CPU, memory and frame gaps of the process."""
    if not os.environ.get("DISPLAY"):
        return {"skipped": "no display: run under scripts/with-test-env.sh"}
    from core.heartbeat import read_heartbeat

    home = tmp / "app-home"
    command = [sys.executable, "-m", "kiosk", "--home", str(home), "run", "--windowed"]
    proc = subprocess.Popen(
        [*command, "--ask", "where is the cash machine", "--quit-after", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak_rss, states, ready_s = 0.0, [], None
    launched = time.monotonic()
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:  # until the answer is over and the kiosk waits
            peak_rss = max(peak_rss, _rss_mb(proc.pid))
            beat = read_heartbeat(home)
            state = beat.data.get("state") if beat.present else None
            if state and (not states or states[-1] != state):
                states.append(state)
            if ready_s is None and state not in (None, "starting"):
                ready_s = time.monotonic() - launched
            if state in ("idle", "attract") and {"speaking", "follow_up"} & set(states):
                break
            time.sleep(0.2)
        time.sleep(1.0)
        log = home / "logs" / "kiosk.log"
        deadline = time.monotonic() + 120  # the first start synthesizes the answer openings now, into the cache
        while time.monotonic() < deadline and "answer openings ready" not in log.read_text(errors="replace"):
            peak_rss = max(peak_rss, _rss_mb(proc.pid))
            time.sleep(0.5)
        peak_rss = max(peak_rss, _rss_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(30)
    beat = read_heartbeat(home)
    restart = _restart(command, home)
    return {
        "ready_after_launch_s": round(ready_s, 1) if ready_s is not None else None,
        "restart": restart,
        "states": states,
        "peak_rss_mb": round(peak_rss),
        "display": beat.data.get("display", {}) if beat.present else {},
        "display_during_startup": beat.data.get("display_startup", {}) if beat.present else {},
    }


def _restart(command: list[str], home: Path) -> dict:
    """The same kiosk started again (indexes, classifier and answer audio cached): time to ready, start-up stalls."""
    from core.heartbeat import STATUS_FILE, read_heartbeat

    (home / STATUS_FILE).unlink(missing_ok=True)
    launched = time.monotonic()
    proc = subprocess.Popen([*command, "--quit-after", "40"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready_s = idle_cpu = None
    while proc.poll() is None:
        beat = read_heartbeat(home)
        if ready_s is None and beat.present and beat.data.get("state") not in (None, "starting"):
            ready_s = time.monotonic() - launched
            time.sleep(5.0)  # the attract screen, nobody there: CPU over the next 20 s
            cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
            time.sleep(20.0)
            idle_cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        time.sleep(0.1)
    beat = read_heartbeat(home)
    return {
        "ready_after_launch_s": round(ready_s, 1) if ready_s is not None else None,
        "idle_cpu_percent_of_one_core": round(idle_cpu, 1) if idle_cpu is not None else None,
        "display_during_startup": beat.data.get("display_startup", {}) if beat.present else {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--skip-app", action="store_true", help="only the simulated turns")
    parser.add_argument("--app-only", action="store_true", help="only the real window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result: dict = {"machine": f"{os.cpu_count()} CPUs"}
        if not args.app_only:
            result["turns"] = run_turns(Path(tmp))
        if not args.skip_app:
            result["app"] = run_app(Path(tmp))
    if not args.json and "turns" in result:
        for row in result["turns"].pop("turns"):
            print(f"{row['first_audio_ms'] or 0:7.0f} ms  [{row['mode']}] {row['said']!r} → {row['heard']!r}")
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
