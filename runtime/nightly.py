"""The nightly fine-tune: while nobody is at the kiosk, its sentence embedding learns the knowledge base's phrasings.

After ``[learning] finetune_at`` (local time) and for ``window_hours`` after it, once the turn loop has
been in the attract state (nobody there) for ``idle_minutes`` and the knowledge base changed since the
last run (its version differs from the one in ``models/finetune-last.json``), :class:`NightlyFinetune`
runs the job: ``python -m knowledge.finetune`` in a process of its own, at the lowest priority, on one
core, with one torch thread (:func:`process_job`). A visitor never waits for it: the moment the loop
leaves the attract state (the wake phrase, a tap) the process is terminated and what it had made is
removed; it starts over when the kiosk has been idle again, within the same window. A run that ended
(switched, kept, skipped) is not repeated until the knowledge base changes.

When the job switched the model, the kiosk's answer policy gets a retriever for the new model, prepared
first (the index and classifier were built by the job) and then handed over in one assignment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import SettingsError
from knowledge.finetune import STOPPED, cleanup, last_runs
from runtime.events import TurnState

if TYPE_CHECKING:
    from dialog.policy import AnswerPolicy
    from runtime.services import KioskServices
    from runtime.turn_loop import TurnLoop

_LOGGER = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TERMINATE_WAIT_S = 5.0  # after SIGTERM, the job's process gets this long before SIGKILL
Job = Callable[[threading.Event], dict]  # runs the fine-tune; stops when the event is set; returns its report


def parse_time(text: str) -> dtime:
    """``HH:MM`` as a time of day; ``SettingsError`` naming the setting otherwise."""
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
        return dtime(hours, minutes)
    except ValueError:
        raise SettingsError(
            f"settings: learning.finetune_at = {text!r} is not a time of day",
            hint='write it as HH:MM, e.g. "03:00", or "" for no nightly fine-tune',
        ) from None


@dataclass(frozen=True)
class Schedule:
    at: dtime
    window_s: float  # how long after ``at`` a run may start
    idle_s: float  # how long the kiosk must have been idle first

    def night(self, now: datetime) -> str | None:
        """The night (the date its window opened) ``now`` falls in, or None outside the window."""
        start = now.replace(hour=self.at.hour, minute=self.at.minute, second=0, microsecond=0)
        if now < start:
            start -= timedelta(days=1)
        return start.date().isoformat() if (now - start).total_seconds() < self.window_s else None


class NightlyFinetune:
    """Watches a turn loop's state; runs ``job`` once a night while the kiosk is idle, stops it when a visitor comes."""

    def __init__(
        self,
        *,
        kb: str,
        schedule: Schedule,
        state: Callable[[], TurnState],
        changed: Callable[[], bool],
        job: Job,
        on_switched: Callable[[dict], None],
        now: Callable[[], datetime] = datetime.now,
        poll_s: float = 5.0,
        watch_s: float = 0.1,
    ) -> None:
        self.kb = kb
        self.schedule = schedule
        self._state = state
        self._changed = changed
        self._job = job
        self._on_switched = on_switched
        self._now = now
        self.poll_s = poll_s
        self.watch_s = watch_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle_since: float | None = None
        self._done_night: str | None = None  # the night whose run ended (not stopped)
        self.results: list[dict] = []  # every run's report, latest last

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="kiosk-nightly", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching (a run under way is stopped too)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self._state() == TurnState.STOPPED:
                return
            try:
                self.check()
            except Exception:  # the kiosk goes on answering; the next night tries again
                _LOGGER.exception("the nightly fine-tune failed")
                self._done_night = self.schedule.night(self._now())

    def check(self) -> dict | None:
        """Run the job if it is due now (the watcher calls this every ``poll_s``); its report, or None."""
        if self._state() != TurnState.ATTRACT:
            self._idle_since = None
            return None
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        night = self.schedule.night(self._now())
        if night is None or night == self._done_night or now - self._idle_since < self.schedule.idle_s:
            return None
        if not self._changed():
            self._done_night = night
            return None
        result = self.run_job()
        if result.get("outcome") == "stopped":
            self._idle_since = None  # wait until the kiosk has been idle again
        else:
            self._done_night = night
        return result

    def run_job(self) -> dict:
        """Run the job on a worker; stop it the moment the loop leaves the attract state."""
        cancel = threading.Event()
        box: list[dict] = []
        worker = threading.Thread(target=lambda: box.append(self._job(cancel)), name="kiosk-finetune", daemon=True)
        _LOGGER.info("nightly fine-tune of %s: starting", self.kb)
        worker.start()
        while worker.is_alive():
            worker.join(self.watch_s)
            if not cancel.is_set() and (self._stop.is_set() or self._state() != TurnState.ATTRACT):
                _LOGGER.info("nightly fine-tune of %s: a visitor arrived, stopping it", self.kb)
                cancel.set()
        result = box[0] if box else {"kb": self.kb, "outcome": "failed", "reason": "the job ended without a report"}
        if cancel.is_set() and result.get("outcome") != "switched":
            result = {**result, "outcome": "stopped", "reason": "a visitor arrived"}
        self.results.append(result)
        _LOGGER.info("nightly fine-tune of %s: %s (%s)", self.kb, result.get("outcome"), result.get("reason", ""))
        if result.get("outcome") == "switched":
            self._on_switched(result)
        return result


def process_job(home_root: Path, kb: str, *, minutes: float, min_gain: float, log_file: Path | None = None) -> Job:
    """The fine-tune in its own low-priority process (``python -m knowledge.finetune --low-priority``)."""

    def run(cancel: threading.Event) -> dict:
        command = [sys.executable, "-m", "knowledge.finetune", "--home", str(home_root), "--kb", kb]
        command += ["--minutes", str(minutes), "--min-gain", str(min_gain), "--low-priority"]
        log = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, cwd=PROJECT_ROOT)
            while proc.poll() is None:
                if cancel.wait(0.1):
                    proc.terminate()
                    try:
                        proc.wait(TERMINATE_WAIT_S)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                    cleanup(Path(home_root) / "models")
                    return {"kb": kb, "outcome": "stopped", "reason": "a visitor arrived"}
            out = proc.stdout.read().decode("utf-8", "replace") if proc.stdout is not None else ""
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode not in (0, STOPPED, 2) or not lines:
            return {"kb": kb, "outcome": "failed", "reason": f"exit status {proc.returncode}"}
        return json.loads(lines[-1])

    return run


def start_nightly(services: KioskServices, loop: TurnLoop, policy: AnswerPolicy) -> NightlyFinetune | None:
    """The nightly fine-tune of ``policy``'s knowledge base, watching ``loop`` (None when ``[learning]`` turns it
    off, or the loop answers from another knowledge base than the kiosk's own)."""
    cfg = services.settings.learning
    if not cfg.finetune_at.strip():
        return None
    try:
        at = parse_time(cfg.finetune_at)
    except SettingsError as exc:
        _LOGGER.error("%s: no nightly fine-tune", exc)
        return None
    if policy.kb != services.settings.dialog.knowledge_base:
        _LOGGER.info("no nightly fine-tune for %s: it is not the kiosk's knowledge base", policy.kb)
        return None
    kb, models_dir = policy.kb, services.home.models_dir

    def changed() -> bool:
        return services.store.kb_version(kb) != last_runs(models_dir).get(kb, {}).get("kb_version")

    def switched(result: dict) -> None:
        policy.retriever = services.reload_matching(kb)
        _LOGGER.info("the kiosk now matches with the fine-tuned model %s", result.get("model"))

    with contextlib.suppress(OSError):
        services.home.logs_dir.mkdir(parents=True, exist_ok=True)
    nightly = NightlyFinetune(
        kb=kb,
        schedule=Schedule(at, cfg.window_hours * 3600.0, cfg.idle_minutes * 60.0),
        state=lambda: loop.state,
        changed=changed,
        job=process_job(
            services.home.root,
            kb,
            minutes=cfg.max_minutes,
            min_gain=cfg.min_gain,
            log_file=services.home.logs_dir / "finetune.log",
        ),
        on_switched=switched,
    )
    nightly.start()
    _LOGGER.info("nightly fine-tune of %s after %s, when idle %.0f min", kb, cfg.finetune_at, cfg.idle_minutes)
    return nightly
