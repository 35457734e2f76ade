"""What every route shares: the app state, the signed-in operator, role checks, CSRF, rendering."""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
from collections.abc import Callable
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
from knowledge.store import FaqStore

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
    """Everything the app holds for its lifetime.

    Concurrency: handlers run on worker threads and reach SQLite through ``db`` / ``store`` /
    ``accounts``, which give each thread its own connection (:mod:`admin_web.dbconn`), so SQLite
    serialises the writers. The threading locks below are taken only on worker threads, briefly,
    never on the event loop and never across an ``await``:

    - ``lock``: the app's own in-memory state and files (pending imports, ``settings.toml``);
    - ``backend_lock``: calls into the backend's objects (its store's single connection, the policy);
    - ``login_lock``: sign-in attempts, one at a time, so the throttle counts every one.
    """

    settings: Settings
    home: KioskHome
    backend: KioskBackend
    accounts: Accounts
    templates: Jinja2Templates
    secure_cookies: bool
    database: Any = None  # per-thread connections to the backend store's file (see create_app)
    lock: threading.Lock = field(default_factory=threading.Lock)
    backend_lock: threading.RLock = field(default_factory=threading.RLock)
    login_lock: threading.Lock = field(default_factory=threading.Lock)
    pending_imports: dict[str, Any] = field(default_factory=dict)
    cache: dict[tuple, tuple[tuple, Any]] = field(default_factory=dict)
    _store: Any = None

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.admin.session_idle_minutes)

    @property
    def store(self) -> FaqStore:
        if self.database is None:
            return self.backend.store
        if self._store is None:
            self._store = FaqStore(self.database)
        return self._store

    @property
    def db(self):
        return self.database if self.database is not None else self.backend.store.db


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

    The session is looked up by a plain function (FastAPI runs it on a worker thread, with that
    thread's own database connection); with ``write`` an async step then checks the session's CSRF
    token in the header or the form. No lock is held across the request.
    """

    def signed_in(request: Request) -> Actor:
        st = state(request)
        session = _session(request, st)
        if session is None:
            reason = "expired" if request.cookies.get(SESSION_COOKIE) else ""
            raise LoginRequiredError(_next_path(request), reason)
        if not session.user.can(role):
            raise HTTPException(403, "role")
        request.state.session = session
        return Actor(session=session, ip=client_ip(request))

    if not write:
        return signed_in

    async def signed_in_with_csrf(request: Request, actor: Actor = Depends(signed_in)) -> Actor:  # noqa: B008
        if not await _csrf_ok(request, actor.session.csrf_token):
            raise HTTPException(403, "csrf")
        return actor

    return signed_in_with_csrf


SQLITE_MAX_INT = 2**63 - 1  # a larger Python int makes sqlite3 raise OverflowError
MAX_PAGE = 1_000_000  # far past any real list; keeps OFFSET inside SQLite's integers


def sane_page(page: int) -> int:
    """A page number from the address, bounded before it reaches SQL (then clamp it with the real total)."""
    return min(max(1, page), MAX_PAGE)


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
    with st.backend_lock:  # may create the kiosk's knowledge base through the backend's own connection
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
