"""HTTP hardening: security headers, request size limits and CSRF tokens.

The CSP allows scripts and styles from this origin only (no inline code), so an
injected ``<script>`` in a FAQ or a transcript could not run even if escaping
failed somewhere.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
DEFAULT_BODY_LIMIT = 1 << 20  # 1 MiB: any form
UPLOAD_BODY_LIMIT = 5 << 20  # 5 MiB: knowledge base imports
UPLOAD_PATHS = ("/import",)
AVATAR_UPLOAD_BODY_LIMIT = 192 << 20  # 192 MiB: a photo or a short video, and a background image
ROUTE_BODY_LIMITS = {"/avatars/upload": AVATAR_UPLOAD_BODY_LIMIT}  # exact paths with a limit of their own
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PRE_CSRF_COOKIE = "kiosk_admin_precsrf"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def body_limit(path: str, routes: dict[str, int] | None = None) -> int:
    """The largest body ``path`` accepts: its own limit (exact path in ``routes``, default
    :data:`ROUTE_BODY_LIMITS`), the imports' (prefix), else 1 MiB."""
    routes = ROUTE_BODY_LIMITS if routes is None else routes
    if path in routes:
        return routes[path]
    return UPLOAD_BODY_LIMIT if path.startswith(UPLOAD_PATHS) else DEFAULT_BODY_LIMIT


class SecurityHeadersMiddleware:
    """Adds the security headers to every response; HTML and redirects are never cached."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                if not is_static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuses request bodies over the path's limit with 413, by Content-Length or while streaming
    (``routes``: another app's exact paths with limits of their own, instead of :data:`ROUTE_BODY_LIMITS`)."""

    def __init__(self, app: ASGIApp, *, routes: dict[str, int] | None = None) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"], self.routes)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await _plain(send, 413, b"Request too large")
                    return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, "Request too large")
            return message

        await self.app(scope, limited_receive, send)


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
