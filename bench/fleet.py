"""Fleet server load: N simulated kiosks speaking the real HTTP protocol to one ``kiosk fleet serve`` process.

Each simulated kiosk joins with its own enrolment code, then heartbeats every 10 s and logs a turn every
30 s (both divided by ``--speedup``), pushing its outbox like the real agent (a turn leaves the outbox only
once acknowledged; ``--resend`` of the pushes are sent twice, as if the acknowledgement had been lost).
Halfway through, a knowledge-base version is published to every site; each kiosk learns it from its next
heartbeat, downloads it and reports it. Prints one JSON object: request p50/p95/max per endpoint, the
server process's CPU, PostgreSQL's CPU, database growth per simulated day, turns lost and duplicated
(both must be 0) and the time until every kiosk reported the new version.

    .venv/bin/python -m bench.fleet [--kiosks 50] [--duration 60] [--speedup 10] [--database-url URL]

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


class Bench:
    def __init__(self, args: argparse.Namespace, base: str) -> None:
        self.args, self.base = args, base
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.published: tuple[int, float] | None = None
        self.stop = False

    async def call(self, client: Any, kiosk: SimKiosk, name: str, method: str, path: str, body: Any = None) -> Any:
        start = time.perf_counter()
        try:
            response = await client.request(
                method, self.base + path, json=body, headers={"Authorization": f"Bearer {kiosk.credential}"}
            )
        except Exception:
            self.errors[f"{name}:network"] += 1
            return None
        self.latency[name].append(time.perf_counter() - start)
        if response.status_code != 200:
            self.errors[f"{name}:{response.status_code}"] += 1
            return None
        return response.json()

    async def heartbeat(self, client: Any, kiosk: SimKiosk) -> None:
        body = {"state": "idle", "kb_versions": kiosk.kb_versions, "software_version": "bench", "health": {}}
        answer = await self.call(client, kiosk, "heartbeat", "POST", "/api/v1/heartbeat", body)
        if answer is None:
            return
        for kb, wanted in answer["target"].items():
            if wanted["version"] > kiosk.kb_versions.get(kb, 0):
                payload = await self.call(client, kiosk, "kb", "GET", f"/api/v1/kb/{kb}/{wanted['version']}")
                if payload is not None and payload["sha256"] == wanted["sha256"]:
                    kiosk.kb_versions[kb] = wanted["version"]
                    body["kb_versions"] = kiosk.kb_versions
                    if await self.call(client, kiosk, "heartbeat", "POST", "/api/v1/heartbeat", body) is not None:
                        kiosk.reported_at[wanted["version"]] = time.perf_counter()

    async def push(self, client: Any, kiosk: SimKiosk) -> None:
        if not kiosk.outbox:
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
                await self.heartbeat(client, kiosk)
            await asyncio.sleep(max(0.0, min(next_beat, next_turn) - time.perf_counter()))
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
    await asyncio.sleep(bench.args.duration / 2)
    waited = 0.0
    while waited < 60 and not all(version in k.reported_at for k in kiosks):
        await asyncio.sleep(0.5)
        waited += 0.5
    bench.stop = True
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    reported = [k.reported_at[version] - published_at for k in kiosks if version in k.reported_at]
    return {
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


def _start_server(url: str, home: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    from tests.fleet_support import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env["KIOSK_FLEET_DATABASE_URL"] = url
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--home", str(home), "fleet", "serve", "--port", str(port)], env=env, cwd=REPO
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiosks", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="Wall-clock seconds of load.")
    parser.add_argument("--speedup", type=float, default=10.0, help="Time compression (10: 10 s take 1 s).")
    parser.add_argument("--resend", type=float, default=0.05, help="Share of pushes sent twice.")
    parser.add_argument("--database-url", default=None, help="Default: a throwaway cluster (scripts/fleet-db.sh).")
    args = parser.parse_args()

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
