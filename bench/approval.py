"""Learning from the kiosk's own traffic: the gain of approving handed-off questions as alternates (JSON).

For each demo knowledge base (bank, metro, museum; English entries) with **every alternate removed**
(the usual first import: one phrasing per entry), the demo's evaluation questions
(``bench/data/<demo>_eval.csv``, visitor wordings with the right entry, or none when out of scope)
are split with a fixed seed, per expected entry, into a *traffic* half and a *held-out* half.
Nothing is tuned on either half.

1. The held-out half is measured through the real answer policy (no LLM, as ``kiosk eval``):
   answered with the right entry (in scope) and handed off (out of scope).
2. The traffic half is asked through the same policy with the turn log on (as the kiosk logs a
   visitor's turn: redacted, with its candidates).
3. The operator approves, on the admin app's Unanswered page over real HTTP, each handed-off
   (fallback or clarify) traffic question whose right entry is known, as an alternate of that entry:
   with one click when the page's suggestion (the matcher's top candidate) is right, else by choosing
   the entry. Out-of-scope questions are not approved (they would become new entries, not alternates).
4. The held-out half is measured again: the matcher re-indexes on the knowledge base's new version,
   as it does after any FAQ edit. The traffic half is asked again too (the next visitors asking the
   same questions): what an approval is sure to fix.

The fourth knowledge base, ``faq-typos``, is the FAQ list of ``bench/faq_typos.py`` (no alternates) with
its typed questions (two typings of each entry's question, one of each out-of-scope question) split the
same way.

Run: ``.venv/bin/python bench/approval.py [--demo bank|metro|museum|faq-typos]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.home import KioskHome  # noqa: E402
from core.settings import load_settings  # noqa: E402
from dialog.evaluation import evaluate  # noqa: E402

_LOGGER = logging.getLogger(__name__)

DEMOS = ("bank", "metro", "museum")
FAQ_TYPOS = "faq-typos"  # bench/faq_typos.py: a real FAQ list, its questions typed with typos
SEED = 0
OPERATOR = "operator"
PASSWORD = "a long enough benchmark password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def eval_rows(demo: str) -> list[tuple[str, str]]:
    """The demo's evaluation questions as ``(text, expected_id)``; ``""`` when out of scope."""
    with (ROOT / "bench" / "data" / f"{demo}_eval.csv").open(encoding="utf-8", newline="") as fh:
        rows = [(r["text"].strip(), (r.get("expected_id") or "").strip()) for r in csv.DictReader(fh)]
    return [r for r in rows if r[0]]


def split_traffic(rows: list[tuple[str, str]], seed: int = SEED) -> tuple[list, list]:
    """(traffic, held_out): each expected entry's questions (and the out-of-scope ones) shuffled with
    ``seed`` and dealt alternately to the two halves, the deal carrying on from one entry to the next
    (so the halves are the same size, and an entry asked only once lands in either)."""
    by_expected: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_expected[row[1]].append(row)
    rng = random.Random(seed)
    halves: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])
    dealt = 0
    for expected in sorted(by_expected):
        group = by_expected[expected]
        rng.shuffle(group)
        for row in group:
            halves[dealt % 2].append(row)
            dealt += 1
    traffic, held = halves
    return traffic, held


def _summary(report: dict[str, object]) -> dict[str, object]:
    keys = ("in_scope_n", "oos_n", "top1", "in_scope_accuracy", "oos_recall", "p95_ms")
    return {k: report[k] for k in keys}


def _operator(app):
    """A signed-in editor session on the admin app (real login, CSRF token from a page)."""
    from fastapi.testclient import TestClient

    app.state.admin.accounts.create_user(OPERATOR, PASSWORD, "editor")
    client = TestClient(app)
    login = client.get("/login")
    response = client.post(
        "/login",
        data={"username": OPERATOR, "password": PASSWORD, "csrf_token": _CSRF.search(login.text).group(1)},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise RuntimeError(f"benchmark operator could not sign in: {response.status_code}")
    return client, _CSRF.search(client.get("/unanswered").text).group(1)


def dataset(name: str) -> tuple[list, list[tuple[str, str]]]:
    """(English entries with every alternate removed, evaluation rows) of a demo or of ``faq-typos``."""
    if name == FAQ_TYPOS:
        from bench.faq_typos import load

        return load()
    from knowledge.demo import demo_file
    from knowledge.io import parse_jsonl

    parsed = parse_jsonl(demo_file(name).read_text(encoding="utf-8"))
    return [replace(e, alternates=()) for e in parsed.entries if e.language == "en"], eval_rows(name)


def run_demo(demo: str) -> dict[str, object]:
    from admin_web.app import create_app

    entries, rows = dataset(demo)
    traffic, held = split_traffic(rows)
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-approval-") as tmp:
        home = KioskHome(Path(tmp) / "home").ensure()
        app = create_app(load_settings(home.settings_file, env={}), home, purge=False)
        services = app.state.admin.backend
        services.store.create_kb(demo, title=demo, language="en")
        services.store.replace_all(demo, entries, changed_by="bench")
        services.retriever.prepare(demo)
        measure = services.policy(demo, with_llm=False, log_turns=False)
        measure.decide("warm up the embedding model")
        before, _ = evaluate(measure, held)

        live = services.policy(demo, with_llm=False, log_turns=True)
        expected_by_text: dict[str, str] = {}
        for text, expected in traffic:
            live.answer(text)
            expected_by_text[text] = expected
        turns = services.store.db.execute(
            "SELECT id, text, mode, candidates FROM turns WHERE kb = ? AND mode IN ('fallback', 'clarify')", [demo]
        ).fetchall()
        client, csrf = _operator(app)
        one_click = chosen = 0
        start = time.perf_counter()
        for turn_id, text, _mode, candidates in turns:
            expected = expected_by_text.get(text, "")
            if not expected:
                continue  # out of scope: the operator would write a new entry, not an alternate
            suggested = (json.loads(candidates or "[]") or [{}])[0].get("faq_id")
            one_click += suggested == expected
            chosen += suggested != expected
            response = client.post(
                f"/unanswered/alternate?kb={demo}",
                data={"csrf_token": csrf, "text": text, "faq_id": expected, "turn_ids": str(turn_id)},
                follow_redirects=False,
            )
            if response.status_code != 303:
                raise RuntimeError(f"approval of {text!r} failed: HTTP {response.status_code}")
        approve_ms = (time.perf_counter() - start) * 1000
        reindex_start = time.perf_counter()
        services.retriever.prepare(demo)
        reindex_s = time.perf_counter() - reindex_start
        after, _ = evaluate(services.policy(demo, with_llm=False, log_turns=False), held)
        asked_again, _ = evaluate(services.policy(demo, with_llm=False, log_turns=False), traffic)
        handed_off = len(turns)
    return {
        "dataset": demo,
        "entries": len(entries),
        "traffic_n": len(traffic),
        "held_out_n": len(held),
        "traffic_handed_off": handed_off,
        "approved": one_click + chosen,
        "approved_with_one_click": one_click,
        "approved_choosing_the_entry": chosen,
        "approve_ms_each": round(approve_ms / max(1, one_click + chosen), 1),
        "reindex_seconds": round(reindex_s, 1),
        "before": _summary(before),
        "after": _summary(after),
        "traffic_asked_again": _summary(asked_again),  # the same questions from the next visitors
        "answered_right_gain": round(float(after["in_scope_accuracy"]) - float(before["in_scope_accuracy"]), 4),
        "oos_handoff_change": round(float(after["oos_recall"]) - float(before["oos_recall"]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", choices=(*DEMOS, FAQ_TYPOS), action="append", help="default: all four")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = [run_demo(demo) for demo in args.demo or (*DEMOS, FAQ_TYPOS)]
    print(json.dumps({"benchmark": "approval", "seed": SEED, "results": results}, indent=2))


if __name__ == "__main__":
    main()
