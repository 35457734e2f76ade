"""What every route shares: the app state, the signed-in operator, role checks, CSRF, rendering."""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from admin_web.accounts import Accounts, Session
from admin_web.backend import KioskBackend
from admin_web.security import CSRF_FIELD, CSRF_HEADER, tokens_match
from core.home import KioskHome
from core.settings import Settings

_LOGGER = logging.getLogger(__name__)

SESSION_COOKIE = "kiosk_admin_session"
TEMPLATES_DIR = Path(__file__).parent / "templates"
PER_PAGE = 25

FLASH = {
    "saved": "Saved.",
    "created": "Entry created.",
    "deleted": "Entry deleted. You can restore it from the deleted list.",
    "restored": "Entry restored.",
    "enabled": "Entry enabled.",
    "disabled": "Entry disabled: the kiosk no longer answers with it.",
    "alternate-added": "Alternate phrasing added.",
    "alternate-removed": "Alternate phrasing removed.",
    "imported": "Import finished.",
    "settings-saved": "Settings saved. The kiosk picks them up on its next start.",
    "user-created": "User created.",
    "user-updated": "User updated.",
    "user-deleted": "User deleted.",
    "password-set": "Password changed. That user's sessions were signed out.",
    "promoted": "Added as an alternate phrasing.",
    "purged": "Old conversations deleted.",
    "logged-out": "You are signed out.",
    "expired": "Your session ended after a period of inactivity. Please sign in again.",
}


class LoginRequiredError(Exception):
    """Raised by a route dependency when no valid session exists; answered with a redirect to /login."""

    def __init__(self, next_path: str = "/", reason: str = "") -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.reason = reason


@dataclass
class AdminState:
    """Everything the app holds for its lifetime."""

    settings: Settings
    home: KioskHome
    backend: KioskBackend
    accounts: Accounts
    templates: Jinja2Templates
    secure_cookies: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending_imports: dict[str, Any] = field(default_factory=dict)
    cache: dict[tuple, tuple[tuple, Any]] = field(default_factory=dict)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.admin.session_idle_minutes)

    @property
    def store(self):
        return self.backend.store

    @property
    def db(self):
        return self.backend.store.db


@dataclass(frozen=True)
class Actor:
    """The signed-in operator making this request."""

    session: Session
    ip: str

    @property
    def name(self) -> str:
        return self.session.user.name

    @property
    def role(self) -> str:
        return self.session.user.role

    def can(self, role: str) -> bool:
        return self.session.user.can(role)


def state(request: Request) -> AdminState:
    return request.app.state.admin


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def is_local(request: Request) -> bool:
    host = client_ip(request)
    if host in ("testclient", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _session(request: Request, st: AdminState) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    return st.accounts.session(token, idle=st.idle) if token else None


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.method != "GET":
        return "/"
    return path + (f"?{request.url.query}" if request.url.query else "")


async def _csrf_ok(request: Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if not given:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return tokens_match(expected, given)


def need(role: str, *, write: bool = False) -> Callable[..., Any]:
    """A dependency: the request's :class:`Actor` if signed in with at least ``role``.

    Holds the app's database lock for the request (one SQLite connection is shared).
    With ``write`` the request must carry the session's CSRF token.
    """

    async def check_csrf(request: Request) -> None:
        if write:
            st = state(request)
            token = request.cookies.get(SESSION_COOKIE, "")
            with st.lock:
                session = st.accounts.session(token, idle=st.idle) if token else None
            if session is not None and not await _csrf_ok(request, session.csrf_token):
                raise HTTPException(403, "csrf")

    def dependency(request: Request, _csrf: None = Depends(check_csrf)) -> Iterator[Actor]:
        st = state(request)
        with st.lock:
            session = _session(request, st)
            if session is None:
                reason = "expired" if request.cookies.get(SESSION_COOKIE) else ""
                raise LoginRequiredError(_next_path(request), reason)
            if not session.user.can(role):
                raise HTTPException(403, "role")
            request.state.session = session
            yield Actor(session=session, ip=client_ip(request))

    return dependency


def page_count(total: int, per_page: int = PER_PAGE) -> int:
    return max(1, math.ceil(total / per_page))


def clamp_page(page: int, total: int, per_page: int = PER_PAGE) -> int:
    return min(max(1, page), page_count(total, per_page))


def query_url(path: str, params: dict[str, Any], **changes: Any) -> str:
    merged = {**params, **changes}
    clean = {k: v for k, v in merged.items() if v not in (None, "", False)}
    return path + ("?" + urlencode(clean) if clean else "")


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    st = state(request)
    session: Session | None = getattr(request.state, "session", None)
    flash = FLASH.get(request.query_params.get("done", ""))
    base = {
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "flash": flash,
        "path": request.url.path,
        "default_kb": st.settings.dialog.knowledge_base,
        "quote": quote,
        "query_url": query_url,
    }
    return st.templates.TemplateResponse(request, template, {**base, **(context or {})}, status_code=status)


KB_COOKIE = "kiosk_admin_kb"


def current_kb(request: Request) -> str:
    """The knowledge base this page works on: ``?kb=``, else the operator's last choice, else the kiosk's."""
    st = state(request)
    store = st.store
    for candidate in (request.query_params.get("kb"), request.cookies.get(KB_COOKIE)):
        if candidate and store.kb_exists(candidate):
            return candidate
    return st.backend.kb_name()


def _kb_versions(st: AdminState) -> tuple:
    return tuple(st.db.execute("SELECT name, version FROM knowledge_bases ORDER BY name").fetchall())


def cached(st: AdminState, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` remembered until any knowledge base changes (every store write bumps a version)."""
    versions = _kb_versions(st)
    hit = st.cache.get(key)
    if hit is not None and hit[0] == versions:
        return hit[1]
    value = compute()
    if len(st.cache) > 64:
        st.cache.clear()
    st.cache[key] = (versions, value)
    return value


def kb_context(request: Request, kb: str) -> dict[str, Any]:
    st = state(request)
    return {"kb": kb, "kbs": cached(st, ("kbs",), st.store.list_kbs)}


# Route parameter types: who may call a route (and, for the *Write ones, with a CSRF token).
Viewer = Annotated[Actor, Depends(need("viewer"))]
ViewerWrite = Annotated[Actor, Depends(need("viewer", write=True))]
Editor = Annotated[Actor, Depends(need("editor"))]
EditorWrite = Annotated[Actor, Depends(need("editor", write=True))]
Admin = Annotated[Actor, Depends(need("admin"))]
AdminWrite = Annotated[Actor, Depends(need("admin", write=True))]
