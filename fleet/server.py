"""The fleet server's HTTP API for kiosks (FastAPI): join, heartbeat + target, knowledge downloads, turns.

Stateless: everything lives in PostgreSQL, so several processes (``kiosk fleet serve``) can serve one
database behind a load balancer. The only thing a process keeps is a small cache of published
versions, which never change once written. Bad input is refused whole, before anything is stored.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from admin_web.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from core.errors import KioskError
from fleet.errors import EnrolmentError, FleetDatabaseError
from fleet.pages_publish import BODY_LIMITS
from fleet.protocol import (
    API,
    MAX_ANSWER,
    MAX_ERROR_TEXT,
    MAX_STATE,
    MAX_TEXT,
    MAX_TURNS_PER_BATCH,
)
from fleet.store import FleetStore, KioskIdentity

if TYPE_CHECKING:
    from fleet.maintenance import FleetUpkeep

_LOGGER = logging.getLogger(__name__)

_MODE = re.compile(r"^[a-z][a-z_-]{0,31}$")
KB_CACHE_SIZE = 16
MAX_REPORT_BYTES = 4096


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "hint"}}`` with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JoinRequest(_Strict):
    code: str = Field(min_length=4, max_length=64)
    software_version: str = Field(default="", max_length=80)


class HeartbeatRequest(_Strict):
    state: str = Field(min_length=1, max_length=MAX_STATE)
    kb_versions: dict[str, int] = Field(default_factory=dict, max_length=64)
    settings_version: int = Field(default=0, ge=0, le=2**31 - 1)
    avatar_versions: dict[str, int] = Field(default_factory=dict, max_length=64)
    software_version: str = Field(default="", max_length=80)
    last_error: str = Field(default="", max_length=MAX_ERROR_TEXT)
    health: dict[str, float | int | str | None] = Field(default_factory=dict, max_length=32)

    _text = field_validator("state", "software_version", "last_error")(_no_nul)

    @field_validator("kb_versions", "avatar_versions", "health")
    @classmethod
    def _small(cls, value: dict) -> dict:
        if len(json.dumps(value)) > MAX_REPORT_BYTES:
            raise ValueError(f"larger than {MAX_REPORT_BYTES} bytes as JSON")
        if any("\x00" in str(k) or "\x00" in str(v) for k, v in value.items()):
            raise ValueError("text must not contain NUL characters")
        return value


class TurnIn(_Strict):
    id: int = Field(ge=1, le=2**63 - 1)
    ts: AwareDatetime
    kb: str = Field(default="", max_length=64)
    text: str = Field(max_length=MAX_TEXT)
    answer: str = Field(max_length=MAX_ANSWER)
    mode: str = Field(pattern=_MODE.pattern)
    faq_id: str | None = Field(default=None, max_length=80)

    _text = field_validator("kb", "text", "answer", "faq_id")(_no_nul)


class TurnBatch(_Strict):
    kiosk_id: str | None = Field(default=None, max_length=100)
    site: str | None = Field(default=None, max_length=100)
    turns: list[TurnIn]


class _KbCache:
    """Published versions are immutable: keep the last few encoded, shared by every request."""

    def __init__(self, size: int = KB_CACHE_SIZE) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[str | None, str | None, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, key: tuple[str, int]) -> tuple[str | None, str | None, bytes] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, int], item: tuple[str | None, str | None, bytes]) -> None:
        with self._lock:
            self._items[key] = item
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "fleet-bad-request", f"the body is not JSON: {exc}") from exc


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "fleet-bad-request", _validation_message(exc), "nothing was stored") from exc


def create_app(
    store: FleetStore,
    *,
    web: bool = True,
    close_store: bool = False,
    secure_cookies: bool = False,
    upkeep: FleetUpkeep | None = None,
) -> FastAPI:
    """The fleet server on ``store``; ``web`` adds the operators' pages (:mod:`fleet.web`); ``upkeep`` (retention,
    silence alerts, webhook) runs in the background while the app does."""
    kb_cache = _KbCache()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if upkeep is not None:
            upkeep.start()
        try:
            yield
        finally:
            if upkeep is not None:
                await run_in_threadpool(upkeep.stop)
            if close_store:
                store.close()

    app = FastAPI(debug=False, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    # 1 MiB for every kiosk request (413 beyond); the operators' uploads: /import/... 5 MiB, a pack archive its own
    app.add_middleware(BodyLimitMiddleware, routes=BODY_LIMITS)
    app.add_middleware(SecurityHeadersMiddleware)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status >= 500:
            _LOGGER.warning("%s %s: %s", request.method, request.url.path, exc.message)
        body = {"error": {"code": exc.code, "message": exc.message, "hint": exc.hint}}
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {413: "fleet-too-large", 404: "fleet-not-found", 405: "fleet-bad-method"}.get(exc.status_code)
        body = {"error": {"code": code or "fleet-http-error", "message": str(exc.detail), "hint": ""}}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(FleetDatabaseError)
    async def db_error(request: Request, exc: FleetDatabaseError) -> Response:
        _LOGGER.warning("database unavailable: %s", exc)
        return JSONResponse({"error": exc.to_dict()}, status_code=503, headers={"Retry-After": "10"})

    def credential_of(request: Request) -> str:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise ApiError(401, "fleet-credential-missing", "no kiosk credential", "join with `kiosk fleet join`")
        return credential.strip()

    def check(kiosk: KioskIdentity | None) -> KioskIdentity:
        if kiosk is None:
            raise ApiError(401, "fleet-credential-unknown", "unknown kiosk credential", "join again with a new code")
        if kiosk.revoked:
            raise ApiError(401, "fleet-credential-revoked", f"kiosk {kiosk.id} was revoked", "join again")
        return kiosk

    async def kiosk_of(request: Request) -> KioskIdentity:
        return check(await run_in_threadpool(store.kiosk_by_credential, credential_of(request)))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.post(f"{API}/join")
    async def join(request: Request) -> dict[str, Any]:
        req = _parse(JoinRequest, await _json_body(request))
        ip = request.client.host if request.client else ""
        try:
            kiosk_id, site, credential = await run_in_threadpool(
                store.join, req.code, software_version=req.software_version, ip=ip
            )
        except EnrolmentError as exc:
            status = 409 if exc.code == "fleet-code-used" else 403
            raise ApiError(status, exc.code, exc.message, exc.hint or "") from exc
        return {"kiosk_id": kiosk_id, "site": site, "credential": credential}

    @app.post(f"{API}/heartbeat")
    async def heartbeat(request: Request) -> dict[str, Any]:
        credential = credential_of(request)
        req = _parse(HeartbeatRequest, await _json_body(request))
        found, targets = await run_in_threadpool(store.heartbeat_targets, credential, req.model_dump())
        kiosk = check(found)
        return {
            "kiosk_id": kiosk.id,
            "site": kiosk.site,
            "target": targets.kb,
            "settings": targets.settings,
            "avatars": targets.avatars,
        }

    @app.get(API + "/kb/{kb}/{version}")
    async def kb_version(request: Request, kb: str, version: int) -> Response:
        kiosk = await kiosk_of(request)
        cached = kb_cache.get((kb, version))
        if cached is None:
            payload = await run_in_threadpool(store.kb_payload, kb, version)
            if payload is not None:
                site, group = payload.pop("site"), payload.pop("site_group")
                body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
                cached = (site, group, body)
                kb_cache.put((kb, version), cached)
        if cached is None or not await run_in_threadpool(store.delivers_to, kiosk.site, cached[0], cached[1]):
            raise ApiError(404, "fleet-kb-not-found", f"no version {version} of {kb!r} for site {kiosk.site}")
        body = cached[2]
        return Response(body, media_type="application/json")

    @app.get(API + "/settings/{version}")
    async def settings_version(request: Request, version: int) -> Response:
        kiosk = await kiosk_of(request)
        payload = await run_in_threadpool(store.settings_payload, version)
        if payload is None or not await run_in_threadpool(
            store.delivers_to, kiosk.site, payload["site"], payload["site_group"]
        ):
            raise ApiError(404, "fleet-settings-not-found", f"no settings version {version} for site {kiosk.site}")
        body = {k: payload[k] for k in ("version", "sha256", "settings")}
        return JSONResponse(body)

    @app.get(API + "/avatar/{name}/{version}")
    async def avatar_version(request: Request, name: str, version: int) -> Response:
        kiosk = await kiosk_of(request)
        payload = await run_in_threadpool(store.avatar_payload, name, version)
        if payload is None or not await run_in_threadpool(
            store.delivers_to, kiosk.site, payload["site"], payload["site_group"]
        ):
            raise ApiError(404, "fleet-avatar-not-found", f"no version {version} of avatar {name!r} for {kiosk.site}")
        headers = {"X-Content-SHA256": payload["sha256"]}
        return Response(payload["archive"], media_type="application/gzip", headers=headers)

    @app.post(f"{API}/turns")
    async def turns(request: Request) -> dict[str, Any]:
        kiosk = await kiosk_of(request)
        data = await _json_body(request)
        if isinstance(data, dict) and isinstance(data.get("turns"), list) and len(data["turns"]) > MAX_TURNS_PER_BATCH:
            raise ApiError(
                413,
                "fleet-batch-too-large",
                f"{len(data['turns'])} turns in one batch; at most {MAX_TURNS_PER_BATCH}",
                "send smaller batches; nothing was stored",
            )
        batch = _parse(TurnBatch, data)
        if batch.kiosk_id is not None and batch.kiosk_id != kiosk.id:
            raise ApiError(
                403, "fleet-wrong-kiosk", f"turns for kiosk {batch.kiosk_id} sent with {kiosk.id}'s credential"
            )
        if batch.site is not None and batch.site != kiosk.site:
            raise ApiError(
                403, "fleet-wrong-site", f"turns for site {batch.site} from kiosk {kiosk.id} of site {kiosk.site}"
            )
        rows = [t.model_dump() for t in batch.turns]
        acked, stored = await run_in_threadpool(store.store_turns, kiosk, rows)
        return {"acked": acked, "stored": stored, "duplicates": len(acked) - stored}

    if web:
        from fleet.web import add_pages

        add_pages(app, store, secure_cookies=secure_cookies)

    @app.exception_handler(KioskError)
    async def kiosk_error(request: Request, exc: KioskError) -> Response:
        return JSONResponse({"error": exc.to_dict()}, status_code=400)

    return app
