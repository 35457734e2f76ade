"""Admin app speed with a big kiosk: FAQ list/search and conversation list p95 over HTTP (in process).

Builds a temporary kiosk home with 10,000 FAQ entries (30,000 phrasings) and
100,000 turns using ``executemany``, then times the real routes (SQL + Jinja
rendering) through the ASGI app. Prints one JSON object. Goal: p95 <= 100 ms.

    .venv/bin/python -m bench.admin [--entries 10000] [--turns 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = [
    "account",
    "card",
    "open",
    "close",
    "branch",
    "loan",
    "mortgage",
    "savings",
    "transfer",
    "cash",
    "deposit",
    "cheque",
    "fee",
    "rate",
    "online",
    "app",
    "password",
    "pin",
    "statement",
    "address",
    "phone",
    "hours",
    "weekend",
    "holiday",
    "parking",
    "toilet",
    "wifi",
    "coin",
    "foreign",
    "currency",
]
MODES = ("faq", "faq", "faq", "generated", "clarify", "fallback", "smalltalk")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def build(home_dir: Path, entries: int, turns: int) -> tuple[float, object]:
    from admin_web.app import create_app
    from core.db import utcnow
    from core.home import KioskHome
    from core.settings import load_settings

    rng = random.Random(7)
    home = KioskHome(home_dir).ensure()
    settings = load_settings(None, env={"KIOSK_DIALOG__KNOWLEDGE_BASE": "bench"})
    t0 = time.perf_counter()
    app = create_app(settings, home, purge=False)
    admin = app.state.admin
    store = admin.store
    store.create_kb("bench", title="Bench")
    now = utcnow()
    db = store.db
    faqs, phrasings = [], []
    for i in range(entries):
        faq_id = f"entry-{i:05d}"
        question = f"{_sentence(rng, 6)} question {i}?"
        faqs.append(
            ("bench", faq_id, question, _sentence(rng, 30), "", f"cat{i % 12}", "en", int(i % 17 != 0), 1, now, now)
        )
        phrasings.append(("bench", faq_id, "question", 0, question))
        phrasings += [("bench", faq_id, "alternate", k, _sentence(rng, 5)) for k in (1, 2)]
    with db.conn:
        db.conn.executemany(
            "INSERT INTO faqs (kb, id, question, answer, spoken_answer, category, language, enabled, revision,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            faqs,
        )
        db.conn.executemany(
            "INSERT INTO phrasings (kb, faq_id, kind, position, text) VALUES (?, ?, ?, ?, ?)", phrasings
        )
    start = datetime.now(UTC) - timedelta(days=89)
    step = timedelta(days=89) / turns
    rows = []
    for i in range(turns):
        ts = (start + step * i).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        mode = rng.choice(MODES)
        timings = json.dumps(
            {"asr": rng.uniform(100, 400), "match": rng.uniform(5, 40), "total": rng.uniform(200, 900)}
        )
        rows.append(
            (
                ts,
                "bench",
                f"s{i // 3}",
                "voice",
                _sentence(rng, 7),
                _sentence(rng, 20),
                mode,
                f"entry-{rng.randrange(entries):05d}" if mode == "faq" else None,
                rng.random(),
                "[]",
                timings,
                "",
            )
        )
    with db.conn:
        db.conn.executemany(
            "INSERT INTO turns (ts, kb, session_id, source, text, answer, mode, faq_id, score, candidates, timings,"
            " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.execute("ANALYZE")
    admin.accounts.create_user("bench", "bench-password-123", "viewer")
    return time.perf_counter() - t0, app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        build_s, app = build(Path(tmp) / "home", args.entries, args.turns)
        client = TestClient(app)
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"username": "bench", "password": "bench-password-123", "csrf_token": token})
        cases = {
            "faq_list": "/faqs",
            "faq_list_page_200": "/faqs?page=200",
            "faq_search": "/faqs?q=mortgage+rate",
            "faq_search_filtered": "/faqs?q=card&category=cat3&enabled=1",
            "conversation_list": "/conversations",
            "conversation_list_page_1000": "/conversations?page=1000",
            "conversation_filtered": "/conversations?kb=bench&mode=fallback&date_from=2000-01-01",
            "conversation_search": "/conversations?q=parking",
            "analytics_30d": "/analytics?days=30",
        }
        results = {}
        for name, path in cases.items():
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    print(f"{path}: HTTP {response.status_code}", file=sys.stderr)
                    return 1
            times.sort()
            results[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
            }
    goal = 100.0
    core = [k for k in results if k.startswith(("faq_", "conversation_"))]
    out = {
        "benchmark": "admin",
        "entries": args.entries,
        "turns": args.turns,
        "repeat": args.repeat,
        "build_s": round(build_s, 1),
        "results": results,
        "goal_p95_ms": goal,
        "goal_met": all(results[k]["p95_ms"] <= goal for k in core),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
