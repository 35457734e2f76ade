"""Unanswered questions grouped across kiosks (with counts per site) and analytics per site and per kiosk.

The grouping is the kiosk admin app's (:func:`admin_web.grouping.group_questions`): by meaning when the
server already has the sentence encoder loaded (a "try a question" loaded it), else by shared words. A
group's question becomes another way to ask an entry of the knowledge base's draft in one click. Charts
are the admin app's server-side SVG (:mod:`admin_web.charts`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from admin_web.charts import MODE_COLOURS, bar_chart, stacked_bar
from admin_web.grouping import group_questions
from core.errors import KioskError
from dialog.redact import redact
from fleet.pages_knowledge import refused
from fleet.reports import PERIODS, Scope, analytics, unanswered_turns
from fleet.webkit import EditorWrite, PageError, Viewer, redirect, render, visible_site, web

router = APIRouter()

MAX_GROUPS_SHOWN = 100
_NON_WORD = re.compile(r"[^\w]+")


def _key(text: str) -> str:
    """Questions the draft already knows (any case or punctuation) are not shown again."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


def _period(days: int) -> int:
    return days if days in PERIODS else 30


@router.get("/unanswered")
def unanswered(request: Request, session: Viewer, days: int = 30, site: str = "", kb: str = "") -> Response:
    fw = web(request)
    scope = Scope(days=_period(days), site=visible_site(session, site[:64]), kb=kb[:64] or None)
    turns = unanswered_turns(fw.store, scope)
    kbs = sorted({t["kb"] for t in turns if t["kb"]} | {d.kb for d in fw.drafts.drafts()})
    drafts = {d.kb for d in fw.drafts.drafts()}
    entries: dict[str, list[Any]] = {}
    known: set[str] = set()
    for name in drafts if not scope.kb else drafts & {scope.kb}:
        items = fw.drafts.entries(name)
        entries[name] = [item.entry for item in items]
        known |= {(name, _key(p)) for item in items for p in item.entry.phrasings}
    turns = [{**t, "text": redact(t["text"])} for t in turns if (t["kb"], _key(t["text"])) not in known]
    groups, method = group_questions(turns, embedder=fw.matcher.loaded_embedder())
    shown = []
    for group in groups[:MAX_GROUPS_SHOWN]:
        group_kbs = Counter(t["kb"] for t in group.turns)
        shown.append(
            {
                "group": group,
                "sites": sorted(Counter(t["site"] for t in group.turns).items(), key=lambda kv: (-kv[1], kv[0])),
                "kiosks": len({t["kiosk"] for t in group.turns}),
                "kb": group_kbs.most_common(1)[0][0] if group_kbs else "",
            }
        )
    return render(
        request, session, "fleet_unanswered.html", groups=shown, group_count=len(groups), method=method,
        days=scope.days, site=scope.site or "", kb=scope.kb or "", kbs=kbs, entries=entries,
        sites=fw.store.sites() if session.user.site is None else [session.user.site], turn_count=len(turns),
    )  # fmt: skip


@router.post("/unanswered/alternate")
def promote_alternate(
    request: Request,
    session: EditorWrite,
    kb: Annotated[str, Form(max_length=64)] = "",
    faq_id: Annotated[str, Form(max_length=80)] = "",
    text: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not text.strip() or not faq_id:
        raise PageError(400, "Choose an entry to add the question to.")
    try:
        web(request).drafts.add_alternate(kb, faq_id, text, actor=session.user.name, why="from unanswered: ")
    except KioskError as exc:
        raise refused(exc) from exc
    target = back if back.startswith("/unanswered") and not back.startswith("//") else "/unanswered"
    return redirect(target + ("&" if "?" in target else "?") + "done=alternate-added")


@router.get("/analytics")
def analytics_page(request: Request, session: Viewer, days: int = 30, site: str = "", kiosk: str = "") -> Response:
    fw = web(request)
    scope = Scope(days=_period(days), site=visible_site(session, site[:64]), kiosk=kiosk[:100] or None)
    data = analytics(fw.store, scope)
    charts = {
        "per_day": bar_chart([(d[5:], n) for d, n in data["per_day"]], title="Turns per day",
                             label_every=max(1, scope.days // 10)),
        "modes": stacked_bar(data["mode_mix"], title="How questions were answered"),
    }  # fmt: skip
    filters = {k: v for k, v in (("days", scope.days), ("site", scope.site), ("kiosk", scope.kiosk)) if v}
    return render(
        request, session, "fleet_analytics.html", data=data, charts=charts, colours=MODE_COLOURS, days=scope.days,
        site=scope.site or "", kiosk=scope.kiosk or "", query=urlencode(filters),
        sites=fw.store.sites() if session.user.site is None else [session.user.site],
    )  # fmt: skip
