"""Conversation logs: every turn with its redacted transcript, answer, mode, entry, score and stage timings."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from admin_web import queries
from admin_web.web import (
    PER_PAGE,
    SQLITE_MAX_INT,
    Viewer,
    clamp_page,
    kb_context,
    page_count,
    render,
    sane_page,
    state,
)
from dialog.policy import MODES
from dialog.redact import redact

router = APIRouter()


def _shown(turn: dict) -> dict:
    """Redacted once more on display: stored text is already redacted; this guards older or imported rows."""
    return {**turn, "text": redact(turn["text"] or ""), "answer": redact(turn["answer"] or "")}


@router.get("/conversations")
def conversation_list(
    request: Request,
    actor: Viewer,
    kb: str = "",
    mode: str = "",
    date_from: str = "",
    date_to: str = "",
    q: str = "",
    page: int = 1,
) -> Response:
    st = state(request)
    flt = queries.TurnFilter(kb=kb, mode=mode, date_from=date_from, date_to=date_to, search=q[:200])
    # count first to clamp the page
    page = sane_page(page)
    rows, total = queries.list_turns(st.db, flt, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    clamped = clamp_page(page, total)
    if clamped != page:
        rows, total = queries.list_turns(st.db, flt, limit=PER_PAGE, offset=(clamped - 1) * PER_PAGE)
    params = {"kb": kb, "mode": mode, "date_from": date_from, "date_to": date_to, "q": q}
    return render(
        request,
        "conversations.html",
        {
            **kb_context(request, kb),
            "kb_filter": kb,
            "turns": [_shown(t) for t in rows],
            "total": total,
            "page": clamped,
            "pages": page_count(total),
            "params": params,
            "modes": MODES,
        },
    )


@router.get("/conversations/{turn_id}")
def conversation_detail(request: Request, actor: Viewer, turn_id: int) -> Response:
    st = state(request)
    turn = queries.get_turn(st.db, turn_id) if 0 < turn_id <= SQLITE_MAX_INT else None
    if turn is None:
        raise HTTPException(404)
    session = [_shown(t) for t in queries.session_turns(st.db, turn["session_id"])]
    entry = st.store.get(turn["kb"], turn["faq_id"], include_deleted=True) if turn["faq_id"] else None
    return render(
        request,
        "conversation.html",
        {**kb_context(request, turn["kb"]), "turn": _shown(turn), "session_turns": session, "entry": entry},
    )
