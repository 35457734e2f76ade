"""Admin app hardening: edit conflicts, settings that are not numbers, huge page numbers, shutdown, TLS."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import REPO
from tests.test_admin_support import PASSWORD, csrf_from, login, make_app, signed_in

HANG_GUARD_S = 20.0  # only so that a stuck server fails the test instead of hanging it
_REVISION = re.compile(r'name="revision" value="(\d+)"')


@pytest.fixture
def app(tmp_path: Path):
    app = make_app(tmp_path / "home")
    app.state.admin.backend.kb_name("bank")
    return app


# -- two operators, one entry -----------------------------------------------------------
def _edit_form(signed, faq_id: str) -> dict:
    page = signed.client.get(f"/faqs/{faq_id}?kb=bank")
    assert page.status_code == 200
    match = _REVISION.search(page.text)
    assert match, "the edit form carries the entry's revision"
    return {"revision": match.group(1)}


def test_second_save_of_the_same_entry_is_a_conflict_not_an_overwrite(app) -> None:
    store = app.state.admin.store
    entry = store.list("bank", limit=1)[0]
    ann, bob = signed_in(app, "editor"), signed_in(app, "admin")
    base = {"question": entry.question, "category": entry.category, "language": entry.language, "enabled": "1"}
    ann_form, bob_form = _edit_form(ann, entry.id), _edit_form(bob, entry.id)  # both open the form
    first = ann.post(f"/faqs/{entry.id}?kb=bank", {**base, **ann_form, "answer": "Ann's answer."})
    assert first.status_code == 303
    second = bob.post(f"/faqs/{entry.id}?kb=bank", {**base, **bob_form, "answer": "Bob's answer."})
    assert second.status_code == 409
    assert "Not saved" in second.text and "editor changed this entry" in second.text
    assert "Bob&#39;s answer." in second.text  # Bob's text is kept in the form, not lost
    assert store.get("bank", entry.id).answer == "Ann's answer."
    # Bob saw the conflict; saving again from that page (it carries the new revision) replaces Ann's version
    retry = bob.post(f"/faqs/{entry.id}?kb=bank", {**base, **_edit_form(bob, entry.id), "answer": "Bob's answer."})
    assert retry.status_code == 303
    assert store.get("bank", entry.id).answer == "Bob's answer."
    assert [r["action"] for r in store.revisions("bank", entry.id)][-2:] == ["update", "update"]


# -- settings that are not numbers --------------------------------------------------------
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_settings_form_refuses_nan_and_infinity(app, value: str) -> None:
    admin = signed_in(app, "admin")
    response = admin.post("/settings", {"dialog.clarify_threshold": value})
    assert response.status_code == 400
    assert "dialog.clarify_threshold must be a finite number" in response.text
    assert not app.state.admin.home.settings_file.exists()


# -- page numbers past SQLite's integers ---------------------------------------------------
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/conversations?page=9223372036854775807", {200}),
        ("/conversations?page=99999999999999999999", {200}),
        ("/conversations?page=-99999999999999999999", {200}),
        ("/conversations/99999999999999999999", {404}),
        ("/conversations/9223372036854775808", {404}),
        ("/conversations/-99999999999999999999", {404}),
        ("/audit?page=99999999999999999999", {200}),
        ("/audit?page=9223372036854775807", {200}),
        ("/faqs?page=99999999999999999999", {200}),
    ],
)
def test_huge_page_numbers_are_clamped_or_not_found(app, path: str, allowed: set[int]) -> None:
    admin = signed_in(app, "admin")
    response = admin.client.get(path, follow_redirects=False)
    assert response.status_code in allowed, (path, response.status_code)


def test_audit_page_past_the_end_shows_the_last_page(app) -> None:
    admin = signed_in(app, "admin")
    html = admin.client.get("/audit?page=99999999999999999999").text
    assert "login" in html  # the sign-ins above are listed, not an empty page


# -- the `kiosk admin` server process -------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}


def _wait_until_up(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 120  # start-up imports on a busy machine; a hang guard only
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(url + "/login", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("kiosk admin did not start")


def test_sigterm_stops_kiosk_admin_promptly_even_mid_request(tmp_path: Path) -> None:
    home, port = tmp_path / "home", _free_port()
    created = subprocess.run(
        [sys.executable, "-m", "kiosk", "--home", str(home), "admin", "create-user", "ann", "--role", "admin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=300,
    )
    assert created.returncode == 0, created.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "--home", str(home), "admin", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, url)
        client = httpx.Client(base_url=url, timeout=HANG_GUARD_S)
        page = client.get("/login")
        client.post(
            "/login", data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_from(page.text), "next": "/"}
        )
        csrf = csrf_from(client.get("/").text)
        cookies = dict(client.cookies)
        answers: list[object] = []

        def save(i: int) -> None:
            try:
                r = httpx.post(
                    url + "/settings",
                    data={"csrf_token": csrf, "tts.speed": f"1.{i}"},
                    cookies=cookies,
                    timeout=HANG_GUARD_S,
                )
                answers.append(r.status_code)
            except httpx.HTTPError as exc:
                answers.append(type(exc).__name__)

        savers = [threading.Thread(target=save, args=(i,), daemon=True) for i in range(8)]
        for t in savers:
            t.start()
        for t in savers:
            t.join(timeout=HANG_GUARD_S)
        assert answers == [303] * 8, answers  # eight simultaneous saves: all answered
        # a client that sent half a request and went quiet must not keep the server alive
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nusername=")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=HANG_GUARD_S)
        stalled.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None


# -- TLS ----------------------------------------------------------------------------------
def _serve(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`kiosk admin ...` with uvicorn replaced by a stub, so a refused or accepted start shows at once."""
    code = (
        "import sys, uvicorn\n"
        "uvicorn.run = lambda app, **kw: print('SERVING', kw['host'], kw.get('ssl_certfile'))\n"
        "from kiosk.cli import main\n"
        "sys.argv = ['kiosk'] + sys.argv[1:]\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "--home", str(home), "admin", *args],
        capture_output=True,
        text=True,
        env={**_env(), **(env or {})},
        cwd=REPO,
        timeout=300,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "kiosk.local"])
def test_lan_host_without_tls_is_refused(tmp_path: Path, host: str) -> None:
    result = _serve(tmp_path / "home", "--host", host)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "SERVING" not in result.stdout
    assert "admin-insecure" in result.stderr and "clear text" in result.stderr


def test_insecure_lan_flag_serves_with_a_loud_warning(tmp_path: Path) -> None:
    result = _serve(tmp_path / "home", "--host", "0.0.0.0", "--insecure-lan")
    assert result.returncode == 0, result.stderr
    assert "SERVING 0.0.0.0" in result.stdout
    assert "WARNING" in result.stderr and "WITHOUT TLS" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_host_needs_no_tls(tmp_path: Path, host: str) -> None:
    result = _serve(tmp_path / "home", "--host", host)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr


def test_lan_host_with_tls_is_served(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("stub"), key.write_text("stub")
    env = {"KIOSK_ADMIN__TLS_CERT": str(cert), "KIOSK_ADMIN__TLS_KEY": str(key)}
    result = _serve(tmp_path / "home", "--host", "0.0.0.0", env=env)
    assert result.returncode == 0, result.stderr
    assert f"SERVING 0.0.0.0 {cert}" in result.stdout and "WARNING" not in result.stderr


def test_session_cookie_is_secure_with_tls(tmp_path: Path) -> None:
    env = {"KIOSK_ADMIN__TLS_CERT": "/etc/kiosk/cert.pem", "KIOSK_ADMIN__TLS_KEY": "/etc/kiosk/key.pem"}
    app = make_app(tmp_path / "home", settings_env=env)
    client = TestClient(app, base_url="https://testserver")
    response = login(client, "admin")
    assert response.status_code == 303
    cookies = response.headers.get_list("set-cookie")
    session = [c for c in cookies if c.startswith("kiosk_admin_session=")]
    assert session and "Secure" in session[0] and "HttpOnly" in session[0]
    assert "max-age=31536000" in response.headers["strict-transport-security"]
    page = client.get("/")  # the Secure cookie is sent back over https
    assert page.status_code == 200 and csrf_from(page.text)


def test_session_cookie_is_not_secure_on_plain_http(app) -> None:
    response = login(TestClient(app), "admin")
    session = [c for c in response.headers.get_list("set-cookie") if c.startswith("kiosk_admin_session=")]
    assert session and "Secure" not in session[0]
