"""Helpers of the fleet tests: a real PostgreSQL (scripts/fleet-db.sh), fresh databases, server processes."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "fleet-db.sh"


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a throwaway cluster (under /tmp, reachable by the unprivileged user when run as root); its URL."""
    directory = Path(tempfile.mkdtemp(prefix="kiosk-fleet-pg-", dir="/tmp"))
    try:
        proc = subprocess.run(["bash", str(SCRIPT), "start", str(directory)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        url = proc.stdout.strip().splitlines()[-1]
        try:
            yield url
        finally:
            subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, text=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def fresh_database(cluster_url: str) -> Iterator[str]:
    """A new, empty database in the cluster for one test; dropped afterwards."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(cluster_url, name)
    finally:
        with psycopg.connect(cluster_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env.update(extra)
    return env


@contextmanager
def fleet_server(database_url: str, home: Path) -> Iterator[str]:
    """``kiosk fleet serve`` as its own process on a free loopback port; its base URL once it answers."""
    import httpx

    port = free_port()
    log = (home / f"serve-{port}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--home", str(home), "fleet", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(KIOSK_FLEET_DATABASE_URL=database_url),
        cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError((home / f"serve-{port}.log").read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("the fleet server did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def serving(app) -> Iterator[str]:
    """An ASGI app on a real loopback port (uvicorn in a thread), as a kiosk reaches it; its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
