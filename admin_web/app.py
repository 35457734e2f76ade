"""The admin app factory: ``create_app(settings, home)`` returns a FastAPI app ready for uvicorn.

Server-rendered pages (Jinja2, autoescaped), one small vendored stylesheet and
script, no API docs, never debug mode. A background thread purges conversation
turns older than ``admin.retention_days`` (and expired sessions) every hour.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from admin_web import queries
from admin_web.accounts import Accounts
from admin_web.backend import KioskBackend
from admin_web.dbconn import per_thread
from admin_web.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from admin_web.web import TEMPLATES_DIR, AdminState, LoginRequiredError, query_url, render
from core.backup import backup_if_due
from core.errors import KioskError
from core.home import KioskHome
from core.settings import Settings

_LOGGER = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PURGE_EVERY_S = 3600.0

_ERROR_TEXT = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "Your account is not allowed to do this, or the form expired. Reload the page and try again."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "The upload or form is larger than allowed."),
    422: ("Invalid input", "Some of the values sent were not valid."),
    429: ("Too many attempts", "Too many failed sign-ins. Wait a few minutes and try again."),
    500: ("Something went wrong", "The error was logged. Try again, or ask your administrator to check the log."),
}


def _error_page(request: Request, status: int, *, retry_after: int | None = None) -> Response:
    title, text = _ERROR_TEXT.get(status, _ERROR_TEXT[500] if status >= 500 else _ERROR_TEXT[400])
    response = render(request, "error.html", {"status": status, "title": title, "text": text}, status=status)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _purge_loop(admin: AdminState, stop: threading.Event) -> None:
    """At start, then hourly until ``stop``: the daily backup when due, the retention purge (the first pass
    always runs, however soon the app stops)."""
    while True:
        backup_if_due(admin.home.database)  # daily backup of kiosk.db (never raises)
        try:
            removed = queries.purge_turns(
                admin.db, admin.settings.admin.retention_days, keep_unshipped=admin.home.in_fleet
            )  # this thread's connection
            admin.accounts.purge_expired(idle=admin.idle)
            if removed:
                admin.accounts.audit("retention-purge", detail=f"{removed} turns")
        except Exception:
            _LOGGER.exception("retention purge failed")
        if stop.wait(PURGE_EVERY_S):
            return


def create_app(
    settings: Settings, home: KioskHome, *, backend: KioskBackend | None = None, purge: bool = True
) -> FastAPI:
    """Build the admin app on one kiosk home (its ``kiosk.db``) with these settings.

    ``backend`` defaults to the kiosk's own services on ``home`` (built lazily: no model loads for the app).
    """
    if backend is None:
        from runtime.services import KioskServices

        backend = KioskServices(settings=settings, home=home)
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.autoescape = True
    templates.env.globals["quote"] = quote
    templates.env.globals["query_url"] = query_url
    database = per_thread(backend.store.db)  # each worker thread its own connection to the same file
    admin = AdminState(
        settings=settings,
        home=home,
        backend=backend,
        accounts=Accounts(database),
        templates=templates,
        secure_cookies=bool(settings.admin.tls_cert and settings.admin.tls_key),
        database=database,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if purge:
            worker = threading.Thread(target=_purge_loop, args=(admin, stop), name="admin-purge", daemon=True)
            worker.start()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                await asyncio.to_thread(worker.join, 5)  # never block the event loop, even when stopping

    app = FastAPI(debug=False, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.admin = admin
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=admin.secure_cookies)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    from admin_web.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(LoginRequiredError)
    async def login_required(request: Request, exc: LoginRequiredError) -> Response:
        target = "/login?next=" + quote(exc.next_path, safe="")
        if exc.reason:
            target += f"&done={exc.reason}"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        retry = None
        if exc.status_code == 429 and exc.headers:
            retry = int(exc.headers.get("Retry-After", "0")) or None
        return _error_page(request, exc.status_code, retry_after=retry)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return _error_page(request, 422)

    @app.exception_handler(KioskError)
    async def kiosk_error(request: Request, exc: KioskError) -> Response:
        _LOGGER.warning("request failed [%s]: %s", exc.code, exc)
        return _error_page(request, 400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        _LOGGER.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return HTMLResponse(
            "<!doctype html><title>Error</title><h1>Something went wrong</h1><p>The error was logged.</p>",
            status_code=500,
        )

    return app
