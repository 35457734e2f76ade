"""Settings, avatar pack and group pages: publish and roll back what ``kiosk fleet publish-settings`` and
``publish-avatar`` publish, and name groups of sites, from the browser.

Settings are a TOML text (pasted or uploaded) checked by :func:`fleet.central_settings.parse_central`, the
check of ``publish-settings``: a refused one is shown again with the error and nothing is stored. A pack is
the .tar.gz of its folder, checked member by member and archived again as the CLI archives a folder
(:func:`fleet.packs.archive_from_upload`); its route has a body limit of its own (:data:`BODY_LIMITS`, applied
by ``admin_web.security.BodyLimitMiddleware`` in :func:`fleet.server.create_app`). Admins publish (a site's
admin for their site or a group holding only it); everyone signed in reads. Every change leaves an audit row.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from core.errors import KioskError
from fleet.central_settings import MAX_SETTINGS_BYTES, central_keys, parse_central
from fleet.packs import MAX_ARCHIVE_BYTES, archive_from_upload
from fleet.webkit import (
    AdminWrite,
    PageError,
    Session,
    Viewer,
    check_target_scope,
    parse_target,
    redirect,
    render,
    target_options,
    visible_versions,
    web,
)

_LOGGER = logging.getLogger(__name__)

router = APIRouter()

AVATAR_UPLOAD_PATH = "/avatars/publish"
# exact paths with a body limit of their own (the rest: admin_web.security's defaults)
BODY_LIMITS = {AVATAR_UPLOAD_PATH: MAX_ARCHIVE_BYTES + (1 << 20)}
SHOWN = 50


def _settings_page(
    request: Request, session: Session, status: int = 200, *, error: str = "", hint: str = "", text: str = ""
) -> Response:
    fw = web(request)
    versions = visible_versions(request, session, fw.store.settings_versions())
    return render(
        request, session, "fleet_settings.html", status, versions=versions[:SHOWN], version_count=len(versions),
        targets=target_options(request, session) if session.user.can("admin") else [], keys=central_keys(),
        error=error, hint=hint, text=text,
    )  # fmt: skip


@router.get("/settings")
def settings_page(request: Request, session: Viewer) -> Response:
    return _settings_page(request, session)


@router.post("/settings/publish")
async def settings_publish(
    request: Request,
    session: AdminWrite,
    target: Annotated[str, Form(max_length=80)] = "",
    text: Annotated[str, Form(max_length=MAX_SETTINGS_BYTES)] = "",
    file: UploadFile | None = None,
) -> Response:
    """Publish a settings TOML (the file when one is chosen, else the pasted text) for the target."""
    site, group = parse_target(target)
    check_target_scope(request, session, site, group)
    source = "pasted text"
    data = text.encode("utf-8")
    if file is not None and file.filename:
        source = file.filename[:120]
        data = await file.read(MAX_SETTINGS_BYTES + 1)
        text = data[:MAX_SETTINGS_BYTES].decode("utf-8", errors="replace")
    if not data.strip():
        return _settings_page(request, session, 400, error="Nothing to publish: paste a TOML or choose a file.")
    try:
        values = parse_central(data, source)
        version = await run_in_threadpool(
            web(request).store.publish_settings, values, site=site, group=group, source=source, actor=session.user.name
        )
    except KioskError as exc:
        return _settings_page(request, session, 400, error=exc.message, hint=exc.hint or "", text=text)
    _LOGGER.info("%s published settings v%d for %s/%s", session.user.name, version, site, group)
    return redirect("/settings?done=settings-published")


@router.post("/settings/rollback")
def settings_rollback(
    request: Request,
    session: AdminWrite,
    version: Annotated[int, Form(ge=1)],
    target: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    versions = web(request).store.settings_versions()
    _roll_back(request, session, "settings", "", version, target, versions, f"There is no settings version {version}")
    return redirect("/settings?done=settings-rolled-back")


def _roll_back(
    request: Request, session: Session, kind: str, name: str, version: int, target: str, versions: list, missing: str
) -> None:
    """Publish ``version`` of ``kind`` again for the form's target, when the operator may see it and publish there."""
    site, group = parse_target(target)
    check_target_scope(request, session, site, group)
    if not visible_versions(request, session, [v for v in versions if v["version"] == version]):
        raise PageError(404, f"{missing} you can see.")
    try:
        web(request).store.rollback(kind, name, version, site=site, group=group, actor=session.user.name)
    except KioskError as exc:
        raise PageError(400, exc.message, exc.hint or "") from exc


def _avatars_page(
    request: Request, session: Session, status: int = 200, *, error: str = "", hint: str = ""
) -> Response:
    fw = web(request)
    packs: dict[str, list[dict[str, Any]]] = {}
    for row in visible_versions(request, session, fw.store.avatar_versions()):
        packs.setdefault(row["name"], []).append(row)
    return render(
        request, session, "fleet_avatars.html", status, packs=packs, shown=SHOWN, max_mib=MAX_ARCHIVE_BYTES >> 20,
        targets=target_options(request, session) if session.user.can("admin") else [], error=error, hint=hint,
    )  # fmt: skip


@router.get("/avatars")
def avatars_page(request: Request, session: Viewer) -> Response:
    return _avatars_page(request, session)


@router.post(AVATAR_UPLOAD_PATH)
async def avatar_publish(
    request: Request,
    session: AdminWrite,
    file: UploadFile,
    target: Annotated[str, Form(max_length=80)] = "",
    name: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Publish an uploaded pack archive (.tar.gz of the pack folder) as the next version of its pack."""
    site, group = parse_target(target)
    check_target_scope(request, session, site, group)
    filename = (file.filename or "upload")[:120]
    data = await file.read(MAX_ARCHIVE_BYTES + 1)
    try:
        pack, archive = await run_in_threadpool(archive_from_upload, data, filename, name.strip())
        version = await run_in_threadpool(
            web(request).store.publish_avatar, pack, archive, site=site, group=group, source=filename,
            actor=session.user.name,
        )  # fmt: skip
    except KioskError as exc:
        return _avatars_page(request, session, 400, error=exc.message, hint=exc.hint or "")
    _LOGGER.info("%s published avatar %s v%d for %s/%s", session.user.name, pack, version, site, group)
    return redirect("/avatars?done=avatar-published")


@router.post("/avatars/rollback")
def avatar_rollback(
    request: Request,
    session: AdminWrite,
    name: Annotated[str, Form(max_length=40)],
    version: Annotated[int, Form(ge=1)],
    target: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    versions = web(request).store.avatar_versions(name)
    _roll_back(
        request, session, "avatar", name, version, target, versions, f"Avatar pack {name!r} has no version {version}"
    )
    return redirect("/avatars?done=avatar-rolled-back")


@router.get("/groups")
def groups_page(request: Request, session: Viewer) -> Response:
    fw = web(request)
    groups = fw.store.groups()
    if session.user.site is not None:
        groups = [g for g in groups if session.user.site in g["sites"]]
    return render(request, session, "fleet_groups.html", groups=groups, sites=fw.store.sites())


@router.post("/groups")
def group_save(
    request: Request,
    session: AdminWrite,
    name: Annotated[str, Form(max_length=64)],
    sites: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create a group or replace its sites (an admin of every site: a group reaches beyond one site)."""
    if session.user.site is not None:
        raise PageError(403, "Only an admin of every site may change groups.", "Ask an admin of the whole fleet.")
    try:
        web(request).store.set_group(name.strip(), sites or [], actor=session.user.name)
    except KioskError as exc:
        raise PageError(400, exc.message, exc.hint or "") from exc
    return redirect("/groups?done=group-saved")
