"""Measuring the answer policy on labelled questions (shared by ``kiosk eval retrieval`` and bench/matching.py).

Each row is ``(text, expected_id)``; an empty ``expected_id`` means the question is
out of scope. A row in scope counts as answered only when the policy answers
(mode ``faq`` or ``generated``) with the expected entry; a clarify question does
not count. An out-of-scope row counts when the policy falls back.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dialog.policy import AnswerPolicy

_LOGGER = logging.getLogger(__name__)

ANSWERED_MODES = ("faq", "generated")


def _ratio(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[pos], 2)


def evaluate(
    policy: AnswerPolicy, rows: Sequence[tuple[str, str]]
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """(report, errors): the report has n, in_scope_n, oos_n, top1, top3, in_scope_accuracy, oos_recall,
    ms_per_query, p50_ms and p95_ms; errors lists the rows handled wrongly."""
    top1 = top3 = answered = oos_ok = 0
    times: list[float] = []
    errors: list[dict[str, object]] = []
    for text, expected in rows:
        start = time.perf_counter()
        decision = policy.decide(text)
        times.append((time.perf_counter() - start) * 1000)
        ranked = [c.faq_id for c in decision.candidates]
        if expected:
            top1 += ranked[:1] == [expected]
            top3 += expected in ranked[:3]
            ok = decision.mode in ANSWERED_MODES and decision.faq_id == expected
            answered += ok
        else:
            ok = decision.mode == "fallback"
            oos_ok += ok
        if not ok:
            errors.append({"text": text, "expected": expected, "mode": decision.mode, "got": decision.faq_id})
    in_scope = sum(1 for _, e in rows if e)
    oos = len(rows) - in_scope
    report: dict[str, object] = {
        "n": len(rows),
        "in_scope_n": in_scope,
        "oos_n": oos,
        "top1": _ratio(top1, in_scope),
        "top3": _ratio(top3, in_scope),
        "in_scope_accuracy": _ratio(answered, in_scope),
        "oos_recall": _ratio(oos_ok, oos),
        "ms_per_query": round(statistics.mean(times), 2) if times else None,
        "p50_ms": _percentile(times, 0.5),
        "p95_ms": _percentile(times, 0.95),
    }
    return report, errors
