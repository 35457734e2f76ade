"""The admin app under concurrent operators: a real uvicorn server, 20 clients at once, no request left unanswered.

Regression: the CSRF check used to take a threading lock on the event-loop thread while another
request held it across an ``await``; eight simultaneous settings saves froze the process for good.
Time limits here are hang guards only; the assertions are on outcomes.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.test_admin_support import PASSWORD, csrf_from, make_app

CLIENTS = 20
ROUNDS = 6  # operations per client, each one to three requests
HANG_GUARD_S = 60.0  # per request: only so that a frozen server fails the test instead of hanging it
KB = "bank"
_REVISION = re.compile(r'name="revision" value="(\d+)"')


class LiveServer:
    """The app under uvicorn on 127.0.0.1 (a free port), in a thread of this process."""

    def __init__(self, app) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            limit_concurrency=64,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + HANG_GUARD_S
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=HANG_GUARD_S)
        self.sock.close()


def _login(client: httpx.Client, name: str) -> str:
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf_from(page.text), "next": "/"}
    )
    assert response.status_code == 303, response.text[:300]
    return csrf_from(client.get("/").text)


def _import_csv(tag: str) -> bytes:
    rows = [
        "id,question,answer,alternates,category,language",
        f"imp-{tag},Is there a quiet room {tag}?,Yes: ask at the desk ({tag}).,quiet room {tag},Services,en",
    ]
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def app(tmp_path: Path):
    app = make_app(tmp_path / "home")
    app.state.admin.backend.kb_name(KB)  # the bank demo
    return app


def test_twenty_concurrent_operators_all_answered_and_consistent(app) -> None:
    admin = app.state.admin
    edit_ids = [e.id for e in admin.store.list(KB, limit=3)]
    speeds = ["0.9", "1.0", "1.1", "1.2"]
    outcomes: list[tuple[str, int]] = []
    saved_edits: list[tuple[str, str]] = []  # (entry id, answer) of every edit answered 303
    conflicts: list[str] = []
    saved_speeds: list[str] = []
    imported: list[str] = []
    failures: list[str] = []
    record = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def operator(n: int) -> None:
        name = "admin" if n % 2 == 0 else "editor"
        with httpx.Client(base_url=server.url, timeout=HANG_GUARD_S, follow_redirects=False) as client:
            try:
                csrf = _login(client, name)
                start.wait(timeout=HANG_GUARD_S)  # every client starts its burst at the same moment
                for i in range(ROUNDS):
                    op = (n + i) % 5
                    if op == 0:
                        r = client.get("/faqs", params={"kb": KB, "q": "card"})
                        kind = "read-faqs"
                    elif op == 1:
                        r = client.get("/conversations", params={"page": 2})
                        kind = "read-conversations"
                    elif op == 2 and name == "admin":
                        speed = speeds[(n + i) % len(speeds)]
                        r = client.post("/settings", data={"csrf_token": csrf, "tts.speed": speed})
                        kind = "settings"
                        if r.status_code == 303:
                            with record:
                                saved_speeds.append(speed)
                    elif op == 3:
                        faq_id = edit_ids[(n + i) % len(edit_ids)]
                        page = client.get(f"/faqs/{faq_id}", params={"kb": KB})
                        revision = _REVISION.search(page.text)
                        assert page.status_code == 200 and revision, page.status_code
                        entry = admin.store.get(KB, faq_id)
                        answer = f"Edited by operator {n} in round {i}."
                        r = client.post(
                            f"/faqs/{faq_id}?kb={KB}",
                            data={
                                "csrf_token": csrf,
                                "question": entry.question,
                                "answer": answer,
                                "alternates": "\n".join(entry.alternates),
                                "category": entry.category,
                                "language": entry.language,
                                "enabled": "1",
                                "revision": revision.group(1),
                            },
                        )
                        kind = "faq-edit"
                        with record:
                            if r.status_code == 303:
                                saved_edits.append((faq_id, answer))
                            elif r.status_code == 409:
                                conflicts.append(faq_id)
                    else:
                        tag = f"{n}-{i}"
                        preview = client.post(
                            f"/import?kb={KB}",
                            data={"csrf_token": csrf, "fmt": "csv"},
                            files={"file": (f"extra-{tag}.csv", _import_csv(tag), "text/csv")},
                        )
                        assert preview.status_code == 200, preview.text[:300]
                        token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)
                        r = client.post("/import/commit", data={"csrf_token": csrf, "token": token})
                        kind = "import"
                        if r.status_code == 303:
                            with record:
                                imported.append(f"imp-{tag}")
                    with record:
                        outcomes.append((kind, r.status_code))
            except Exception as exc:  # a time-out here is the bug
                with record:
                    failures.append(f"client {n}: {type(exc).__name__}: {exc}")

    with LiveServer(app) as server:
        threads = [threading.Thread(target=operator, args=(n,), daemon=True) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=HANG_GUARD_S * (ROUNDS + 3))
        assert not any(t.is_alive() for t in threads), "a client never got its answers"
        assert not failures, failures[:5]
        # the server still answers afterwards
        after = httpx.get(server.url + "/login", timeout=HANG_GUARD_S)
        assert after.status_code == 200

    statuses = Counter(outcomes)
    assert sum(statuses.values()) == CLIENTS * ROUNDS
    allowed = {"faq-edit": {303, 409}}
    for (kind, status), _count in statuses.items():
        assert status in allowed.get(kind, {200, 303}), (kind, status, statuses)
    assert saved_edits and saved_speeds and imported

    db = admin.db
    # every edit that was answered 303 is a revision of its entry, and nothing else was written by the edits
    for faq_id in edit_ids:
        rows = db.execute(
            "SELECT revision, data, changed_by FROM faq_revisions WHERE kb = ? AND faq_id = ? ORDER BY revision",
            [KB, faq_id],
        ).fetchall()
        numbers = [r[0] for r in rows]
        assert numbers == list(range(1, len(numbers) + 1)), numbers  # no revision lost or duplicated
        current = db.execute("SELECT revision FROM faqs WHERE kb = ? AND id = ?", [KB, faq_id]).fetchone()[0]
        assert current == numbers[-1]
        answers = [json.loads(r[1])["answer"] for r in rows if json.loads(r[1])["answer"].startswith("Edited by")]
        expected = [a for i, a in saved_edits if i == faq_id]
        assert sorted(answers) == sorted(expected)
    audited = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'faq-update'").fetchone()[0]
    assert audited == len(saved_edits)
    # every committed import is there, once
    for faq_id in imported:
        assert admin.store.get(KB, faq_id) is not None, faq_id
    # settings.toml and the overrides table agree on the last save
    from core.settings import load_settings

    final = load_settings(admin.home.settings_file, env={}).tts.speed
    override = db.execute("SELECT value FROM settings_overrides WHERE section = 'tts' AND key = 'speed'").fetchone()
    assert final in {float(s) for s in saved_speeds}
    assert override is not None and float(override[0]) == final


def test_no_lock_is_taken_in_async_code_of_the_admin_app() -> None:
    """The freeze came from a threading lock taken on the event-loop thread: async code takes none, ever."""
    import ast

    root = Path(__file__).resolve().parent.parent / "admin_web"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.With | ast.AsyncWith):
                    for item in node.items:
                        text = ast.unparse(item.context_expr).lower()
                        if "lock" in text or "transaction" in text:
                            offenders.append(f"{path.name}:{node.lineno} {func.name}: with {text}")
                elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith((".acquire", ".join", ".wait")):
                    offenders.append(f"{path.name}:{node.lineno} {func.name}: {ast.unparse(node.func)}()")
    assert not offenders, offenders
