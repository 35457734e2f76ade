"""The overview page, and switching the knowledge base the other pages work on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from admin_web.web import KB_COOKIE, Viewer, current_kb, kb_context, render, state
from core.heartbeat import read_heartbeat

router = APIRouter()


@router.get("/")
def dashboard(request: Request, actor: Viewer) -> Response:
    st = state(request)
    kb = current_kb(request)
    db = st.db
    today = datetime.now(UTC).date().isoformat()
    week = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    stats = {
        "entries": st.store.count(kb),
        "disabled": st.store.count(kb, enabled=False),
        "turns_today": db.execute("SELECT COUNT(*) FROM turns WHERE kb = ? AND ts >= ?", [kb, today]).fetchone()[0],
        "turns_week": db.execute("SELECT COUNT(*) FROM turns WHERE kb = ? AND ts >= ?", [kb, week]).fetchone()[0],
        "unanswered_week": db.execute(
            "SELECT COUNT(*) FROM turns WHERE kb = ? AND ts >= ? AND mode IN ('fallback', 'clarify')", [kb, week]
        ).fetchone()[0],
    }
    recent = list(
        db.query(
            "SELECT id, ts, text, mode FROM turns WHERE kb = ? ORDER BY ts DESC, id DESC LIMIT 8",
            [kb],
        )
    )
    return render(
        request,
        "dashboard.html",
        {**kb_context(request, kb), "stats": stats, "recent": recent, "heartbeat": read_heartbeat(st.home.root)},
    )


@router.get("/switch-kb")
def switch_kb(request: Request, actor: Viewer, kb: str = "", next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target.split("?")[0], status_code=303)
    if state(request).store.kb_exists(kb):
        response.set_cookie(
            KB_COOKIE, kb, httponly=True, samesite="strict", secure=state(request).secure_cookies, path="/"
        )
    return response
