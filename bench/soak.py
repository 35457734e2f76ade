"""Soak with device faults: the real window, real audio through PulseAudio, visitors for hours (compressed).

    scripts/with-test-env.sh .venv/bin/python bench/soak.py [--minutes 35] [--interval-s 1.0] [--json]

One process runs the kiosk window (Qt under Xvfb) on a fresh kiosk home with the bank
demo, its microphone and speaker on two PulseAudio null sinks. A simulated visitor
asks a question every ``--interval-s`` seconds by touch (a new question cuts the
answer playing, as a visitor who heard enough does), and every ``--voice-every``-th
visitor says "Hey kiosk, ..." into the virtual microphone instead. Every
``--fault-every-s`` seconds the microphone's or the speaker's PulseAudio module is
unloaded for ``--fault-down-s`` and loaded again, as a USB microphone or speaker
pulled out and plugged back (PulseAudio moves the streams elsewhere without an
error; the kiosk's devices notice, report it and rebind, see ``devices/pulse.py``). Meanwhile ``kiosk admin`` serves the same home and an operator
client reads pages and saves settings.

Printed (JSON): turns asked, answered, logged (every question the kiosk took must be
in the database, answered or interrupted), each device fault and how long the kiosk
took to recover, RSS / threads / file descriptors over time (flat after warm-up),
display frame gaps, admin requests answered. 4 hours of a busy kiosk are about 2,000
visitors; at one a second that is 35 minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PASSWORD = "amber kettle window seventy 7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True, timeout=10).stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_status() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = float(value.split()[0])
    return {
        "rss_mb": round(fields.get("VmRSS", 0.0) / 1024, 1),
        "threads": int(fields.get("Threads", 0)),
        "fds": len(os.listdir("/proc/self/fd")),
    }


@dataclass
class Fault:
    kind: str  # microphone | speaker
    removed_at: float
    restored_at: float = 0.0
    noticed_s: float | None = None  # removal → the kiosk reported the device unavailable
    recovered_s: float | None = None  # restored → the kiosk reported it ok again

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "down_s": round(self.restored_at - self.removed_at, 1) if self.restored_at else None,
            "noticed_after_s": None if self.noticed_s is None else round(self.noticed_s, 2),
            "recovered_after_s": None if self.recovered_s is None else round(self.recovered_s, 2),
        }


@dataclass
class Sinks:
    """The two null sinks: the speaker, and the one whose monitor is the microphone."""

    mic: str = field(default_factory=lambda: f"soak_mic_{uuid.uuid4().hex[:6]}")
    speaker: str = field(default_factory=lambda: f"soak_spk_{uuid.uuid4().hex[:6]}")
    modules: dict[str, str] = field(default_factory=dict)

    def load(self, kind: str) -> None:
        name = self.mic if kind == "microphone" else self.speaker
        self.modules[kind] = pactl("load-module", "module-null-sink", f"sink_name={name}")

    def unload(self, kind: str) -> None:
        module = self.modules.pop(kind, None)
        if module:
            pactl("unload-module", module)


class Operator(threading.Thread):
    """An operator in the admin app: dashboard, conversations, health; a settings save now and then."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(name="soak-operator", daemon=True)
        self.url, self.stop = url, stop
        self.ok = self.failed = self.entries = 0
        self.slowest_s = 0.0
        self.errors: list[str] = []

    def run(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            while not self.stop.is_set():
                try:
                    self._session(client)
                except Exception as exc:  # reported, then a new session
                    self.failed += 1
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    self.stop.wait(2.0)

    def _timed(self, call, *args, **kw):
        began = time.monotonic()
        response = call(*args, **kw)
        self.slowest_s = max(self.slowest_s, time.monotonic() - began)
        if response.status_code >= 400:
            raise RuntimeError(f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}")
        self.ok += 1
        return response

    def _session(self, client) -> None:
        page = self._timed(client.get, "/login")
        token = _CSRF.search(page.text).group(1)
        self._timed(
            client.post,
            "/login",
            data={"username": "operator", "password": PASSWORD, "csrf_token": token, "next": "/"},
        )
        for i in range(200):
            if self.stop.is_set():
                return
            self._timed(client.get, ("/", "/conversations", "/health", "/unanswered")[i % 4])
            if i % 20 == 19:
                page = self._timed(client.get, "/settings")
                token = _CSRF.search(page.text).group(1)
                self._timed(client.post, "/settings", data={"csrf_token": token, "kiosk.follow_up_listen_s": "8"})
            if i == 199:  # a new entry now and then: the running kiosk re-indexes while it answers
                self.entries += 1
                page = self._timed(client.get, "/faqs/new")
                entry = {
                    "faq_id": f"soak-{self.entries}-{uuid.uuid4().hex[:4]}",
                    "question": f"Is branch event number {self.entries} open to everyone?",
                    "answer": "Yes, every branch event is open to everyone, no booking needed.",
                    "enabled": "on",
                }
                self._timed(client.post, "/faqs/new", data={"csrf_token": _CSRF.search(page.text).group(1), **entry})
            self.stop.wait(0.5)


def _questions() -> list[str]:
    rows = csv.DictReader((ROOT / "bench" / "data" / "bank_eval.csv").open())
    return [r["text"] for r in rows if r["expected_id"]]


def run(args: argparse.Namespace) -> dict[str, object]:
    from core.home import KioskHome

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-soak-"))
    home = KioskHome(tmp / "home").ensure()
    sinks = Sinks()
    try:
        return _soak(args, rng, tmp, home, sinks)
    finally:
        for kind in ("microphone", "speaker"):
            sinks.unload(kind)


def _soak(args: argparse.Namespace, rng: random.Random, tmp: Path, home, sinks: Sinks) -> dict[str, object]:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from avatar.audio2mouth import AudioToMouth
    from avatar.pack import load_pack
    from core.logs import configure_logging
    from core.settings import load_settings
    from devices.events import DeviceChanged, DeviceStatus
    from devices.wav import write_wav
    from dialog.events import AnswerFinished
    from kiosk.window.launcher import live_factories, preload_libraries
    from kiosk.window.window import KioskWindow
    from runtime.events import TurnFailed
    from runtime.services import KioskServices
    from speech.events import WakeDetected

    configure_logging(logs_dir=home.logs_dir)
    sinks.load("microphone")
    sinks.load("speaker")
    home.settings_file.write_text(
        f'[audio]\ninput_device = "pulse:{sinks.mic}.monitor"\noutput_device = "pulse:{sinks.speaker}"\n'
        "reconnect_max_s = 2.0\n[kiosk]\nfullscreen = false\n"
    )
    settings = load_settings(home.settings_file)
    services = KioskServices(settings=settings, home=home)
    kiosk = [sys.executable, "-m", "kiosk", "--home", str(home.root)]
    subprocess.run([*kiosk, "admin", "create-user", "operator", "--role", "admin"], input=PASSWORD + "\n" + PASSWORD + "\n",
                   text=True, check=True, capture_output=True, timeout=120)  # fmt: skip
    port = _free_port()
    admin = subprocess.Popen([*kiosk, "admin", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    # spoken questions: "Hey kiosk, ..." in the kiosk's own voice, played into the virtual microphone
    import numpy as np

    questions = _questions()
    spoken: list[Path] = []
    for i, text in enumerate(rng.sample(questions, 8)):
        chunks = list(services.tts.synthesize(f"Hey kiosk, {text}"))
        rate = chunks[0].sample_rate
        path = tmp / f"voice_{i}.wav"
        write_wav(path, np.concatenate([np.zeros(rate // 2, np.float32), *[c.samples for c in chunks]]), rate)
        spoken.append(path)

    app = QApplication.instance() or QApplication(["kiosk-soak"])
    preload_libraries()
    services.run_live()  # as `kiosk run` does (kiosk/window/launcher.py)
    services.preload(audio=True, kb="bank")
    make_loop, make_source = live_factories(services, "bank")
    slow_slots: dict[str, list[float]] = {}  # the window's Qt-thread handlers that took over 30 ms: name -> times
    if args.stall_trace:
        for name in ("_on_event", "_on_display", "_on_tick", "_beat", "_set_state", "_set_chips", "ask"):
            method = getattr(KioskWindow, name)

            def timed(*a, _method=method, _name=name, **kw):
                began = time.perf_counter()
                try:
                    return _method(*a, **kw)
                finally:
                    took = (time.perf_counter() - began) * 1000
                    if took > 30:
                        label = f"{_name}({type(a[1]).__name__})" if _name == "_on_event" else _name
                        slow_slots.setdefault(label, []).append(round(took))

            setattr(KioskWindow, name, timed)  # before the window connects them
    window = KioskWindow(
        settings=settings,
        loop_factory=make_loop,
        source_factory=make_source,
        title="Soak",
        home_root=home.root,
        avatar_pack=load_pack(settings.avatar.name, home.root),
        audio_mouth=lambda: AudioToMouth.load(services.models.require("avatar")),
    )
    window.resize(648, 1152)
    window.show()
    if args.stall_trace:  # every thread's stack whenever the display has not ticked for 100 ms
        import faulthandler

        from kiosk.window.avatar_view import FrameStats

        trace = open(args.stall_trace, "w")  # noqa: SIM115 (open for the whole run)
        tick = FrameStats.tick

        def traced_tick(self: FrameStats, now: float) -> None:
            tick(self, now)
            faulthandler.dump_traceback_later(0.1, file=trace)

        FrameStats.tick = traced_tick  # the window's start-up statistics and those after

    counts = {"touch": 0, "voice": 0, "answered": 0, "wakes": 0, "failed": 0}
    faults: list[Fault] = []
    samples: list[dict[str, float]] = []
    began = time.monotonic()
    voice_busy_until = [0.0]
    stop = threading.Event()
    operator = Operator(f"http://127.0.0.1:{port}", stop)

    happenings: list[tuple[float, str]] = []  # (monotonic, what): to tell what a display stall came with

    def on_event(event) -> None:
        now = time.monotonic()
        happenings.append((now, type(event).__name__))
        del happenings[:-5000]
        if isinstance(event, AnswerFinished):
            counts["answered"] += 1
        elif isinstance(event, WakeDetected):
            counts["wakes"] += 1
        elif isinstance(event, TurnFailed):
            counts["failed"] += 1
        elif isinstance(event, DeviceChanged) and faults and faults[-1].kind == event.kind:
            fault = faults[-1]
            if event.state != DeviceStatus.OK and fault.noticed_s is None:
                fault.noticed_s = now - fault.removed_at
            elif event.state == DeviceStatus.OK and fault.restored_at and fault.recovered_s is None:
                fault.recovered_s = now - fault.restored_at

    window.runner.bridge.event.connect(on_event)

    def visitor() -> None:
        now = time.monotonic()
        if window.loop is None or now < voice_busy_until[0]:
            return
        if (counts["touch"] + counts["voice"]) % args.voice_every == args.voice_every - 1:
            counts["voice"] += 1
            subprocess.Popen(["paplay", f"--device={sinks.mic}", str(rng.choice(spoken))])
            voice_busy_until[0] = now + args.voice_turn_s
        else:
            counts["touch"] += 1
            window.ask(rng.choice(questions))

    def fault() -> None:
        kind = "microphone" if len(faults) % 2 == 0 else "speaker"
        faults.append(Fault(kind, time.monotonic()))
        happenings.append((time.monotonic(), f"unplug {kind}"))
        sinks.unload(kind)

        def restore() -> None:
            happenings.append((time.monotonic(), f"plug {kind}"))
            sinks.load(kind)
            faults[-1].restored_at = time.monotonic()

        QTimer.singleShot(int(args.fault_down_s * 1000), restore)

    def sample() -> None:
        samples.append({"t_s": round(time.monotonic() - began), **_proc_status(), "answered": counts["answered"]})

    def finish() -> None:
        stop.set()
        app.quit()

    schedule = ((args.interval_s, visitor), (args.fault_every_s, fault), (10.0, sample))
    timers = []
    for _, slot in schedule:
        timer = QTimer()
        timer.timeout.connect(slot)
        timers.append(timer)

    def start_when_ready() -> None:
        if window.loop is None:
            QTimer.singleShot(500, start_when_ready)
            return
        nonlocal began
        began = time.monotonic()
        sample()
        for timer, (interval_s, _) in zip(timers, schedule, strict=True):
            timer.start(int(interval_s * 1000))
        operator.start()
        QTimer.singleShot(int(args.minutes * 60 * 1000), finish)

    QTimer.singleShot(500, start_when_ready)
    started = time.monotonic()
    app.exec()
    for timer in timers:
        timer.stop()
    if args.stall_trace:
        faulthandler.cancel_dump_traceback_later()
    clean = window.shutdown()
    operator.join(35)
    admin.terminate()
    try:
        admin.wait(20)
    except subprocess.TimeoutExpired:
        admin.kill()
    logged = services.store.db.execute("SELECT count(*), sum(reason = 'interrupted') FROM turns").fetchone()
    by_source = dict(services.store.db.execute("SELECT source, count(*) FROM turns GROUP BY source").fetchall())
    warm = [s for s in samples if s["t_s"] >= 120] or samples
    return {
        "bench": "soak",
        "machine": f"{os.cpu_count()} cores",
        "minutes": round((time.monotonic() - started) / 60, 1),
        "visitors": {"touch": counts["touch"], "voice": counts["voice"], "wakes_heard": counts["wakes"]},
        "turns": {
            "answered": counts["answered"],
            "logged": logged[0],
            "logged_interrupted": logged[1] or 0,
            "logged_by_source": by_source,
            "touch_not_logged": counts["touch"] - by_source.get("touch", 0),
            "failed": counts["failed"],
        },
        "faults": [f.as_dict() for f in faults],
        "memory": {
            "malloc_arenas": "default" if args.default_arenas else "capped (core/memory.py)",
            "rss_mb_after_warmup": warm[0]["rss_mb"],
            "rss_mb_end": samples[-1]["rss_mb"],
            "rss_mb_max": max(s["rss_mb"] for s in samples),
            "threads": [warm[0]["threads"], samples[-1]["threads"], max(s["threads"] for s in samples)],
            "fds": [warm[0]["fds"], samples[-1]["fds"], max(s["fds"] for s in samples)],
        },
        "display": window.stats.as_dict(),
        "stalls": [
            {
                "t_s": round(at - began, 1),
                "ms": round(ms),
                "after": [f"{what} {round(at - t, 1)} s before" for t, what in happenings if at - 2.0 <= t <= at][-6:],
            }
            for at, ms in window.stats.stalls
            if at >= began
        ],
        "slow_handlers_ms": slow_slots,
        "admin": {
            "requests_ok": operator.ok,
            "requests_failed": operator.failed,
            "entries_added": operator.entries,
            "slowest_s": round(operator.slowest_s, 2),
            "errors": operator.errors[:5],
        },
        "clean_shutdown": clean,
        "timeline": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=35.0)
    parser.add_argument("--interval-s", type=float, default=1.0, help="A visitor every this many seconds.")
    parser.add_argument("--voice-every", type=int, default=10, help="Every Nth visitor speaks instead of tapping.")
    parser.add_argument(
        "--voice-turn-s", type=float, default=8.0, help="Touch visitors wait this long after a voice one."
    )
    parser.add_argument("--fault-every-s", type=float, default=120.0)
    parser.add_argument("--fault-down-s", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="(output is always JSON)")
    parser.add_argument("--stall-trace", help="Write every thread's stack to this file whenever the display stalls.")
    parser.add_argument(
        "--default-arenas", action="store_true", help="Leave glibc's malloc arenas uncapped (as before core/memory.py)."
    )
    args = parser.parse_args()
    if not args.default_arenas:
        from core.memory import limit_malloc_arenas

        limit_malloc_arenas()  # as `kiosk run` does (kiosk/cli.py)
    if not os.environ.get("DISPLAY"):
        sys.exit("no display: run under scripts/with-test-env.sh")
    try:
        pactl("info")
    except (OSError, subprocess.CalledProcessError):
        sys.exit("no PulseAudio server: run under scripts/with-test-env.sh")
    print(json.dumps(run(args), indent=1))


if __name__ == "__main__":
    main()
