"""Analytics: questions per day and hour, top questions, mode mix, latency percentiles (server-side SVG)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin_web import queries
from admin_web.charts import MODE_COLOURS, bar_chart, stacked_bar
from admin_web.web import Viewer, current_kb, kb_context, render, state
from dialog.redact import redact

router = APIRouter()


@router.get("/analytics")
def analytics(request: Request, actor: Viewer, days: int = 30) -> Response:
    st = state(request)
    kb = current_kb(request)
    days = days if days in (7, 30, 90, 365) else 30
    data = queries.analytics(st.db, kb, days=days)
    per_day = [(d[5:], n) for d, n in data["per_day"]]
    charts = {
        "per_day": bar_chart(per_day, title="Questions per day", label_every=max(1, days // 10)),
        "per_hour": bar_chart(
            data["per_hour"], title="Questions by hour of day (UTC)", width=420, label_every=3, colour="#4a5fc1"
        ),
        "modes": stacked_bar(data["mode_mix"], title="How questions were answered"),
    }
    top = [{**t, "text": redact(t["text"])} for t in data["top"]]
    return render(
        request,
        "analytics.html",
        {**kb_context(request, kb), "data": data, "charts": charts, "top": top, "colours": MODE_COLOURS, "days": days},
    )
