"""Settings (a validated subset of settings.toml), health (models, kiosk heartbeat, database), audit log."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from admin_web import queries, settings_edit
from admin_web.web import (
    PER_PAGE,
    Actor,
    Admin,
    AdminWrite,
    Viewer,
    clamp_page,
    page_count,
    render,
    sane_page,
    state,
)
from core.db import schema_version
from core.errors import KioskError, SettingsError
from core.heartbeat import read_heartbeat, read_index_status
from core.models import ModelManager
from core.settings import load_settings

_LOGGER = logging.getLogger(__name__)

router = APIRouter()


def _file_settings(request: Request):
    st = state(request)
    try:
        return load_settings(st.home.settings_file, env={}), ""
    except SettingsError as exc:
        return st.settings, exc.message


def _avatars(request: Request) -> list[str]:
    try:
        from avatar.pack import available_packs

        return list(available_packs(state(request).home.root))
    except (ImportError, KioskError, OSError):
        return []


@router.get("/settings")
def settings_page(request: Request, actor: Admin) -> Response:
    current, problem = _file_settings(request)
    return render(
        request,
        "settings.html",
        {
            "fields": settings_edit.fields(current),
            "file_problem": problem,
            "avatars": _avatars(request),
            "path": str(state(request).home.settings_file),
        },
    )


@router.post("/settings")
async def settings_save(request: Request, actor: AdminWrite) -> Response:
    form = await request.form()  # the only await: the rest runs on a worker thread
    submitted = {f"{s}.{k}": str(form.get(f"{s}.{k}", "")) for s, k, _ in settings_edit.EDITABLE if f"{s}.{k}" in form}
    for s, k, _ in settings_edit.EDITABLE:  # unchecked checkboxes are absent from a form
        if f"{s}.{k}" not in form and f"{s}.{k}.present" in form:
            submitted[f"{s}.{k}"] = "false"
    return await run_in_threadpool(_save_settings, request, actor, submitted)


def _save_settings(request: Request, actor: Actor, submitted: dict[str, str]) -> Response:
    """Validate, write settings.toml, record the overrides: one save at a time (``st.lock``, worker thread)."""

    def audit(name: str, old, new) -> None:
        state(request).accounts.audit(
            "settings-change", user=actor.name, ip=actor.ip, target=name, detail=f"{old!r} -> {new!r}"
        )

    errors, _changes = settings_edit.save(state(request), submitted, actor.name, audit)
    if errors:
        current, problem = _file_settings(request)
        return render(
            request,
            "settings.html",
            {
                "fields": settings_edit.fields(current, submitted, errors),
                "file_problem": errors.get("_file", problem),
                "avatars": _avatars(request),
                "error": "Nothing was saved: please correct the fields marked below.",
            },
            status=400,
        )
    return RedirectResponse("/settings?done=settings-saved", status_code=303)


@router.post("/settings/purge")
def purge_now(request: Request, actor: AdminWrite) -> Response:
    st = state(request)
    removed = queries.purge_turns(st.db, st.settings.admin.retention_days, keep_unshipped=st.home.in_fleet)
    st.accounts.audit("retention-purge", user=actor.name, ip=actor.ip, detail=f"{removed} turns")
    return RedirectResponse("/health?done=purged", status_code=303)


@router.get("/health")
def health(request: Request, actor: Viewer) -> Response:
    st = state(request)
    try:
        models = {
            role: loc.to_dict() for role, loc in ModelManager(settings=st.settings, home=st.home).resolve_all().items()
        }
    except KioskError as exc:
        _LOGGER.warning("model resolution failed: %s", exc)
        models = {}
    db = st.db
    oldest = db.execute("SELECT MIN(ts) FROM turns").fetchone()[0]
    info = {
        "schema": schema_version(db),
        "turns": db.execute("SELECT COUNT(*) FROM turns").fetchone()[0],
        "entries": db.execute("SELECT COUNT(*) FROM faqs WHERE deleted_at IS NULL").fetchone()[0],
        "oldest_turn": oldest,
        "db_bytes": st.home.database.stat().st_size if st.home.database.exists() else 0,
        "retention_days": st.settings.admin.retention_days,
    }
    return render(
        request,
        "health.html",
        {
            "models": models,
            "info": info,
            "heartbeat": read_heartbeat(st.home.root),
            "index": read_index_status(st.home.root),
            "kbs": st.store.list_kbs(),
        },
    )


@router.get("/audit")
def audit(request: Request, actor: Admin, page: int = 1, action: str = "") -> Response:
    st = state(request)
    page, action = sane_page(page), action[:40]
    rows, total = st.accounts.audit_entries(limit=PER_PAGE, offset=(page - 1) * PER_PAGE, action=action)
    if clamp_page(page, total) != page:  # past the last page: show the last one
        page = clamp_page(page, total)
        rows, total = st.accounts.audit_entries(limit=PER_PAGE, offset=(page - 1) * PER_PAGE, action=action)
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": page_count(total),
            "params": {"action": action},
        },
    )
