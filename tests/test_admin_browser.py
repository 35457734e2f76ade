"""The admin app in a real Chromium (Playwright) against uvicorn on 127.0.0.1: the operator's main journeys."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.test_admin_support import PASSWORD, add_turn, make_app

pytestmark = [pytest.mark.browser, pytest.mark.models, pytest.mark.network]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path("/tmp")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    import uvicorn

    app = make_app(tmp_path_factory.mktemp("admin-browser") / "home")
    services = app.state.admin.backend
    services.kb_name("bank")
    db = services.store.db
    now = datetime.now(UTC)
    for i, (text, mode) in enumerate(
        [
            ("do you sell stamps", "fallback"),
            ("do you sell postage stamps", "fallback"),
            ("what time do you open", "faq"),
            ("is there a toilet", "fallback"),
            ("can I change euros", "clarify"),
        ]
        * 3
    ):
        add_turn(
            db,
            ts=_iso(now - timedelta(hours=i * 5)),
            text=text,
            mode=mode,
            session_id=f"s{i % 4}",
            timings={"asr": 180.0 + i, "match": 20.0 + i, "total": 300.0 + 10 * i},
        )
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser, *, width: int = 1366, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return context, page, problems


def _sign_in(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_operator_journey(server, browser, tmp_path: Path) -> None:
    base, app = server
    context, page, problems = _page(browser)
    page.goto(f"{base}/login")
    page.screenshot(path=str(SHOTS / "admin-login.png"))
    _sign_in(page, base, "editor")
    page.screenshot(path=str(SHOTS / "admin-dashboard.png"), full_page=True)

    # Before: the question is not answered by a bike entry.
    page.goto(f"{base}/try?q=can+I+bring+my+dog+inside")
    page.wait_for_selector("#try-result")
    before = page.inner_text("[data-testid=answer]")
    assert "leash" not in before.lower()

    # Create an entry.
    page.goto(f"{base}/faqs/new")
    page.fill("input[name=question]", "Can I bring my dog into the branch?")
    page.fill("textarea[name=answer]", "Guide dogs and small dogs on a leash are welcome.")
    page.fill("textarea[name=alternates]", "are pets allowed\ncan my dog come in")
    page.fill("input[name=category]", "access")
    page.click("#entry-form button[type=submit]")
    page.wait_for_selector(".flash")
    assert "Entry created" in page.inner_text(".flash")
    page.screenshot(path=str(SHOTS / "admin-faq-edit.png"), full_page=True)

    # After: "try a question" answers with it.
    page.goto(f"{base}/try?q=can+I+bring+my+dog+inside")
    page.wait_for_selector("#try-result")
    assert "small dogs on a leash are welcome" in page.inner_text("[data-testid=answer]")
    assert "Can I bring my dog into the branch?" in page.inner_text("[data-testid=matched]")
    page.screenshot(path=str(SHOTS / "admin-try.png"), full_page=True)

    # Import a file: preview, then commit.
    csv_file = tmp_path / "extra.csv"
    csv_file.write_text(
        "id,question,answer,alternates,category,language\n"
        "stamps,Do you sell stamps?,No; the post office is across the street.,postage stamps,services,en\n",
        encoding="utf-8",
    )
    page.goto(f"{base}/import")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("form[enctype] button[type=submit]")
    page.wait_for_selector("text=1 entries")
    page.screenshot(path=str(SHOTS / "admin-import-preview.png"), full_page=True)
    page.click("text=Import 1 entries into bank")
    page.wait_for_selector(".flash")
    assert "Import finished" in page.inner_text(".flash")
    assert app.state.admin.store.get("bank", "stamps") is not None
    page.screenshot(path=str(SHOTS / "admin-faqs.png"), full_page=True)

    # A conversation.
    page.goto(f"{base}/conversations")
    page.click("table.data tbody tr:first-child td:nth-child(2) a")
    page.wait_for_selector("[data-testid=transcript]")
    assert page.inner_text("[data-testid=transcript]")
    assert "Stage timings" in page.content()
    page.screenshot(path=str(SHOTS / "admin-conversation.png"), full_page=True)

    # Promote an unanswered question to an alternate of an entry.
    page.goto(f"{base}/unanswered")
    group = page.locator("[data-testid=group]", has_text="is there a toilet").first
    group.locator("select[name=faq_id]").select_option("stamps")
    page.screenshot(path=str(SHOTS / "admin-unanswered.png"), full_page=True)
    group.locator("button", has_text="Add as alternate").click()
    page.wait_for_selector(".flash")
    assert "alternate" in page.inner_text(".flash").lower()
    assert "is there a toilet" in app.state.admin.store.get("bank", "stamps").alternates

    page.goto(f"{base}/analytics")
    page.screenshot(path=str(SHOTS / "admin-analytics.png"), full_page=True)
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    context.close()


def test_admin_pages_and_tablet_layout(server, browser) -> None:
    base, _app = server
    context, page, problems = _page(browser, width=820, height=1180)
    _sign_in(page, base, "admin")
    page.goto(f"{base}/faqs")
    page.screenshot(path=str(SHOTS / "admin-tablet-faqs.png"))
    assert not page.is_visible("#sidebar a[href='/users']")  # menu folded away on a tablet
    page.click("[data-nav-toggle]")
    page.wait_for_selector("#sidebar.open")
    page.screenshot(path=str(SHOTS / "admin-tablet-menu.png"))
    page.goto(f"{base}/settings")
    page.fill("input[name='tts.speed']", "7")
    page.click("form.settings-form button[type=submit]")
    page.wait_for_selector(".field-error")
    assert "above the maximum" in page.inner_text(".field-error")
    page.screenshot(path=str(SHOTS / "admin-settings-error.png"), full_page=True)
    page.goto(f"{base}/health")
    page.screenshot(path=str(SHOTS / "admin-health.png"), full_page=True)
    # sign out: the session is gone
    page.click("text=Sign out")
    page.wait_for_url(f"{base}/login**")
    page.goto(f"{base}/users")
    assert "/login" in page.url
    assert not [p for p in problems if "Content Security Policy" in p], problems
    context.close()
