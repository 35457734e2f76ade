"""Unanswered questions (fallback and clarify turns), grouped, with one-click approval as alternates."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
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

_LOGGER = logging.getLogger(__name__)

router = APIRouter()

MAX_GROUPS_SHOWN = 100
MAX_APPROVED = 20  # wordings one approval adds (a group's distinct questions)
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
    turn_ids: Annotated[str, Form()] = "",
) -> Response:
    """Approve a question (or a whole group of them): each wording becomes an alternate of ``faq_id``.

    One click on the unanswered page: the group's wordings are read back from the turn log by id
    (stored redacted, and redacted again here), wordings the knowledge base already has are skipped,
    and the rest are added in one revision of the entry; the kiosk's matcher picks the change up as
    it does any FAQ edit (the knowledge base's version is bumped).
    """
    st = state(request)
    kb = current_kb(request)
    entry = st.store.get(kb, faq_id)
    if entry is None:
        raise HTTPException(400)
    asked = [text, *queries.unanswered_texts(st.db, kb, _ids(turn_ids))]
    if not any(a.strip() for a in asked):
        raise HTTPException(400)
    known = {_key(r[0]) for r in st.db.execute("SELECT text FROM phrasings WHERE kb = ?", [kb])}
    new: list[str] = []
    for wording in asked:
        clean = redact(" ".join(wording.split()))
        if _key(clean) and _key(clean) not in known:
            known.add(_key(clean))
            new.append(clean)
    new = new[:MAX_APPROVED]
    if new:
        try:
            st.store.upsert(kb, replace(entry, alternates=(*entry.alternates, *new)), changed_by=actor.name)
        except EntryInvalidError as exc:
            _LOGGER.info("approval refused: %s", exc)
            raise HTTPException(400) from exc
        st.accounts.audit(
            "faq-alternate-add",
            user=actor.name,
            ip=actor.ip,
            target=f"{kb}/{faq_id}",
            detail=f"approved from unanswered ({len(new)}): " + " | ".join(new)[:200],
        )
    return RedirectResponse(f"/unanswered?kb={quote(kb, safe='')}&done=promoted", status_code=303)


def _ids(raw: str) -> list[int]:
    """Turn ids from the form's comma-separated field; anything else in it is ignored."""
    return [int(part) for part in raw.split(",") if part.strip().isdigit()][:500]
