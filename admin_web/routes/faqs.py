"""FAQ entries: list with search, filters and paging; create, edit, delete, restore; alternates; try a question."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from admin_web.forms import EntryForm
from admin_web.web import (
    PER_PAGE,
    Editor,
    EditorWrite,
    Viewer,
    cached,
    clamp_page,
    current_kb,
    kb_context,
    page_count,
    render,
    state,
)
from core.db import transaction
from core.errors import KioskError
from knowledge.entries import FaqEntry, slugify
from knowledge.store import EntryInvalidError

_LOGGER = logging.getLogger(__name__)

router = APIRouter()


def _entry_url(kb: str, faq_id: str, done: str = "") -> str:
    url = f"/faqs/{quote(faq_id, safe='')}?kb={quote(kb, safe='')}"
    return url + (f"&done={done}" if done else "")


def _require_entry(request: Request, kb: str, faq_id: str, *, include_deleted: bool = True) -> FaqEntry:
    entry = state(request).store.get(kb, faq_id, include_deleted=include_deleted)
    if entry is None:
        raise HTTPException(404)
    return entry


class _EditConflictError(Exception):
    """The entry changed since the operator's form was loaded."""

    def __init__(self, current: FaqEntry) -> None:
        super().__init__(current.id)
        self.current = current


def _unique_id(request: Request, kb: str, question: str) -> str:
    store = state(request).store
    base = slugify(question)
    candidate, n = base, 2
    while store.get(kb, candidate, include_deleted=True) is not None:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@router.get("/faqs")
def faq_list(
    request: Request,
    actor: Viewer,
    q: str = "",
    category: str = "",
    language: str = "",
    enabled: str = "",
    deleted: str = "",
    page: int = 1,
) -> Response:
    st = state(request)
    kb = current_kb(request)
    filters = {
        "search": q.strip()[:200] or None,
        "category": category or None,
        "language": language or None,
        "enabled": {"1": True, "0": False}.get(enabled),
        "deleted_only": deleted == "1",
    }
    total = st.store.count(kb, **filters)
    page = clamp_page(page, total)
    entries = st.store.list(kb, **filters, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    languages = cached(
        st,
        ("languages", kb),
        lambda: [r[0] for r in st.db.execute("SELECT DISTINCT language FROM faqs WHERE kb = ? ORDER BY 1", [kb])],
    )
    params = {"q": q, "category": category, "language": language, "enabled": enabled, "deleted": deleted, "kb": kb}
    return render(
        request,
        "faqs.html",
        {
            **kb_context(request, kb),
            "entries": entries,
            "total": total,
            "page": page,
            "pages": page_count(total),
            "params": params,
            "categories": cached(st, ("categories", kb), lambda: st.store.categories(kb)),
            "languages": languages,
        },
    )


@router.get("/faqs/new")
def faq_new_page(request: Request, actor: Editor, question: str = "") -> Response:
    kb = current_kb(request)
    entry = FaqEntry(
        id="",
        question=question[:500],
        answer="",
        language=state(request)
        .store.db.execute("SELECT language FROM knowledge_bases WHERE name = ?", [kb])
        .fetchone()[0],
    )
    return render(
        request, "faq_edit.html", {**kb_context(request, kb), "entry": entry, "is_new": True, "editable": True}
    )


@router.post("/faqs/new")
def faq_create(
    request: Request,
    actor: EditorWrite,
    form: EntryForm,
    faq_id: Annotated[str, Form()] = "",
) -> Response:
    st = state(request)
    kb = current_kb(request)
    entry = replace(form, id=faq_id.strip())
    error = ""
    if entry.id and st.store.get(kb, entry.id, include_deleted=True) is not None:
        error = f"An entry with id {entry.id!r} already exists. Choose another id or leave it empty."
    else:
        if not entry.id and entry.question.strip():
            entry = replace(entry, id=_unique_id(request, kb, entry.question))
        try:
            stored = st.store.upsert(kb, entry, changed_by=actor.name)
        except EntryInvalidError as exc:
            error = exc.message
        else:
            st.accounts.audit("faq-create", user=actor.name, ip=actor.ip, target=f"{kb}/{stored.id}")
            return RedirectResponse(_entry_url(kb, stored.id, "created"), status_code=303)
    return render(
        request,
        "faq_edit.html",
        {**kb_context(request, kb), "entry": entry, "is_new": True, "editable": True, "error": error},
        status=400,
    )


@router.get("/faqs/{faq_id}")
def faq_page(request: Request, actor: Viewer, faq_id: str) -> Response:
    st = state(request)
    kb = current_kb(request)
    entry = _require_entry(request, kb, faq_id)
    return render(
        request,
        "faq_edit.html",
        {
            **kb_context(request, kb),
            "entry": entry,
            "is_new": False,
            "editable": actor.can("editor") and not entry.deleted_at,
            "revisions": list(reversed(st.store.revisions(kb, faq_id))),
        },
    )


@router.post("/faqs/{faq_id}")
def faq_save(
    request: Request,
    actor: EditorWrite,
    faq_id: str,
    form: EntryForm,
    revision: Annotated[str, Form()] = "",
) -> Response:
    st = state(request)
    kb = current_kb(request)
    old = _require_entry(request, kb, faq_id, include_deleted=False)
    entry = replace(form, id=faq_id.strip())
    try:
        # the revision the form was loaded with is checked in the same write transaction as the save:
        # of two operators saving the same entry, the second is told, not silently overwritten
        with transaction(st.db):
            current = _require_entry(request, kb, faq_id, include_deleted=False)
            if revision.isdigit() and int(revision) != current.revision:
                raise _EditConflictError(current)
            st.store.upsert(kb, entry, changed_by=actor.name)
    except _EditConflictError as conflict:
        latest = conflict.current
        by = (st.store.revisions(kb, faq_id) or [{}])[-1].get("changed_by") or "another operator"
        return render(
            request,
            "faq_edit.html",
            {
                **kb_context(request, kb),
                "entry": replace(entry, revision=latest.revision, updated_at=latest.updated_at),
                "is_new": False,
                "editable": True,
                "error": (
                    f"Not saved: {by} changed this entry while you were editing it (now revision "
                    f"{latest.revision}). Compare with the history, then save again to replace their version."
                ),
                "revisions": list(reversed(st.store.revisions(kb, faq_id))),
            },
            status=409,
        )
    except EntryInvalidError as exc:
        return render(
            request,
            "faq_edit.html",
            {
                **kb_context(request, kb),
                "entry": replace(entry, revision=old.revision),
                "is_new": False,
                "editable": True,
                "error": exc.message,
                "revisions": list(reversed(st.store.revisions(kb, faq_id))),
            },
            status=400,
        )
    st.accounts.audit("faq-update", user=actor.name, ip=actor.ip, target=f"{kb}/{faq_id}")
    return RedirectResponse(_entry_url(kb, faq_id, "saved"), status_code=303)


@router.post("/faqs/{faq_id}/delete")
def faq_delete(request: Request, actor: EditorWrite, faq_id: str) -> Response:
    st = state(request)
    kb = current_kb(request)
    _require_entry(request, kb, faq_id, include_deleted=False)
    st.store.delete(kb, faq_id, changed_by=actor.name)
    st.accounts.audit("faq-delete", user=actor.name, ip=actor.ip, target=f"{kb}/{faq_id}")
    return RedirectResponse(f"/faqs?kb={quote(kb, safe='')}&done=deleted", status_code=303)


@router.post("/faqs/{faq_id}/restore")
def faq_restore(request: Request, actor: EditorWrite, faq_id: str, revision: Annotated[str, Form()] = "") -> Response:
    st = state(request)
    kb = current_kb(request)
    _require_entry(request, kb, faq_id)
    try:
        st.store.restore(kb, faq_id, revision=int(revision) if revision.isdigit() else None, changed_by=actor.name)
    except KioskError as exc:
        _LOGGER.info("restore refused: %s", exc)
        raise HTTPException(404) from exc
    st.accounts.audit(
        "faq-restore", user=actor.name, ip=actor.ip, target=f"{kb}/{faq_id}", detail=f"revision {revision or 'latest'}"
    )
    return RedirectResponse(_entry_url(kb, faq_id, "restored"), status_code=303)


@router.post("/faqs/{faq_id}/enabled")
def faq_enable(request: Request, actor: EditorWrite, faq_id: str, enabled: Annotated[str, Form()] = "") -> Response:
    st = state(request)
    kb = current_kb(request)
    _require_entry(request, kb, faq_id, include_deleted=False)
    on = enabled in ("1", "on", "true")
    st.store.set_enabled(kb, faq_id, on, changed_by=actor.name)
    st.accounts.audit("faq-enable" if on else "faq-disable", user=actor.name, ip=actor.ip, target=f"{kb}/{faq_id}")
    back = request.headers.get("referer", "")
    if "/faqs?" in back or back.endswith("/faqs"):
        return RedirectResponse(
            f"/faqs?kb={quote(kb, safe='')}&done={'enabled' if on else 'disabled'}", status_code=303
        )
    return RedirectResponse(_entry_url(kb, faq_id, "enabled" if on else "disabled"), status_code=303)


@router.post("/faqs/{faq_id}/alternates")
def faq_alternate_add(request: Request, actor: EditorWrite, faq_id: str, text: Annotated[str, Form()] = "") -> Response:
    st = state(request)
    kb = current_kb(request)
    _require_entry(request, kb, faq_id, include_deleted=False)
    if text.strip():
        try:
            st.store.add_alternate(kb, faq_id, text, changed_by=actor.name)
        except EntryInvalidError as exc:
            _LOGGER.info("alternate refused: %s", exc)
            raise HTTPException(400) from exc
        st.accounts.audit("faq-alternate-add", user=actor.name, ip=actor.ip, target=f"{kb}/{faq_id}", detail=text[:200])
    return RedirectResponse(_entry_url(kb, faq_id, "alternate-added"), status_code=303)


@router.post("/faqs/{faq_id}/alternates/remove")
def faq_alternate_remove(
    request: Request, actor: EditorWrite, faq_id: str, index: Annotated[int, Form()] = -1
) -> Response:
    st = state(request)
    kb = current_kb(request)
    entry = _require_entry(request, kb, faq_id, include_deleted=False)
    if not 0 <= index < len(entry.alternates):
        raise HTTPException(400)
    removed = entry.alternates[index]
    alternates = entry.alternates[:index] + entry.alternates[index + 1 :]
    st.store.upsert(kb, replace(entry, alternates=alternates), changed_by=actor.name)
    st.accounts.audit(
        "faq-alternate-remove", user=actor.name, ip=actor.ip, target=f"{kb}/{faq_id}", detail=removed[:200]
    )
    return RedirectResponse(_entry_url(kb, faq_id, "alternate-removed"), status_code=303)


@router.get("/try")
def try_question(request: Request, actor: Viewer, q: str = "") -> Response:
    """Runs the real answer policy (no LLM, nothing logged) and shows how it decided."""
    st = state(request)
    kb = current_kb(request)
    result = None
    error = ""
    question = q.strip()[:500]
    if question:
        try:
            with st.backend_lock:  # worker thread: the backend's policy and connection, one caller at a time
                policy = st.backend.policy(kb, with_llm=False, log_turns=False)
                answer = policy.answer(question)
        except KioskError as exc:
            _LOGGER.warning("try a question failed [%s]: %s", exc.code, exc)
            error = f"The answer engine is not available: {exc.message}"
        else:
            matched = st.store.get(kb, answer.faq_id) if answer.faq_id else None
            candidates = []
            for cand in answer.candidates[:5]:
                candidates.append(
                    {
                        "faq_id": cand.faq_id,
                        "score": cand.score,
                        "question": cand.question,
                        "matched": cand.matched,
                        "dense": cand.dense,
                        "lexical": cand.lexical,
                    }
                )
            result = {"answer": answer, "matched": matched, "candidates": candidates}
    return render(request, "try.html", {**kb_context(request, kb), "q": question, "result": result, "error": error})
