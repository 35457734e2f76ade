"""Unanswered questions (fallback and clarify turns), grouped, with one-click fixes."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from admin_web import queries
from admin_web.grouping import group_questions
from admin_web.web import EditorWrite, Viewer, current_kb, kb_context, render, state
from dialog.redact import redact
from knowledge.store import EntryInvalidError

router = APIRouter()

MAX_GROUPS_SHOWN = 100
_NON_WORD = re.compile(r"[^\w]+")


def _key(text: str) -> str:
    """Questions already taught to the KB (any case or punctuation) are not shown again."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


@router.get("/unanswered")
def unanswered(request: Request, actor: Viewer, days: int = 30) -> Response:
    st = state(request)
    kb = current_kb(request)
    days = min(max(days, 1), 365)
    known = {_key(r[0]) for r in st.db.execute("SELECT text FROM phrasings WHERE kb = ?", [kb])}
    turns = [
        {**t, "text": redact(t["text"] or "")}
        for t in queries.unanswered_turns(st.db, kb, days=days)
        if _key(t["text"] or "") not in known
    ]
    with st.backend_lock:  # worker thread: the backend's sentence encoder, one caller at a time
        groups, method = group_questions(turns, embedder=st.backend.loaded_embedder())
    entries = st.store.list(kb)
    questions = {e.id: e.question for e in entries}
    return render(
        request,
        "unanswered.html",
        {
            **kb_context(request, kb),
            "groups": groups[:MAX_GROUPS_SHOWN],
            "group_count": len(groups),
            "method": method,
            "days": days,
            "entries": entries,
            "questions": questions,
        },
    )


@router.post("/unanswered/alternate")
def promote_alternate(
    request: Request,
    actor: EditorWrite,
    text: Annotated[str, Form()] = "",
    faq_id: Annotated[str, Form()] = "",
) -> Response:
    st = state(request)
    kb = current_kb(request)
    if not text.strip() or st.store.get(kb, faq_id) is None:
        raise HTTPException(400)
    try:
        st.store.add_alternate(kb, faq_id, text, changed_by=actor.name)
    except EntryInvalidError as exc:
        raise HTTPException(400) from exc
    st.accounts.audit(
        "faq-alternate-add",
        user=actor.name,
        ip=actor.ip,
        target=f"{kb}/{faq_id}",
        detail=f"from unanswered: {text[:200]}",
    )
    return RedirectResponse(f"/unanswered?kb={quote(kb, safe='')}&done=promoted", status_code=303)
