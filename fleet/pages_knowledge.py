"""Knowledge pages: the knowledge bases with their published versions and drafts; start, discard, publish,
roll back.

Publishing calls :meth:`fleet.store.FleetStore.publish` (the same as ``kiosk fleet publish``): kiosks of the
target site, group (or every kiosk) pull the new version at their next sync. The draft's documents (a title and
a text, typed or uploaded as .txt/.md) travel in the version with its entries. A roll-back publishes an earlier
version's entries again as a new version, so kiosks only ever move forward. A site's editor publishes for
that site only (or a group holding no other site); a viewer reads.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import Response

from core.errors import KioskError
from fleet.drafts import DraftConflictError, DraftMissingError
from fleet.webkit import (
    EditorWrite,
    PageError,
    Viewer,
    check_target_scope,
    kb_url,
    parse_target,
    redirect,
    render,
    target_options,
    visible_versions,
    web,
)
from knowledge.store import check_kb_name

_LOGGER = logging.getLogger(__name__)

router = APIRouter()

VERSIONS_SHOWN = 50


def refused(exc: KioskError) -> PageError:
    status = 409 if isinstance(exc, DraftConflictError) else 404 if isinstance(exc, DraftMissingError) else 400
    return PageError(status, exc.message, exc.hint or "")


def _checked_kb(kb: str) -> str:
    try:
        return check_kb_name(kb)
    except KioskError as exc:
        raise PageError(404, exc.message, exc.hint or "") from exc


@router.get("/knowledge")
def knowledge_list(request: Request, session: Viewer) -> Response:
    fw = web(request)
    versions = visible_versions(request, session, fw.store.versions())
    drafts = {d.kb: d for d in fw.drafts.drafts()}
    kbs: dict[str, dict[str, Any]] = {}
    for v in versions:
        kbs.setdefault(v["kb"], {"kb": v["kb"], "title": v["title"], "versions": [], "draft": None})
        kbs[v["kb"]]["versions"].append(v)
    for name, draft in drafts.items():
        kbs.setdefault(name, {"kb": name, "title": draft.title, "versions": [], "draft": None})["draft"] = draft
    return render(request, session, "fleet_knowledge.html", kbs=sorted(kbs.values(), key=lambda k: k["kb"]))


@router.get("/knowledge/{kb}")
def knowledge_base(request: Request, session: Viewer, kb: str) -> Response:
    fw = web(request)
    kb = _checked_kb(kb)
    versions = visible_versions(request, session, fw.store.versions(kb))
    draft = fw.drafts.get(kb)
    if not versions and draft is None:
        raise PageError(404, f"There is no knowledge base {kb!r}.", "Start one from the Knowledge page.")
    return render(
        request, session, "fleet_kb.html", kb=kb, draft=draft, versions=versions[:VERSIONS_SHOWN],
        version_count=len(versions), targets=target_options(request, session),
        documents=fw.drafts.documents(kb) if draft else [], title=draft.title if draft else versions[0]["title"],
    )  # fmt: skip


@router.post("/knowledge")
def draft_start(
    request: Request,
    session: EditorWrite,
    kb: Annotated[str, Form(max_length=64)] = "",
    from_version: Annotated[str, Form(max_length=12)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Start a draft: of a new knowledge base (empty), or of an existing one from a published version."""
    fw = web(request)
    kb = kb.strip()
    version = int(from_version) if from_version.strip().isdigit() else None
    if version is not None:
        found = visible_versions(request, session, [v for v in fw.store.versions(kb) if v["version"] == version])
        if not found:
            raise PageError(404, f"{kb} has no version {version} you can see.")
    try:
        fw.drafts.start(kb, actor=session.user.name, from_version=version, title=title)
    except KioskError as exc:
        raise refused(exc) from exc
    return redirect(kb_url(kb, done="draft-started"))


@router.post("/knowledge/{kb}/discard")
def draft_discard(request: Request, session: EditorWrite, kb: str) -> Response:
    try:
        web(request).drafts.discard(kb, actor=session.user.name)
    except KioskError as exc:
        raise refused(exc) from exc
    return redirect("/knowledge?done=draft-discarded")


@router.post("/knowledge/{kb}/publish")
def publish(
    request: Request,
    session: EditorWrite,
    kb: str,
    target: Annotated[str, Form(max_length=64)] = "",
    revision: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    site, group = parse_target(target)
    check_target_scope(request, session, site, group)
    fw = web(request)
    try:
        version = fw.drafts.publish(
            kb,
            site=site,
            group=group,
            actor=session.user.name,
            expected_revision=int(revision) if revision.isdigit() else None,
        )
    except KioskError as exc:
        raise refused(exc) from exc
    _LOGGER.info("%s published %s v%d for %s/%s from the draft", session.user.name, kb, version, site, group)
    return redirect(kb_url(kb, done="published"))


@router.post("/knowledge/{kb}/rollback")
def rollback(
    request: Request,
    session: EditorWrite,
    kb: str,
    version: Annotated[int, Form(ge=1)],
    target: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    site, group = parse_target(target)
    check_target_scope(request, session, site, group)
    fw = web(request)
    if not visible_versions(request, session, [v for v in fw.store.versions(kb) if v["version"] == version]):
        raise PageError(404, f"{kb} has no version {version} you can see.")
    try:
        new = fw.drafts.rollback(kb, version, site=site, group=group, actor=session.user.name)
    except KioskError as exc:
        raise refused(exc) from exc
    _LOGGER.info("%s rolled %s back to v%d's entries as v%d for %s", session.user.name, kb, version, new, site)
    return redirect(kb_url(kb, done="rolled-back"))


@router.get("/knowledge/{kb}/versions/{version}")
def version_page(request: Request, session: Viewer, kb: str, version: int) -> Response:
    """One published version's entries, read only (what a roll-back to it would publish)."""
    fw = web(request)
    meta = visible_versions(request, session, [v for v in fw.store.versions(kb) if v["version"] == version])
    payload = fw.store.kb_payload(kb, version) if meta else None
    if payload is None:
        raise PageError(404, f"{kb} has no version {version} you can see.")
    return render(request, session, "fleet_version.html", kb=kb, version=meta[0], entries=payload["entries"])


MAX_DOCUMENT_UPLOAD = 4 << 20  # under the /import body limit (admin_web.security.UPLOAD_BODY_LIMIT)


@router.post("/import/{kb}/document")  # under /import: the body limit of uploads (admin_web.security.UPLOAD_PATHS)
async def document_add(
    request: Request,
    session: EditorWrite,
    kb: str,
    title: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=MAX_DOCUMENT_UPLOAD)] = "",
    file: UploadFile | None = None,
) -> Response:
    """Add a document to the draft: a title and a text, or an uploaded .txt/.md (its title from the file name)."""
    from starlette.concurrency import run_in_threadpool

    from knowledge.io import decode

    kb = _checked_kb(kb)
    body, name = text, ""
    if file is not None and file.filename:
        name = file.filename
        if not name.lower().endswith((".txt", ".md", ".markdown")):
            raise PageError(400, f"{name}: only .txt or .md documents can be added.", "Save it as plain text.")
        data = await file.read(MAX_DOCUMENT_UPLOAD + 1)
        if len(data) > MAX_DOCUMENT_UPLOAD:
            raise PageError(413, f"{name} is larger than {MAX_DOCUMENT_UPLOAD >> 20} MiB.", "Split it.")
        try:
            body = decode(data, name)
        except KioskError as exc:
            raise PageError(400, exc.message, exc.hint or "") from exc
        title = title.strip() or name.rsplit(".", 1)[0].replace("-", " ").replace("_", " ")
    if not body.strip():
        raise PageError(400, "The document is empty.", "Type its text or choose a .txt or .md file.")
    try:
        await run_in_threadpool(web(request).drafts.add_document, kb, title, body, actor=session.user.name)
    except KioskError as exc:
        raise refused(exc) from exc
    return redirect(kb_url(kb, done="document-added") + "#documents")


@router.post("/knowledge/{kb}/documents/{doc_id}/delete")
def document_remove(request: Request, session: EditorWrite, kb: str, doc_id: str) -> Response:
    try:
        web(request).drafts.remove_document(kb, doc_id, actor=session.user.name)
    except KioskError as exc:
        raise refused(exc) from exc
    return redirect(kb_url(kb, done="document-removed") + "#documents")
