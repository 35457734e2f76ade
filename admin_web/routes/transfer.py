"""Import (upload → preview with row-level problems → commit) and spreadsheet-safe export.

Parsing never writes. A clean file is kept in memory under a random token for
the operator who uploaded it (for 30 minutes); only "Import" with that token
writes, in one transaction. A file with any problem cannot be committed, unless
the operator ticks "import the valid rows and skip the bad ones" (the CLI's
``kiosk kb import --skip-bad``): then a file whose problems are all single rows'
own imports its valid rows, and the result page lists the rows that were skipped.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from admin_web.forms import MAX_IMPORT_BYTES, MAX_IMPORT_MB, parse_upload
from admin_web.web import Actor, Editor, EditorWrite, Viewer, current_kb, kb_context, render, state
from core.backup import backup_quietly
from knowledge.entries import FaqEntry
from knowledge.io import ImportProblem, export

_LOGGER = logging.getLogger(__name__)

router = APIRouter()

PENDING_TTL_S = 1800
PREVIEW_ROWS = 50


@dataclass
class PendingImport:
    user: str
    kb: str
    filename: str
    entries: list[FaqEntry]
    replace_existing: bool
    created: float
    skipped: list[ImportProblem] = field(default_factory=list)  # bad rows left out (skip-bad)


@dataclass
class ImportReport:
    """What a skip-bad import did, kept for its result page (same lifetime as a pending import)."""

    user: str
    kb: str
    filename: str
    count: int
    skipped: list[ImportProblem]
    created: float


def _prune(pending: dict) -> None:
    now = time.monotonic()
    for key in [k for k, v in pending.items() if now - v.created > PENDING_TTL_S]:
        del pending[key]


@router.get("/import")
def import_page(request: Request, actor: Editor) -> Response:
    kb = current_kb(request)
    return render(request, "import.html", {**kb_context(request, kb), "max_mb": MAX_IMPORT_MB})


@router.post("/import")
async def import_preview(
    request: Request,
    actor: EditorWrite,
    file: Annotated[UploadFile, File()],
    fmt: Annotated[str, Form()] = "",
    replace_existing: Annotated[str, Form()] = "",
    skip_bad: Annotated[str, Form()] = "",
) -> Response:
    data = await file.read(MAX_IMPORT_BYTES + 1)  # the only await: parsing and the database on a worker thread
    filename = Path(file.filename or "upload").name[:120]
    return await run_in_threadpool(
        _preview, request, actor, data, filename, fmt, replace_existing == "1", skip_bad == "1"
    )


def _preview(
    request: Request, actor: Actor, data: bytes, filename: str, fmt: str, replace_existing: bool, skip_bad: bool
) -> Response:
    st = state(request)
    kb = current_kb(request)
    result, problems = parse_upload(data, filename, fmt)
    skipping = skip_bad and bool(result.problems) and result.only_bad_rows and not problems
    if skipping and replace_existing:  # the skipped rows' entries would be deleted: refuse rather than lose them
        problems.append(
            "Skipping bad rows cannot be combined with Replace: the entries of the skipped rows would be deleted."
            " Fix the rows below, or import without Replace."
        )
        skipping = False
    token = ""
    existing_ids: set[str] = set()
    if not problems and (skipping or not result.problems):
        token = secrets.token_urlsafe(24)
        with st.lock:
            _prune(st.pending_imports)
            st.pending_imports[token] = PendingImport(
                actor.name,
                kb,
                filename,
                result.entries,
                replace_existing,
                time.monotonic(),
                skipped=list(result.problems) if skipping else [],
            )
        existing_ids = {e.id for e in st.store.list(kb)}
    new = sum(1 for e in result.entries if e.id not in existing_ids)
    to_delete = len(existing_ids - {e.id for e in result.entries}) if replace_existing else 0
    return render(
        request,
        "import_preview.html",
        {
            **kb_context(request, kb),
            "filename": filename,
            "problems": problems,
            "row_problems": result.problems[:500],
            "row_problem_count": len(result.problems),
            "entries": result.entries[:PREVIEW_ROWS],
            "entry_count": len(result.entries),
            "lines": result.lines,
            "new_count": new if token else 0,
            "update_count": len(result.entries) - new if token else 0,
            "delete_count": to_delete,
            "token": token,
            "replace_existing": replace_existing,
            "skip_bad": skip_bad,
            "skipping": bool(token) and skipping,
        },
        status=200 if token else 400,
    )


@router.post("/import/commit")
def import_commit(request: Request, actor: EditorWrite, token: Annotated[str, Form()] = "") -> Response:
    st = state(request)
    with st.lock:  # worker thread: one commit per token, even when the button is pressed twice
        _prune(st.pending_imports)
        pending = st.pending_imports.get(token)
        if not isinstance(pending, PendingImport) or pending.user != actor.name:
            raise HTTPException(404)
        del st.pending_imports[token]
    if pending.replace_existing:
        backup_quietly(st.home.database, "pre-import")  # logged, never blocks the import
    count = st.store.replace_all(
        pending.kb, pending.entries, replace_existing=pending.replace_existing, changed_by=actor.name
    )
    st.accounts.audit(
        "faq-import",
        user=actor.name,
        ip=actor.ip,
        target=pending.kb,
        detail=f"{pending.filename}: {count} entries{' (replace)' if pending.replace_existing else ''}"
        + (f", {len(pending.skipped)} bad row(s) skipped" if pending.skipped else ""),
    )
    if not pending.skipped:
        return RedirectResponse(f"/faqs?kb={quote(pending.kb, safe='')}&done=imported", status_code=303)
    report_token = secrets.token_urlsafe(24)
    with st.lock:
        st.pending_imports[f"report:{report_token}"] = ImportReport(
            actor.name, pending.kb, pending.filename, count, pending.skipped, time.monotonic()
        )
    return RedirectResponse(
        f"/import/result?kb={quote(pending.kb, safe='')}&token={report_token}&done=imported", status_code=303
    )


@router.get("/import/result")
def import_result(request: Request, actor: Editor, token: str = "") -> Response:
    """The result of a skip-bad import: how many entries went in, and every row that was skipped."""
    st = state(request)
    with st.lock:
        _prune(st.pending_imports)
        report = st.pending_imports.get(f"report:{token}")
    if not isinstance(report, ImportReport) or report.user != actor.name:
        raise HTTPException(404)
    return render(
        request,
        "import_result.html",
        {
            **kb_context(request, report.kb),
            "filename": report.filename,
            "count": report.count,
            "skipped": report.skipped[:500],
            "skipped_count": len(report.skipped),
        },
    )


@router.get("/export")
def export_file(request: Request, actor: Viewer, fmt: str = "csv") -> Response:
    st = state(request)
    kb = current_kb(request)
    if fmt not in ("csv", "jsonl", "md"):
        raise HTTPException(404)
    entries = st.store.list(kb)
    body = export(entries, fmt, title=st.store.kb_title(kb), spreadsheet=True)
    media = {"csv": "text/csv", "jsonl": "application/x-ndjson", "md": "text/markdown"}[fmt]
    st.accounts.audit("faq-export", user=actor.name, ip=actor.ip, target=kb, detail=fmt)
    headers = {"Content-Disposition": f'attachment; filename="{kb}-faqs.{fmt}"'}
    if fmt == "csv":
        body = "\ufeff" + body  # spreadsheets detect UTF-8 by the BOM
    return Response(body, media_type=f"{media}; charset=utf-8", headers=headers)
