"""Helpers shared by the admin app tests: an app on a temporary kiosk home, signed-in clients per role."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
ROLES = ("viewer", "editor", "admin")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class Signed:
    client: TestClient
    csrf: str
    name: str

    def post(self, path: str, data: dict | None = None, **kw):
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kw)


def login(client: TestClient, name: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": csrf_from(page.text), "next": "/"},
        follow_redirects=False,
    )


def signed_in(app, name: str, *, client_addr: tuple[str, int] = ("testclient", 50000)) -> Signed:
    client = TestClient(app, client=client_addr)
    response = login(client, name)
    assert response.status_code == 303, response.text[:500]
    return Signed(client, csrf_from(client.get("/").text), name)


def fast_hashing() -> None:
    """Cheaper argon2id parameters for the test run only (the product keeps the library's defaults)."""
    from argon2 import PasswordHasher

    from admin_web import accounts

    accounts._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_app(home_dir: Path, *, settings_env: dict | None = None):
    from admin_web.app import create_app
    from core.home import KioskHome
    from core.settings import load_settings

    fast_hashing()
    home = KioskHome(home_dir).ensure()
    settings = load_settings(home.settings_file, env=settings_env or {})
    app = create_app(settings, home, purge=False)
    accounts = app.state.admin.accounts
    for role in ROLES:
        accounts.create_user(role, PASSWORD, role)
    return app


def add_turn(
    db, *, ts: str, text: str, mode: str = "faq", kb: str = "bank", answer: str = "An answer.", **extra
) -> int:
    row = {
        "ts": ts,
        "kb": kb,
        "session_id": extra.get("session_id", "s1"),
        "source": "voice",
        "text": text,
        "answer": answer,
        "mode": mode,
        "faq_id": extra.get("faq_id"),
        "score": extra.get("score", 0.4),
        "candidates": json.dumps(extra.get("candidates", [])),
        "timings": json.dumps(extra.get("timings", {"match": 12.0, "total": 40.0})),
        "reason": "",
    }
    cur = db.execute(f"INSERT INTO turns ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    db.conn.commit()
    return int(cur.lastrowid)
