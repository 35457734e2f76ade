"""The Avatars page's background jobs: build a pack, render a test video, render previews; one at a time.

:class:`AvatarJobs` keeps a queue and, while it is not empty, one worker thread. The
thread runs each job in a child process (:mod:`admin_web.avatar_worker`) and reads
its JSON progress lines, so a request only ever enqueues and reads a snapshot: the
event loop never waits on a build, and the app's process never loads the face
models, Qt or piper for it. A job ends ``done``, ``refused`` (the builder's coded
one-line message and hint) or ``failed`` (an unexpected error, logged); whatever it
staged is removed either way, and ``on_finish`` is called (the page audits there).
Jobs live in memory: the last few finished ones are kept for the page.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from admin_web.avatar_library import staging_root, sweep_staging
from core.db import utcnow

_LOGGER = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
JOB_TIMEOUT_S = 1800.0  # a build from a long video takes minutes; past this the child is stopped
KEEP_FINISHED = 20


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    REFUSED = "refused"
    FAILED = "failed"


FINISHED = (JobState.DONE, JobState.REFUSED, JobState.FAILED)


@dataclass
class AvatarJob:
    """One job and what the page shows of it. Changed only by the worker thread, under the jobs' lock."""

    id: str
    kind: str  # build, render, previews
    name: str  # the pack ("" for previews)
    user: str
    spec: dict
    staging: Path | None = None
    state: JobState = JobState.QUEUED
    step: str = "waiting for the job before it"
    fraction: float = 0.0
    code: str = ""
    message: str = ""
    hint: str = ""
    result: dict = field(default_factory=dict)
    queued_at: str = field(default_factory=utcnow)
    finished_at: str = ""
    seq: int = 0  # order of submission

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "user": self.user,
            "state": str(self.state),
            "finished": self.finished,
            "step": self.step,
            "percent": round(100 * self.fraction),
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "queued_at": self.queued_at,
            "finished_at": self.finished_at,
        }


class AvatarJobs:
    """A queue of avatar jobs for one kiosk home, worked through by one thread, one child process at a time."""

    def __init__(
        self,
        home_root: Path,
        *,
        on_finish: Callable[[AvatarJob], None] | None = None,
        timeout_s: float = JOB_TIMEOUT_S,
    ) -> None:
        self.home_root = Path(home_root)
        self.on_finish = on_finish
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._jobs: dict[str, AvatarJob] = {}
        self._queue: deque[AvatarJob] = deque()
        self._thread: threading.Thread | None = None
        self._submitted = 0
        self._once: set[tuple] = set()
        sweep_staging(self.home_root)  # nothing runs yet: anything staged is a leftover

    def new_staging(self) -> Path:
        """A fresh folder for an upload, inside the avatars folder (the build is renamed into place from there)."""
        root = staging_root(self.home_root)
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="upload-", dir=root))

    def submit(self, kind: str, name: str, user: str, spec: dict, *, staging: Path | None = None) -> dict:
        """Queue a job; returns its snapshot. The worker thread is started if none is running."""
        job = AvatarJob(id=secrets.token_hex(8), kind=kind, name=name, user=user, spec=spec, staging=staging)
        with self._lock:
            self._submitted += 1
            job.seq = self._submitted
            self._jobs[job.id] = job
            self._queue.append(job)
            self._forget_old()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="avatar-jobs", daemon=True)
                self._thread.start()
            return job.to_dict()

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.to_dict()

    def recent(self) -> list[dict]:
        """Every job still known, newest first."""
        with self._lock:
            return [job.to_dict() for job in sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)]

    def busy_with(self, name: str) -> bool:
        """Whether a queued or running job builds or renders the pack ``name``."""
        if not name:
            return False
        with self._lock:
            return any(job.name == name and not job.finished for job in self._jobs.values())

    def submit_once(self, key: tuple, kind: str, name: str, user: str, spec: dict) -> dict | None:
        """Queue a job unless one was already queued for ``key`` (previews: once per pack version)."""
        with self._lock:
            if key in self._once:
                return None
            self._once.add(key)
        return self.submit(kind, name, user, spec)

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.seq)
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job.id]

    # -- the worker thread --------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None  # the next submit starts a new thread
                    return
                job = self._queue.popleft()
                job.state, job.step = JobState.RUNNING, "starting"
            outcome: dict = {}
            try:
                self._run(job, outcome)
            except Exception as exc:  # the thread must survive anything a job does
                _LOGGER.exception("avatar job %s (%s %s) failed", job.id, job.kind, job.name)
                outcome = {"state": JobState.FAILED, "message": f"the job failed: {exc}"}
            finally:
                if job.staging is not None:
                    shutil.rmtree(job.staging, ignore_errors=True)
            # the outcome is published only now: whoever sees the job finished finds it cleaned up and audited
            final = replace(job, **outcome, finished_at=utcnow())
            if self.on_finish is not None:
                try:
                    self.on_finish(final)
                except Exception:
                    _LOGGER.exception("after avatar job %s", job.id)
            with self._lock:
                for key in ("state", "code", "message", "hint", "result", "finished_at"):
                    setattr(job, key, getattr(final, key))
                job.step = str(job.state)
                if job.state is JobState.DONE:
                    job.fraction = 1.0

    def _run(self, job: AvatarJob, outcome: dict) -> None:
        """Run the child process, following its progress; its last word goes into ``outcome``."""
        with tempfile.TemporaryDirectory(prefix="kiosk-avatar-job-") as tmp:
            spec_file = Path(tmp) / "job.json"
            spec_file.write_text(json.dumps(job.spec), encoding="utf-8")
            env = dict(os.environ)
            env["QT_QPA_PLATFORM"] = "offscreen"  # the child draws frames, it never shows a window
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
            with (Path(tmp) / "stderr.txt").open("w+", encoding="utf-8", errors="replace") as errors:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "admin_web.avatar_worker", str(spec_file)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    text=True,
                    env=env,
                    cwd=str(REPO),
                )
                timer = threading.Timer(self.timeout_s, proc.kill)
                timer.start()
                try:
                    for line in proc.stdout:  # type: ignore[union-attr]
                        self._event(job, line, outcome)
                    code = proc.wait()
                finally:
                    timer.cancel()
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                errors.seek(0)
                tail = errors.read()[-4000:]
        if outcome:
            if tail.strip():
                _LOGGER.info("avatar job %s said on stderr: %s", job.id, tail.strip()[-1000:])
            return
        _LOGGER.error("avatar job %s (%s %s) ended with status %s: %s", job.id, job.kind, job.name, code, tail)
        reason = "it took too long and was stopped" if code == -9 else f"the worker ended with status {code}"
        outcome.update(
            state=JobState.FAILED, message=f"the job failed: {reason}", hint="the admin app's log has details"
        )

    def _event(self, job: AvatarJob, line: str, outcome: dict) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            _LOGGER.info("avatar job %s: %s", job.id, line.rstrip())
            return
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "step":
            with self._lock:
                job.step = str(event.get("label", ""))[:200]
                job.fraction = float(event.get("fraction", job.fraction))
        elif kind == "done":
            outcome.update(state=JobState.DONE, result=event.get("result") or {})
        elif kind == "refused":
            outcome.update(
                state=JobState.REFUSED,
                code=str(event.get("code", "")),
                message=str(event.get("message", "")),
                hint=str(event.get("hint", "")),
            )
