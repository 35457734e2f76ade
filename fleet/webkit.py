"""What every fleet page shares: the signed-in operator, role and site checks, CSRF, rendering, page errors.

Pages are FastAPI routers (:mod:`fleet.pages_knowledge`, :mod:`fleet.pages_entries`,
:mod:`fleet.pages_reports`) over one :class:`FleetWeb` kept on ``app.state``. A page declares what it
needs as a dependency: :data:`Viewer` (any signed-in operator), :data:`EditorWrite` (an editor or admin
posting a form with the session's CSRF token). Not signed in: a redirect to the sign-in page; signed in
without the right: an HTML 403 page. A site's operator acts on that site only (:func:`check_site_scope`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from admin_web.security import tokens_match
from fleet.draft_matcher import DraftMatcher
from fleet.drafts import DraftStore
from fleet.protocol import secret_hash
from fleet.store import FleetStore
from fleet.users import FleetUser, FleetUsers

_LOGGER = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
SESSION_COOKIE = "kiosk_fleet_session"
SESSION_IDLE = timedelta(minutes=30)

DONE_MESSAGES = {
    "draft-started": "Draft started.",
    "draft-discarded": "Draft discarded.",
    "created": "Entry created.",
    "saved": "Entry saved.",
    "deleted": "Entry deleted from the draft.",
    "alternate-added": "Alternate added to the draft.",
    "imported": "File imported into the draft.",
    "published": "Published. Kiosks of the target pick it up at their next sync.",
    "rolled-back": "Rolled back: the earlier entries were published again as a new version.",
}


@dataclass
class Session:
    user: FleetUser
    csrf: str


@dataclass
class FleetWeb:
    """The pages' shared parts, one per app."""

    store: FleetStore
    users: FleetUsers
    drafts: DraftStore
    matcher: DraftMatcher
    templates: Jinja2Templates


class LoginRequiredError(Exception):
    """Not signed in (or the session expired): answered with a redirect to the sign-in page."""


class PageError(Exception):
    """A refused page or form, answered as an HTML page with its status (403, 404, 409, 400)."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.autoescape = True
    templates.env.globals["done_messages"] = DONE_MESSAGES
    return templates


def web(request: Request) -> FleetWeb:
    return request.app.state.fleet_web


def load_session(store: FleetStore, users: FleetUsers, token: str | None) -> Session | None:
    """The session of ``token`` if it is alive (its idle clock restarts), with its enabled user."""
    if not token:
        return None
    with store.tx() as conn:
        row = conn.execute(
            """UPDATE web_sessions SET last_seen = now() WHERE token_hash = %s AND last_seen > now() - %s
               RETURNING username, csrf_token""",
            [secret_hash(token), SESSION_IDLE],
        ).fetchone()
    if row is None:
        return None
    user = users.get(row["username"])
    return Session(user, row["csrf_token"]) if user is not None and not user.disabled else None


async def current_session(request: Request) -> Session | None:
    fw = web(request)
    return await run_in_threadpool(load_session, fw.store, fw.users, request.cookies.get(SESSION_COOKIE))


async def _viewer(request: Request) -> Session:
    session = await current_session(request)
    if session is None:
        raise LoginRequiredError
    return session


async def _editor_write(request: Request) -> Session:
    session = await _viewer(request)
    form = await request.form()
    if not tokens_match(session.csrf, str(form.get("csrf_token") or "")):
        raise PageError(403, "This form has expired.", "Go back, reload the page and try again.")
    if not session.user.can("editor"):
        raise PageError(403, "Your role may only read these pages.", "Ask an admin for the editor role.")
    return session


Viewer = Annotated[Session, Depends(_viewer)]
EditorWrite = Annotated[Session, Depends(_editor_write)]


def require_editor(session: Session) -> None:
    """For a page that only shows an editing form (GET): viewers get a 403 page."""
    if not session.user.can("editor"):
        raise PageError(403, "Your role may only read these pages.", "Ask an admin for the editor role.")


def check_site_scope(session: Session, site: str | None) -> None:
    """A site's operator acts on that site only; ``None`` (every site) is for operators of all sites."""
    if session.user.site is not None and site != session.user.site:
        target = f"site {site}" if site else "every site"
        raise PageError(403, f"You may publish for site {session.user.site} only, not for {target}.", "Ask an admin.")


def visible_site(session: Session, asked: str | None) -> str | None:
    """The site a page shows: a site's operator always sees their own."""
    return session.user.site if session.user.site is not None else (asked or None)


def render(request: Request, session: Session | None, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    done = request.query_params.get("done", "")
    context.setdefault("flash", DONE_MESSAGES.get(done, ""))
    context.update(user=session.user if session else None, csrf=session.csrf if session else "")
    context.setdefault("path", request.url.path)
    return web(request).templates.TemplateResponse(request, name, context, status_code=status)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def kb_url(kb: str, tail: str = "", done: str = "") -> str:
    url = f"/knowledge/{quote(kb, safe='')}{tail}"
    return url + (f"?done={done}" if done else "")


def to_login(request: Request) -> Response:
    return RedirectResponse("/login?next=" + quote(request.url.path, safe=""), status_code=303)


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    session = await current_session(request)
    return render(
        request, session, "fleet_error.html", exc.status, message=exc.message, hint=exc.hint, status_code=exc.status
    )


async def login_required(request: Request, exc: Exception) -> Response:
    return to_login(request)
