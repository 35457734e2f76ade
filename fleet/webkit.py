"""What every fleet page shares: the signed-in operator, role and site checks, CSRF, rendering, page errors.

Pages are FastAPI routers (:mod:`fleet.pages_knowledge`, :mod:`fleet.pages_entries`,
:mod:`fleet.pages_reports`) over one :class:`FleetWeb` kept on ``app.state``. A page declares what it
needs as a dependency: :data:`Viewer` (any signed-in operator), :data:`EditorWrite` (an editor or admin
posting a form with the session's CSRF token), :data:`AdminWrite` (an admin posting one). Not signed in: a redirect to the sign-in page; signed in
without the right: an HTML 403 page. A site's operator acts on that site only (:func:`check_site_scope`), and on a group only when it holds no other
site (:func:`check_target_scope`).
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

import admin_web
from admin_web.security import tokens_match
from core.errors import KioskError
from fleet.draft_matcher import DraftMatcher
from fleet.drafts import DraftStore
from fleet.groups import target_label
from fleet.protocol import secret_hash
from fleet.store import FleetStore
from fleet.users import FleetUser, FleetUsers

_LOGGER = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
ADMIN_TEMPLATES_DIR = Path(admin_web.__file__).parent / "templates"
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
    "document-added": "Document added to the draft.",
    "document-removed": "Document removed from the draft.",
    "settings-published": "Settings published. Kiosks of the target use them from their next start after a sync.",
    "settings-rolled-back": "Rolled back: the earlier settings were published again as a new version.",
    "avatar-published": "Avatar pack published. Kiosks of the target install it at their next sync.",
    "avatar-rolled-back": "Rolled back: the earlier pack was published again as a new version.",
    "group-saved": "Group saved. Its kiosks move to what is published for it at their next sync.",
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
    """The fleet's templates, then the admin app's, whose layout and macros the fleet's pages share."""
    templates = Jinja2Templates(directory=[TEMPLATES_DIR, ADMIN_TEMPLATES_DIR])
    templates.env.autoescape = True
    templates.env.globals["done_messages"] = DONE_MESSAGES
    templates.env.globals["target_value"] = target_value
    templates.env.globals["target_label"] = lambda row: target_label(row.get("site"), row.get("site_group"))
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


async def _checked_form(request: Request) -> Session:
    session = await _viewer(request)
    form = await request.form()
    if not tokens_match(session.csrf, str(form.get("csrf_token") or "")):
        raise PageError(403, "This form has expired.", "Go back, reload the page and try again.")
    return session


async def _editor_write(request: Request) -> Session:
    session = await _checked_form(request)
    if not session.user.can("editor"):
        raise PageError(403, "Your role may only read these pages.", "Ask an admin for the editor role.")
    return session


async def _admin_write(request: Request) -> Session:
    session = await _checked_form(request)
    if not session.user.can("admin"):
        raise PageError(403, "Only an admin may publish settings, avatar packs and groups.", "Ask an admin.")
    return session


Viewer = Annotated[Session, Depends(_viewer)]
EditorWrite = Annotated[Session, Depends(_editor_write)]
AdminWrite = Annotated[Session, Depends(_admin_write)]


def require_editor(session: Session) -> None:
    """For a page that only shows an editing form (GET): viewers get a 403 page."""
    if not session.user.can("editor"):
        raise PageError(403, "Your role may only read these pages.", "Ask an admin for the editor role.")


def check_site_scope(session: Session, site: str | None) -> None:
    """A site's operator acts on that site only; ``None`` (every site) is for operators of all sites."""
    if session.user.site is not None and site != session.user.site:
        target = f"site {site}" if site else "every site"
        raise PageError(403, f"You may publish for site {session.user.site} only, not for {target}.", "Ask an admin.")


GROUP_PREFIX = "group:"


def parse_target(raw: str) -> tuple[str | None, str | None]:
    """A publish form's target as (site, group): "" is every site, "group:NAME" a group, anything else a site
    (site names hold no ':')."""
    raw = raw.strip()
    if raw.startswith(GROUP_PREFIX):
        return None, raw.removeprefix(GROUP_PREFIX).strip() or None
    return (raw or None), None


def check_target_scope(request: Request, session: Session, site: str | None, group: str | None) -> None:
    """:func:`check_site_scope`, and for a group: a site's operator may publish to it only if it holds no other
    site (an editor of "north" cannot reach "south" through a group holding both)."""
    if group is None or session.user.site is None:
        check_site_scope(session, site)
        return
    try:
        sites = web(request).store.group_sites(group)
    except KioskError as exc:
        raise PageError(404, exc.message, exc.hint or "") from exc
    others = [s for s in sites if s != session.user.site]
    if others:
        raise PageError(
            403,
            f"You may publish for site {session.user.site} only; group {group} also holds {', '.join(others)}.",
            "Publish for your site, or ask an admin to publish for the group.",
        )


def target_options(request: Request, session: Session) -> list[tuple[str, str]]:
    """The (value, label) targets an operator may publish to: every site, groups and sites within their scope."""
    store = web(request).store
    own = session.user.site
    options: list[tuple[str, str]] = [] if own else [("", "All sites (every kiosk)")]
    for g in store.groups():
        if own is None or g["sites"] == [own]:
            options.append((GROUP_PREFIX + g["name"], f"Group {g['name']} ({', '.join(g['sites'])})"))
    options += [(s, f"Site {s}") for s in (store.sites() if own is None else [own])]
    return options


def target_value(row: dict[str, Any]) -> str:
    """A published version's target as a form value (to roll back for the same target by default)."""
    if row.get("site_group"):
        return GROUP_PREFIX + row["site_group"]
    return row.get("site") or ""


def visible_versions(request: Request, session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Published versions an operator may see: for every site, for their site, or for a group holding it."""
    own = session.user.site
    if own is None:
        return rows
    groups = set(web(request).store.groups_of(own))
    return [
        r
        for r in rows
        if r["site"] == own or (r["site"] is None and (r.get("site_group") is None or r["site_group"] in groups))
    ]


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
