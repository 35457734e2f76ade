"""A draft's entries: list, add, edit, delete; import a file with a preview; try a question on the draft.

The same fields and validation as the kiosk's entry editor (:class:`knowledge.entries.FaqEntry`), the same
parser and messages as ``kiosk kb import`` (:mod:`knowledge.io`): a file with any problem imports nothing and
lists each problem with its line. "Try a question" answers with the kiosk's real policy over the draft
(:class:`fleet.draft_matcher.DraftMatcher`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from admin_web.forms import MAX_IMPORT_BYTES, MAX_IMPORT_MB, EntryForm, parse_upload
from core.errors import KioskError
from fleet.drafts import Draft, DraftConflictError
from fleet.pages_knowledge import refused
from fleet.webkit import EditorWrite, PageError, Session, Viewer, kb_url, redirect, render, require_editor, web
from knowledge.entries import FaqEntry

_LOGGER = logging.getLogger(__name__)

router = APIRouter()

PREVIEW_ROWS = 50
ROW_PROBLEMS_SHOWN = 500


def _draft(request: Request, kb: str) -> Draft:
    draft = web(request).drafts.get(kb)
    if draft is None:
        raise PageError(404, f"{kb} has no draft.", "Start one on the knowledge base's page.")
    return draft


def _editor_page(
    request: Request, session: Session, draft: Draft, entry: FaqEntry, *, is_new: bool, rev: int = 0,
    error: str = "", status: int = 200,
) -> Response:  # fmt: skip
    return render(
        request, session, "fleet_entry.html", status, kb=draft.kb, draft=draft, entry=entry, is_new=is_new,
        rev=rev, error=error, editable=session.user.can("editor"),
    )  # fmt: skip


@router.get("/knowledge/{kb}/entries")
def entries_page(request: Request, session: Viewer, kb: str, q: str = "") -> Response:
    draft = _draft(request, kb)
    items = web(request).drafts.entries(kb, search=q[:200])
    return render(request, session, "fleet_entries.html", kb=kb, draft=draft, items=items, q=q[:200])


@router.get("/knowledge/{kb}/entries/new")
def entry_new_page(request: Request, session: Viewer, kb: str, question: str = "") -> Response:
    require_editor(session)
    draft = _draft(request, kb)
    return _editor_page(request, session, draft, FaqEntry(id="", question=question[:500], answer=""), is_new=True)


@router.post("/knowledge/{kb}/entries/new")
def entry_create(
    request: Request, session: EditorWrite, kb: str, form: EntryForm, faq_id: Annotated[str, Form()] = ""
) -> Response:
    draft = _draft(request, kb)
    entry = replace(form, id=faq_id.strip())
    try:
        stored = web(request).drafts.create_entry(kb, entry, actor=session.user.name)
    except KioskError as exc:
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        status = 409 if isinstance(exc, DraftConflictError) else 400
        return _editor_page(request, session, draft, entry, is_new=True, error=message, status=status)
    return redirect(kb_url(kb, f"/entries/{stored.id}", "created"))


@router.get("/knowledge/{kb}/entries/{faq_id}")
def entry_page(request: Request, session: Viewer, kb: str, faq_id: str) -> Response:
    draft = _draft(request, kb)
    found = web(request).drafts.entry(kb, faq_id)
    if found is None:
        raise PageError(404, f"The draft of {kb} has no entry {faq_id!r}.")
    return _editor_page(request, session, draft, found.entry, is_new=False, rev=found.rev)


@router.post("/knowledge/{kb}/entries/{faq_id}")
def entry_save(
    request: Request, session: EditorWrite, kb: str, faq_id: str, form: EntryForm, rev: Annotated[str, Form()] = ""
) -> Response:
    draft = _draft(request, kb)
    entry = replace(form, id=faq_id)
    try:
        web(request).drafts.save_entry(
            kb, entry, actor=session.user.name, loaded_rev=int(rev) if rev.isdigit() else None
        )
    except KioskError as exc:
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        status = 409 if isinstance(exc, DraftConflictError) else 400
        current = web(request).drafts.entry(kb, faq_id)
        return _editor_page(
            request, session, draft, entry, is_new=False, rev=current.rev if current else 0, error=message,
            status=status,
        )  # fmt: skip
    return redirect(kb_url(kb, f"/entries/{faq_id}", "saved"))


@router.post("/knowledge/{kb}/entries/{faq_id}/delete")
def entry_delete(request: Request, session: EditorWrite, kb: str, faq_id: str) -> Response:
    try:
        web(request).drafts.delete_entry(kb, faq_id, actor=session.user.name)
    except KioskError as exc:
        raise refused(exc) from exc
    return redirect(kb_url(kb, "/entries", "deleted"))


@router.post("/knowledge/{kb}/entries/{faq_id}/alternates")
def entry_alternate(
    request: Request, session: EditorWrite, kb: str, faq_id: str, text: Annotated[str, Form()] = ""
) -> Response:
    if text.strip():
        try:
            web(request).drafts.add_alternate(kb, faq_id, text, actor=session.user.name)
        except KioskError as exc:
            raise refused(exc) from exc
    return redirect(kb_url(kb, f"/entries/{faq_id}", "alternate-added"))


# -- import -----------------------------------------------------------------
@router.get("/knowledge/{kb}/import")
def import_page(request: Request, session: Viewer, kb: str) -> Response:
    require_editor(session)
    draft = _draft(request, kb)
    return render(request, session, "fleet_import.html", kb=kb, draft=draft, max_mb=MAX_IMPORT_MB)


@router.post("/import/{kb}")  # under /import: the body limit of uploads (admin_web.security.UPLOAD_PATHS)
async def import_preview(
    request: Request,
    session: EditorWrite,
    kb: str,
    file: Annotated[UploadFile, File()],
    fmt: Annotated[str, Form()] = "",
    replace_existing: Annotated[str, Form()] = "",
) -> Response:
    data = await file.read(MAX_IMPORT_BYTES + 1)
    filename = Path(file.filename or "upload").name[:120]
    return await run_in_threadpool(_preview, request, session, kb, data, filename, fmt, replace_existing == "1")


def _preview(
    request: Request, session: Session, kb: str, data: bytes, filename: str, fmt: str, replace_existing: bool
) -> Response:
    """Parse (never write); a clean file is staged for its uploader to confirm."""
    draft = _draft(request, kb)
    result, problems = parse_upload(data, filename, fmt)
    token, new, removed = "", 0, 0
    if not problems and not result.problems:
        drafts = web(request).drafts
        token = drafts.stage_import(
            kb, result.entries, actor=session.user.name, filename=filename, replace_existing=replace_existing
        )
        existing = {item.entry.id for item in drafts.entries(kb)}
        new = sum(1 for e in result.entries if e.id not in existing)
        removed = len(existing - {e.id for e in result.entries}) if replace_existing else 0
    return render(
        request, session, "fleet_import_preview.html", 200 if token else 400, kb=kb, draft=draft, filename=filename,
        problems=problems, row_problems=result.problems[:ROW_PROBLEMS_SHOWN], row_problem_count=len(result.problems),
        entries=result.entries[:PREVIEW_ROWS], entry_count=len(result.entries), lines=result.lines, token=token,
        new_count=new, update_count=len(result.entries) - new if token else 0, delete_count=removed,
        replace_existing=replace_existing,
    )  # fmt: skip


@router.post("/knowledge/{kb}/import/commit")
def import_commit(request: Request, session: EditorWrite, kb: str, token: Annotated[str, Form()] = "") -> Response:
    try:
        web(request).drafts.commit_import(kb, token, actor=session.user.name)
    except KioskError as exc:
        raise refused(exc) from exc
    return redirect(kb_url(kb, "/entries", "imported"))


# -- try a question ---------------------------------------------------------
@router.get("/knowledge/{kb}/try")
def try_page(request: Request, session: Viewer, kb: str, q: str = "") -> Response:
    """The kiosk's answer policy over the draft (no language model; nothing logged)."""
    draft = _draft(request, kb)
    fw = web(request)
    question, result, error = q.strip()[:500], None, ""
    if question:
        entries = [item.entry for item in fw.drafts.entries(kb)]
        if not entries:
            error = "The draft has no entries yet: add or import some first."
        else:
            try:
                result = fw.matcher.ask(kb, draft.revision, entries, question)
            except KioskError as exc:
                _LOGGER.warning("try a question on the draft of %s failed [%s]: %s", kb, exc.code, exc)
                error = f"The answer engine is not available: {exc.message}"
    return render(request, session, "fleet_try.html", kb=kb, draft=draft, q=question, result=result, error=error)
