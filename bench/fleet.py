"""Fleet server load: N simulated kiosks speaking the real HTTP protocol to one ``kiosk fleet serve`` process.

Each simulated kiosk joins with its own enrolment code, then heartbeats every 10 s and logs a turn every
30 s (both divided by ``--speedup``), pushing its outbox like the real agent (a turn leaves the outbox only
once acknowledged; ``--resend`` of the pushes are sent twice, as if the acknowledgement had been lost).
Halfway through, a knowledge-base version and a settings version are published to every site; each kiosk
learns them from its next heartbeat, downloads them and reports them. Prints one JSON object: request p50/p95/max per endpoint, the
server process's CPU, PostgreSQL's CPU, database growth per simulated day, turns lost and duplicated
(both must be 0) and the time until every kiosk reported the new version.

    .venv/bin/python -m bench.fleet [--kiosks 50] [--duration 60] [--speedup 10] [--database-url URL]
    .venv/bin/python -m bench.fleet --faults [--kiosks 20] [--speedup 10] [--only server-killed,...]

``--faults`` runs, each on its own kiosks, with turns sent / stored / lost / duplicated and the recovery
time: the server killed (SIGKILL) while batches of turns are being stored and started again; PostgreSQL
stopped and started again; one kiosk cut off for an hour of simulated time; a real kiosk home whose
``kiosk fleet sync`` is killed while applying a large new version (a pause point of :mod:`fleet.faults`
makes the kill land there). Simulated kiosks back off like the agent (``[fleet] sync_interval_s`` doubling
up to ``max_backoff_s``), so a recovery time includes that wait.

Without ``--database-url`` it starts a throwaway PostgreSQL with scripts/fleet-db.sh. The load generator
runs on the same machine (and the same cores) as the server and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HEARTBEAT_S = 10.0
TURN_S = 30.0
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _postgres_cpu(data_dir: Path | None) -> float | None:
    """CPU seconds of the postmaster and its current children (backends, autovacuum, writers)."""
    if data_dir is None:
        return None
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    total = _cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    total += (int(fields[11]) + int(fields[12])) / TICKS
            except (OSError, ValueError, IndexError):
                continue
    return total


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


class SimKiosk:
    """One kiosk: its credential, its outbox, what it has applied."""

    def __init__(self, n: int, credential: str, kiosk_id: str, site: str) -> None:
        self.n, self.credential, self.kiosk_id, self.site = n, credential, kiosk_id, site
        self.outbox: list[dict[str, Any]] = []
        self.next_id = 1
        self.sent_ids: set[int] = set()
        self.kb_versions: dict[str, int] = {}
        self.reported_at: dict[int, float] = {}
        self.settings_version = 0
        self.settings_reported_at: dict[int, float] = {}
        self.blocked = False  # --faults: its network is cut (every request fails as unreachable)
        self.failures = 0  # --faults: failed contacts in a row (the agent's back-off)
        self.retry_at = 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, base: str) -> None:
        self.args, self.base = args, base
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.published: tuple[int, float] | None = None
        self.stop = False
        self.backoff = False  # --faults: after a failure a kiosk waits like the agent (sync_interval_s doubling)
        self.in_flight: dict[str, int] = defaultdict(int)
        from core.settings import FleetSection

        self.fleet_settings = FleetSection()

    async def call(self, client: Any, kiosk: SimKiosk, name: str, method: str, path: str, body: Any = None) -> Any:
        if kiosk.blocked:
            self.errors[f"{name}:blocked"] += 1
            return self._failed(kiosk)
        start = time.perf_counter()
        self.in_flight[name] += 1
        try:
            response = await client.request(
                method, self.base + path, json=body, headers={"Authorization": f"Bearer {kiosk.credential}"}
            )
        except Exception:
            self.errors[f"{name}:network"] += 1
            return self._failed(kiosk)
        finally:
            self.in_flight[name] -= 1
        self.latency[name].append(time.perf_counter() - start)
        if response.status_code != 200:
            self.errors[f"{name}:{response.status_code}"] += 1
            return self._failed(kiosk)
        kiosk.failures = 0
        return response.json()

    def _failed(self, kiosk: SimKiosk) -> None:
        """With ``backoff``, the kiosk leaves the server alone as `kiosk fleet sync --forever` would."""
        if self.backoff:
            kiosk.failures += 1
            wait = min(
                self.fleet_settings.max_backoff_s, self.fleet_settings.sync_interval_s * 2 ** min(kiosk.failures, 20)
            )
            kiosk.retry_at = time.perf_counter() + wait * random.uniform(0.9, 1.1) / self.args.speedup

    async def heartbeat(self, client: Any, kiosk: SimKiosk) -> None:
        body = {
            "state": "idle",
            "kb_versions": kiosk.kb_versions,
            "settings_version": kiosk.settings_version,
            "software_version": "bench",
            "health": {},
        }
        answer = await self.call(client, kiosk, "heartbeat", "POST", "/api/v1/heartbeat", body)
        if answer is None:
            return
        wanted_settings = answer.get("settings")
        if wanted_settings and wanted_settings["version"] > kiosk.settings_version:
            version = wanted_settings["version"]
            payload = await self.call(client, kiosk, "settings", "GET", f"/api/v1/settings/{version}")
            if payload is not None and payload["sha256"] == wanted_settings["sha256"]:
                kiosk.settings_version = body["settings_version"] = version
                if await self.call(client, kiosk, "heartbeat", "POST", "/api/v1/heartbeat", body) is not None:
                    kiosk.settings_reported_at[version] = time.perf_counter()
        for kb, wanted in answer["target"].items():
            if wanted["version"] > kiosk.kb_versions.get(kb, 0):
                payload = await self.call(client, kiosk, "kb", "GET", f"/api/v1/kb/{kb}/{wanted['version']}")
                if payload is not None and payload["sha256"] == wanted["sha256"]:
                    kiosk.kb_versions[kb] = wanted["version"]
                    body["kb_versions"] = kiosk.kb_versions
                    if await self.call(client, kiosk, "heartbeat", "POST", "/api/v1/heartbeat", body) is not None:
                        kiosk.reported_at[wanted["version"]] = time.perf_counter()

    async def push(self, client: Any, kiosk: SimKiosk, *, force: bool = False) -> None:
        if not kiosk.outbox or (not force and time.perf_counter() < kiosk.retry_at):
            return
        batch = {"kiosk_id": kiosk.kiosk_id, "site": kiosk.site, "turns": kiosk.outbox[:200]}
        answer = await self.call(client, kiosk, "turns", "POST", "/api/v1/turns", batch)
        if answer is None:
            return
        if random.random() < self.args.resend:  # the acknowledgement "got lost": the same batch again
            answer = await self.call(client, kiosk, "turns", "POST", "/api/v1/turns", batch) or answer
        acked = set(answer["acked"])
        kiosk.outbox = [t for t in kiosk.outbox if t["id"] not in acked]

    async def run_kiosk(self, client: Any, kiosk: SimKiosk) -> None:
        beat_every, turn_every = HEARTBEAT_S / self.args.speedup, TURN_S / self.args.speedup
        now = time.perf_counter()
        next_beat = now + random.uniform(0, beat_every)
        next_turn = now + random.uniform(0, turn_every)
        while not self.stop:
            now = time.perf_counter()
            if now >= next_turn:
                ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                turn = {"id": kiosk.next_id, "ts": ts, "kb": "bank", "text": f"question {kiosk.next_id}"}
                kiosk.outbox.append(
                    {**turn, "answer": "an answer of a usual length " * 4, "mode": "faq", "faq_id": "x"}
                )
                kiosk.sent_ids.add(kiosk.next_id)
                kiosk.next_id += 1
                next_turn += turn_every
                await self.push(client, kiosk)
            if now >= next_beat:
                next_beat += beat_every
                if now >= kiosk.retry_at:
                    await self.heartbeat(client, kiosk)
                    if self.backoff:  # like the agent's sync: heartbeat, then what waits in the outbox
                        await self.push(client, kiosk)
            await asyncio.sleep(max(0.0, min(next_beat, next_turn) - time.perf_counter()))
        if not self.backoff:
            await self.push(client, kiosk)  # what is left in the outbox


async def _join_all(base: str, codes: list[str]) -> list[SimKiosk]:
    import httpx

    async with httpx.AsyncClient(timeout=60) as client:

        async def join(n: int, code: str) -> SimKiosk:
            answer = (await client.post(f"{base}/api/v1/join", json={"code": code})).json()
            return SimKiosk(n, answer["credential"], answer["kiosk_id"], answer["site"])

        return list(await asyncio.gather(*(join(n, code) for n, code in enumerate(codes))))


async def _drive(bench: Bench, kiosks: list[SimKiosk], store: Any, entries: list[dict]) -> dict[str, Any]:
    import httpx

    clients = [httpx.AsyncClient(timeout=60) for _ in kiosks]  # each kiosk its own connection
    tasks = [asyncio.create_task(bench.run_kiosk(c, k)) for c, k in zip(clients, kiosks, strict=True)]
    await asyncio.sleep(bench.args.duration / 2)
    version = await asyncio.to_thread(store.publish, "bank", entries, site=None, source="bench")
    published_at = time.perf_counter()
    central = {"dialog": {"fallback_message": f"Please ask at the desk ({version})."}}
    settings_version = await asyncio.to_thread(store.publish_settings, central, site=None, source="bench")
    settings_at = time.perf_counter()
    await asyncio.sleep(bench.args.duration / 2)
    waited = 0.0

    def all_applied() -> bool:
        return all(version in k.reported_at and settings_version in k.settings_reported_at for k in kiosks)

    while waited < 60 and not all_applied():
        await asyncio.sleep(0.5)
        waited += 0.5
    bench.stop = True
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    reported = [k.reported_at[version] - published_at for k in kiosks if version in k.reported_at]
    settings = [k.settings_reported_at[settings_version] - settings_at for k in kiosks if k.settings_version]
    return {
        "settings_all_applied_s": round(max(settings), 2) if len(settings) == len(kiosks) else None,
        "settings_median_applied_s": round(statistics.median(settings), 2) if settings else None,
        "kiosks_reporting": len(reported),
        "all_reported_s": round(max(reported), 2) if len(reported) == len(kiosks) else None,
        "all_reported_simulated_s": round(max(reported) * bench.args.speedup, 1)
        if len(reported) == len(kiosks)
        else None,
        "median_reported_s": round(statistics.median(reported), 2) if reported else None,
    }


def _start_cluster() -> tuple[str, Path]:
    directory = Path(tempfile.mkdtemp(prefix="kiosk-fleet-bench-", dir="/tmp"))
    proc = subprocess.run(["bash", str(REPO / "scripts/fleet-db.sh"), "start", str(directory)], capture_output=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr.decode())
    return proc.stdout.decode().strip().splitlines()[-1], directory


def _start_server(url: str, home: Path, port: int | None = None, log: Any = None) -> tuple[subprocess.Popen, str]:
    import httpx

    from tests.fleet_support import free_port

    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env["KIOSK_FLEET_DATABASE_URL"] = url
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--home", str(home), "fleet", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=log and subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the fleet server did not start")


# -- faults (--faults) ---------------------------------------------------------------------------------------------
FAULTS = ("server-killed", "postgres-restarted", "kiosk-offline", "kiosk-killed-mid-download")


def _pg_ctl(cluster_dir: Path, *args: str) -> None:
    """pg_ctl on the cluster of scripts/fleet-db.sh, as its owner, keeping its port (so the URL stays valid)."""
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
    run_as = ["runuser", "-u", os.environ.get("FLEET_DB_USER", "nobody"), "--"] if os.getuid() == 0 else []
    port = (cluster_dir / "port").read_text().strip()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={cluster_dir / 'socket'}"
        " -c max_connections=200"
    )
    extra = ["-l", str(cluster_dir / "server.log"), "-o", options] if args[0] == "start" else ["-m", "fast"]
    subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(cluster_dir / "data"), "-w", "-t", "60", *extra, *args],
        check=True,
        capture_output=True,
    )


def _stored_pairs(url: str, kiosk_ids: list[str]) -> list[tuple[str, int]] | None:
    """Every (kiosk, turn id) row of these kiosks; ``None`` while the database cannot be reached."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            rows = conn.execute("SELECT kiosk_id, turn_id FROM turns WHERE kiosk_id = ANY(%s)", [kiosk_ids]).fetchall()
    except psycopg.Error:
        return None
    return [(r[0], int(r[1])) for r in rows]


def _delivery(url: str, sent: dict[str, set[int]]) -> dict[str, int]:
    rows = _stored_pairs(url, list(sent)) or []
    stored: dict[str, set[int]] = defaultdict(set)
    for kiosk_id, turn_id in rows:
        stored[kiosk_id].add(turn_id)
    return {
        "turns_sent": sum(len(ids) for ids in sent.values()),
        "turns_stored": sum(len(ids & stored[k]) for k, ids in sent.items()),
        "turns_lost": sum(len(ids - stored[k]) for k, ids in sent.items()),
        "turns_duplicated": len(rows) - len(set(rows)),
    }


async def _until_stored(url: str, wanted: set[tuple[str, int]], kiosk_ids: list[str], give_up_s: float) -> float:
    """Seconds until every (kiosk, turn id) of ``wanted`` is in the database (``inf``: not within give_up_s)."""
    start = time.perf_counter()
    while time.perf_counter() - start < give_up_s:
        rows = await asyncio.to_thread(_stored_pairs, url, kiosk_ids)
        if rows is not None and wanted <= set(rows):
            return time.perf_counter() - start
        await asyncio.sleep(0.2)
    return float("inf")


class FaultContext:
    def __init__(self, args: argparse.Namespace, url: str, cluster_dir: Path | None, store: Any) -> None:
        self.args, self.url, self.cluster_dir, self.store = args, url, cluster_dir, store
        self.home = Path(tempfile.mkdtemp(prefix="kiosk-fleet-faults-"))
        self.server: subprocess.Popen | None = None
        self.port = 0

    def start_server(self) -> str:
        with (self.home / "serve.log").open("a") as log:  # the server's warnings while the faults happen
            self.server, base = _start_server(self.url, self.home, self.port or None, log)
        self.port = int(base.rsplit(":", 1)[1])
        return base

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(timeout=30)
        self.server, self.port = None, 0


async def _traffic_fault(ctx: FaultContext, fault: str) -> dict[str, Any]:
    """Simulated kiosks push turns (with the agent's back-off) while ``fault`` happens; then every turn is counted."""
    import httpx

    args = ctx.args
    speedup = args.offline_speedup if fault == "kiosk-offline" else args.speedup
    count = max(2, args.kiosks // 4) if fault == "kiosk-offline" else args.kiosks
    fault_args = argparse.Namespace(**{**vars(args), "speedup": speedup})
    base = ctx.start_server()
    codes = [ctx.store.create_enrolment_code(f"{fault}-{n % max(1, count // 10)}") for n in range(count)]
    kiosks = await _join_all(base, codes)
    bench = Bench(fault_args, base)
    bench.backoff = True
    clients = [httpx.AsyncClient(timeout=60) for _ in kiosks]
    tasks = [asyncio.create_task(bench.run_kiosk(c, k)) for c, k in zip(clients, kiosks, strict=True)]
    await asyncio.sleep(args.warmup)
    info: dict[str, Any] = {"fault": fault, "kiosks": count, "speedup": speedup}
    started = time.perf_counter()
    if fault == "server-killed":
        while bench.in_flight["turns"] == 0:  # kill it while batches of turns are being stored
            await asyncio.sleep(0.002)
        info["turn_pushes_in_flight_at_kill"] = bench.in_flight["turns"]
        assert ctx.server is not None
        os.kill(ctx.server.pid, signal.SIGKILL)
        ctx.server.wait()
        await asyncio.sleep(args.outage)
        await asyncio.to_thread(ctx.start_server)  # the same port, as a supervisor would restart it
        info["method"] = "SIGKILL of `kiosk fleet serve`, started again on the same port"
    elif fault == "postgres-restarted":
        assert ctx.cluster_dir is not None
        info["turn_pushes_in_flight_at_stop"] = bench.in_flight["turns"]
        await asyncio.to_thread(_pg_ctl, ctx.cluster_dir, "stop")
        await asyncio.sleep(args.outage)
        await asyncio.to_thread(_pg_ctl, ctx.cluster_dir, "start")
        info["method"] = "pg_ctl stop -m fast, start again on the same port"
    else:
        kiosk = kiosks[0]
        kiosk.blocked = True
        await asyncio.sleep(args.offline_hours * 3600 / speedup)
        info["outbox_at_reconnection"] = len(kiosk.outbox)
        kiosk.blocked = False
        info["method"] = f"one kiosk's requests fail as unreachable for {args.offline_hours:g} simulated hour(s)"
    back = time.perf_counter()
    info["fault_s"] = round(back - started, 2)
    wanted = {(k.kiosk_id, i) for k in kiosks for i in k.sent_ids}
    waited = await _until_stored(ctx.url, wanted, [k.kiosk_id for k in kiosks], args.give_up)
    info["recovery_s"] = round(waited, 2) if waited != float("inf") else None
    info["recovery_simulated_s"] = round(waited * speedup) if waited != float("inf") else None
    await asyncio.sleep(args.warmup)  # traffic goes on after the recovery
    bench.stop = True
    await asyncio.gather(*tasks)
    for _ in range(10):  # the kiosks' outboxes, once more whatever their back-off
        for client, kiosk in zip(clients, kiosks, strict=True):
            await bench.push(client, kiosk, force=True)
        if not any(k.outbox for k in kiosks):
            break
    for client in clients:
        await client.aclose()
    ctx.stop_server()
    delivery = await asyncio.to_thread(_delivery, ctx.url, {k.kiosk_id: set(k.sent_ids) for k in kiosks})
    return {**info, **delivery, "errors": dict(bench.errors)}


MID_DOWNLOAD_OLD = """id,question,answer,alternates,category,language
bank-lost-card,I lost my card,"Call the card line on 0800 111 1111 to block it.",my card is gone|block my card,cards,en
bank-hours,When are you open?,"We are open 9:00 to 17:00 on weekdays.",opening hours|what time do you close,branch,en
"""


def _kill_mid_download(ctx: FaultContext) -> dict[str, Any]:
    """A real kiosk home: `kiosk fleet sync` killed (SIGKILL) at a pause point while applying a large version."""
    from core.db import open_database
    from dialog.turns import TurnLog, TurnRecord
    from tests.fleet_support import clean_env

    args = ctx.args
    kiosk = ctx.home / "kiosk"
    marker = ctx.home / "paused"
    db_env = {"KIOSK_FLEET_DATABASE_URL": ctx.url}

    def cli(*argv: str, env: dict[str, str] | None = None, home: Path = kiosk) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "kiosk", "--home", str(home), *argv],
            capture_output=True,
            text=True,
            env=clean_env(**(env or {})),
            cwd=REPO,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kiosk {' '.join(argv)}: {proc.stderr}{proc.stdout}")
        return proc

    def ask() -> tuple[str, float]:
        start = time.perf_counter()
        answer = json.loads(cli("ask", "I lost my card", "--no-llm", "--json").stdout)
        return answer["answer"], time.perf_counter() - start

    old, new = ctx.home / "old.csv", ctx.home / "new.csv"
    old.write_text(MID_DOWNLOAD_OLD, encoding="utf-8")
    extra = "".join(
        f"bank-extra-{n},What is service number {n}?,Service {n} is at desk {n % 9 + 1}.,,misc,en\n"
        for n in range(args.entries)
    )
    new.write_text(MID_DOWNLOAD_OLD.replace("0800 111 1111", "0800 222 2222") + extra, encoding="utf-8")
    base = ctx.start_server()
    code = ctx.store.create_enrolment_code("mid-download")
    cli("fleet", "join", base, code)
    cli("fleet", "publish", "bank", "--from", str(old), "--site", "mid-download", env=db_env, home=ctx.home)
    cli("fleet", "sync")
    log = TurnLog(open_database(kiosk / "kiosk.db"))
    for n in range(args.kiosk_turns):
        log.record(TurnRecord(kb="bank", text=f"question {n}", answer="an answer", mode="faq", faq_id="bank-hours"))
    log.db.close()
    old_answer, _ = ask()
    cli("fleet", "publish", "bank", "--from", str(new), "--site", "mid-download", env=db_env, home=ctx.home)

    start = time.perf_counter()
    sync = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--home", str(kiosk), "fleet", "sync", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(KIOSK_FLEET_PAUSE_AT=args.kill_at, KIOSK_FLEET_PAUSE_MARKER=str(marker)),
        cwd=REPO,
    )
    while not marker.exists():
        if sync.poll() is not None:
            raise RuntimeError("the sync ended before the pause point")
        time.sleep(0.02)
    reached = time.perf_counter() - start
    sync.send_signal(signal.SIGKILL)
    sync.wait()
    marker.unlink()
    status = json.loads(cli("fleet", "status", "--json").stdout)
    answer_after_kill, _ = ask()
    start = time.perf_counter()
    completed = json.loads(cli("fleet", "sync", "--json").stdout)
    sync_s = time.perf_counter() - start
    new_answer, ask_s = ask()
    cli("fleet", "sync")  # ships the last question
    db = open_database(kiosk / "kiosk.db")
    local = {int(r[0]) for r in db.execute("SELECT id FROM turns").fetchall()}
    db.close()
    ctx.stop_server()
    delivery = _delivery(ctx.url, {status["kiosk_id"]: local})
    return {
        "fault": "kiosk-killed-mid-download",
        "method": f"SIGKILL of `kiosk fleet sync` at pause point {args.kill_at!r} ({args.entries + 2} entries)",
        "pause_reached_s": round(reached, 2),
        "versions_after_kill": status["kb_versions"],
        "answers_from_old_after_kill": "0800 111 1111" in answer_after_kill and "0800 111 1111" in old_answer,
        "next_sync_applied": completed["applied"],
        "answers_from_new_after_sync": "0800 222 2222" in new_answer,
        "recovery_s": round(sync_s, 2),
        "first_new_answer_s": round(ask_s, 2),
        **delivery,
    }


def run_faults(args: argparse.Namespace) -> None:
    from fleet.store import FleetStore

    cluster_dir = None
    url = args.database_url
    if url is None:
        url, cluster_dir = _start_cluster()
    store = FleetStore(url, max_size=2)
    ctx = FaultContext(args, url, cluster_dir, store)
    try:
        for fault in args.only.split(",") if args.only else FAULTS:
            if fault not in FAULTS:
                sys.exit(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
            if fault == "postgres-restarted" and cluster_dir is None:
                print(json.dumps({"fault": fault, "skipped": "needs the bench's own cluster (no --database-url)"}))
                continue
            if fault == "kiosk-killed-mid-download":
                result = _kill_mid_download(ctx)
            else:
                result = asyncio.run(_traffic_fault(ctx, fault))
            print(json.dumps({**result, "date": datetime.now(UTC).date().isoformat(), "cpus": os.cpu_count()}))
            sys.stdout.flush()
    finally:
        ctx.stop_server()
        store.close()
        shutil.rmtree(ctx.home, ignore_errors=True)
        if cluster_dir is not None:
            subprocess.run(["bash", str(REPO / "scripts/fleet-db.sh"), "stop", str(cluster_dir)], capture_output=True)
            shutil.rmtree(cluster_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiosks", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="Wall-clock seconds of load.")
    parser.add_argument("--speedup", type=float, default=10.0, help="Time compression (10: 10 s take 1 s).")
    parser.add_argument("--resend", type=float, default=0.05, help="Share of pushes sent twice.")
    parser.add_argument("--database-url", default=None, help="Default: a throwaway cluster (scripts/fleet-db.sh).")
    faults = parser.add_argument_group("faults (--faults: one JSON object per fault, one per line)")
    faults.add_argument("--faults", action="store_true", help="Run the fault scenarios instead of the load.")
    faults.add_argument("--only", default="", help=f"Comma-separated subset of: {', '.join(FAULTS)}.")
    faults.add_argument("--warmup", type=float, default=3.0, help="Wall seconds of traffic before and after a fault.")
    faults.add_argument("--outage", type=float, default=2.0, help="Wall seconds the server or PostgreSQL stays down.")
    faults.add_argument("--offline-hours", type=float, default=1.0, help="Simulated hours one kiosk is cut off.")
    faults.add_argument("--offline-speedup", type=float, default=120.0, help="Time compression of that fault.")
    faults.add_argument("--give-up", type=float, default=300.0, help="Wall seconds to wait for a recovery.")
    faults.add_argument("--entries", type=int, default=1000, help="Extra entries of the version killed mid-apply.")
    faults.add_argument("--kiosk-turns", type=int, default=100, help="Turns waiting on the kiosk killed mid-apply.")
    faults.add_argument("--kill-at", default="applying", choices=("downloaded", "applying"))
    args = parser.parse_args()
    if args.faults:
        run_faults(args)
        return

    from fleet.store import FleetStore
    from knowledge.io import parse_file

    cluster_dir = None
    url = args.database_url
    if url is None:
        url, cluster_dir = _start_cluster()
    home = Path(tempfile.mkdtemp(prefix="kiosk-fleet-bench-home-"))
    store = FleetStore(url, max_size=2)
    server, base = _start_server(url, home)
    try:
        entries = [e.content() for e in parse_file(REPO / "knowledge/demo/bank.jsonl").entries]
        store.publish("bank", entries, site=None, source="bench")
        with store.tx() as conn:
            before_turns = conn.execute("SELECT COUNT(*) AS n FROM turns").fetchone()["n"]
        sites = max(1, args.kiosks // 10)
        codes = [store.create_enrolment_code(f"site-{n % sites}") for n in range(args.kiosks)]
        kiosks = asyncio.run(_join_all(base, codes))
        with store.tx() as conn:
            size_before = conn.execute("SELECT pg_database_size(current_database()) AS s").fetchone()["s"]
        bench = Bench(args, base)
        server_cpu, pg_cpu, start = (
            _cpu_seconds(server.pid),
            _postgres_cpu(cluster_dir and cluster_dir / "data"),
            time.perf_counter(),
        )
        client_cpu = time.process_time()
        publish = asyncio.run(_drive(bench, kiosks, store, entries))
        wall = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu
        server_cpu = _cpu_seconds(server.pid) - server_cpu
        pg_after = _postgres_cpu(cluster_dir and cluster_dir / "data")
        with store.tx() as conn:
            conn.execute("CHECKPOINT")
            size_after = conn.execute("SELECT pg_database_size(current_database()) AS s").fetchone()["s"]
            rows = conn.execute("SELECT kiosk_id, turn_id FROM turns").fetchall()
        stored: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            stored[row["kiosk_id"]].append(row["turn_id"])
        lost = sum(len(k.sent_ids - set(stored[k.kiosk_id])) for k in kiosks)
        duplicated = sum(len(ids) - len(set(ids)) for ids in stored.values())
        simulated_s = wall * args.speedup
        requests = {name: len(v) for name, v in bench.latency.items()}
        all_latency = [x for v in bench.latency.values() for x in v]
        report = {
            "kiosks": args.kiosks,
            "sites": sites,
            "speedup": args.speedup,
            "wall_s": round(wall, 1),
            "simulated_s": round(simulated_s),
            "requests": requests,
            "requests_per_s": round(sum(requests.values()) / wall, 1),
            "p50_ms": _pct(all_latency, 0.50),
            "p95_ms": _pct(all_latency, 0.95),
            "max_ms": _pct(all_latency, 1.0),
            "p95_ms_by_endpoint": {name: _pct(v, 0.95) for name, v in bench.latency.items()},
            "errors": dict(bench.errors),
            "server_cpu_percent_of_one_core": round(100 * server_cpu / wall, 1),
            "postgres_cpu_percent_of_one_core": round(100 * (pg_after - pg_cpu) / wall, 1)
            if pg_after is not None and pg_cpu is not None
            else None,
            "load_generator_cpu_percent_of_one_core": round(100 * client_cpu / wall, 1),
            "turns_sent": sum(len(k.sent_ids) for k in kiosks),
            "turns_stored": len(rows) - before_turns,
            "turns_lost": lost,
            "turns_duplicated": duplicated,
            "db_bytes_per_turn_incl_heartbeats": round((size_after - size_before) / max(1, len(rows) - before_turns)),
            "db_growth_mb_per_simulated_day": round((size_after - size_before) / simulated_s * 86400 / 1e6, 1),
            "publish_to_all": publish,
            "cpus": os.cpu_count(),
        }
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)
        store.close()
        shutil.rmtree(home, ignore_errors=True)
        if cluster_dir is not None:
            subprocess.run(["bash", str(REPO / "scripts/fleet-db.sh"), "stop", str(cluster_dir)], capture_output=True)
            shutil.rmtree(cluster_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
