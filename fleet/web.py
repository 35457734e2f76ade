"""The fleet's operator pages: sign-in, kiosks at a glance with the alert list, conversations across kiosks.

Knowledge (drafts with their documents, import, try a question, publish, roll back), unanswered questions,
analytics, settings, avatar packs and groups are routers of their own (:mod:`fleet.pages_knowledge`,
:mod:`fleet.pages_entries`, :mod:`fleet.pages_reports`, :mod:`fleet.pages_publish`) mounted here, sharing
:mod:`fleet.webkit`.

Signed in like the admin app: argon2id passwords (:mod:`fleet.users`), a random session token in an
HttpOnly, SameSite=Strict cookie whose SHA-256 is kept in PostgreSQL (``web_sessions``, so any server
process knows it), a CSRF token for every form (a pre-session cookie on the sign-in form), sign-in
throttled per user name, and the admin app's security headers. A user of one site sees only that site.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from admin_web.security import PRE_CSRF_COOKIE, new_token, tokens_match
from fleet.draft_matcher import DraftMatcher
from fleet.drafts import DraftStore
from fleet.protocol import secret_hash
from fleet.store import FleetStore
from fleet.users import FleetUsers
from fleet.webkit import (
    SESSION_COOKIE,
    FleetWeb,
    LoginRequiredError,
    PageError,
    Session,
    current_session,
    login_required,
    make_templates,
    page_error,
    to_login,
)

_LOGGER = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "admin_web" / "static"
LOGIN_FREE_FAILURES = 5
LOGIN_WINDOW = timedelta(minutes=15)
DOWN_AFTER_MIN = 5
TURNS_PAGE = 100


def _failures(store: FleetStore, name: str) -> int:
    with store.tx() as conn:
        row = conn.execute(
            "SELECT COUNT(*) AS n FROM login_failures WHERE lower(username) = lower(%s) AND ts > now() - %s",
            [name, LOGIN_WINDOW],
        ).fetchone()
    return int(row["n"])


def _sign_in(store: FleetStore, users: FleetUsers, name: str, password: str, ip: str) -> tuple[str, str] | None:
    """(session token, csrf token), or None after a wrong password (recorded for throttling)."""
    user = users.verify(name, password)
    with store.tx() as conn:
        if user is None:
            conn.execute("INSERT INTO login_failures (username, ip) VALUES (%s, %s)", [name[:64], ip])
            return None
        token, csrf = new_token(), new_token()
        conn.execute(
            "INSERT INTO web_sessions (token_hash, username, csrf_token) VALUES (%s, %s, %s)",
            [secret_hash(token), user.name, csrf],
        )
        conn.execute("DELETE FROM login_failures WHERE lower(username) = lower(%s)", [name])
        conn.execute(
            "INSERT INTO audit (actor, action, target, detail) VALUES (%s, 'sign-in', '', %s)", [user.name, ip]
        )
    return token, csrf


def _end_session(store: FleetStore, token: str) -> None:
    with store.tx() as conn:
        conn.execute("DELETE FROM web_sessions WHERE token_hash = %s", [secret_hash(token)])


def _age_minutes(last_seen: str | None, now: datetime) -> float | None:
    if not last_seen:
        return None
    return (now - datetime.fromisoformat(last_seen.replace("Z", "+00:00"))).total_seconds() / 60


def silent_kiosks(kiosks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alert list: kiosks not revoked that are down, the longest silent first (never seen: at the top)."""
    down = [k for k in kiosks if k["down"] and not k["revoked"]]
    return sorted(down, key=lambda k: (k["age_min"] is not None, -(k["age_min"] or 0), k["id"]))


def add_pages(
    app: FastAPI, store: FleetStore, *, secure_cookies: bool = False, matcher: DraftMatcher | None = None
) -> None:
    """Mount every operator page on the fleet app (``matcher``: the "try a question" engine to share)."""
    from fleet import pages_entries, pages_knowledge, pages_publish, pages_reports

    users = FleetUsers(store)
    templates = make_templates()
    app.state.fleet_web = FleetWeb(store, users, DraftStore(store), matcher or DraftMatcher(), templates)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(LoginRequiredError, login_required)
    for module in (pages_knowledge, pages_entries, pages_reports, pages_publish):
        app.include_router(module.router)

    def cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure_cookies, path="/"
        )

    async def current(request: Request) -> Session | None:
        return await current_session(request)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("path", request.url.path)
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/") -> Response:
        token = request.cookies.get(PRE_CSRF_COOKIE) or new_token()
        response = page(request, "fleet_login.html", csrf_token=token, next=next, error="")
        cookie(response, PRE_CSRF_COOKIE, token, max_age=3600)
        return response

    @app.post("/login")
    async def login(
        request: Request,
        username: str = Form(..., max_length=64),
        password: str = Form(..., max_length=256),
        csrf_token: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        if not tokens_match(request.cookies.get(PRE_CSRF_COOKIE), csrf_token):
            return page(request, "fleet_login.html", 403, csrf_token=new_token(), next=target, error="Form expired.")
        if await run_in_threadpool(_failures, store, username) >= LOGIN_FREE_FAILURES:
            retry = int(LOGIN_WINDOW.total_seconds())
            response = page(
                request, "fleet_login.html", 429, csrf_token=csrf_token, next=target, error="Too many attempts."
            )
            response.headers["Retry-After"] = str(retry)
            return response
        ip = request.client.host if request.client else ""
        signed = await run_in_threadpool(_sign_in, store, users, username, password, ip)
        if signed is None:
            return page(
                request, "fleet_login.html", 401, csrf_token=csrf_token, next=target, error="Wrong name or password."
            )
        response = RedirectResponse(target, status_code=303)
        cookie(response, SESSION_COOKIE, signed[0])
        response.delete_cookie(PRE_CSRF_COOKIE, path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request, csrf_token: str = Form("")) -> Response:
        session = await current(request)
        token = request.cookies.get(SESSION_COOKIE)
        if session is None or token is None:
            return to_login(request)
        if not tokens_match(session.csrf, csrf_token):
            return Response("Form expired", status_code=403)
        await run_in_threadpool(_end_session, store, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/", response_class=HTMLResponse)
    async def kiosks_page(request: Request, down_after: int = Query(DOWN_AFTER_MIN, ge=1, le=10080)) -> Response:
        session = await current(request)
        if session is None:
            return to_login(request)
        rows = await run_in_threadpool(store.kiosks, session.user.site)
        now = datetime.now(UTC)
        kiosks, down = [], 0
        for row in rows:
            age = _age_minutes(row["last_seen"], now)
            is_down = row["revoked"] or age is None or age > down_after
            down += bool(is_down and not row["revoked"])
            kiosks.append({**row, "age_min": None if age is None else round(age, 1), "down": is_down})
        alerts = silent_kiosks(kiosks)
        return page(
            request, "fleet_kiosks.html", user=session.user, csrf=session.csrf, kiosks=kiosks, down=down,
            down_after=down_after, alerts=alerts,
        )  # fmt: skip

    @app.get("/conversations", response_class=HTMLResponse)
    async def turns_page(
        request: Request,
        site: str | None = Query(None, max_length=64),
        kiosk: str | None = Query(None, max_length=100),
    ) -> Response:
        session = await current(request)
        if session is None:
            return to_login(request)
        if session.user.site is not None:
            site = session.user.site  # a site's user sees that site only
        rows = await run_in_threadpool(
            lambda: store.turns(site=site or None, kiosk=kiosk or None, limit=TURNS_PAGE, newest_first=True)
        )
        return page(
            request, "fleet_turns.html", user=session.user, csrf=session.csrf, turns=rows, site=site or "",
            kiosk=kiosk or "",
        )  # fmt: skip
