"""Answers from museum exhibit texts: the fact in what the kiosk says, how long it talks, how fast (JSON).

``bench/data/exhibits/`` holds twelve exhibit descriptions written for this benchmark (a painting, a
tower clock, a ship's figurehead, a fossil, a quilt, a steam engine, a coin hoard, an orrery, a diving
helmet, wreck porcelain, a wind instrument, a sea chart; 170-200 words each, original text) and
``questions.json``: 67 visitor questions over them with the fact each must get (one of a few acceptable
strings; 15 are yes/no questions with the right yes or no) and 12 questions about the exhibits that the
texts do not answer. The questions were written with the texts, before the benchmark was first run.

The texts are added as ``kiosk kb add-document`` adds them, to a fresh kiosk home's museum knowledge
base (the built-in demo, so its FAQ entries compete as they would in a real museum), and every question
goes through the kiosk's own answer policy as ``kiosk ask`` sends it: with the kiosk's default settings,
the local LLM included (``--no-llm``: without it).

Reported: the share of answerable questions whose fact is in the spoken answer (a yes/no question also
counts when the answer opens with the right "Yes" / "No", and fails when it opens with the wrong one);
the spoken length (max and p95 characters; the goal is about 250); the share of unanswerable questions
handed off (the hand-off or a "did you mean" question, never a stated passage); p50/p95 latency.

Two sets: ``--set test`` (the default, the folder above: run only to report, never to tune) and ``--set dev``
(``bench/data/exhibits/dev/``: eight more exhibit texts of other kinds, a label with its data lines, a
narrative, dates and numbers, a list of materials, and 51 questions (13 yes/no) plus 9 unanswerable, written
before any tuning, and 20 more unanswerable added before the hand-off was tuned: the set to tune on).

Run: ``.venv/bin/python bench/exhibits.py [--set dev|test] [--no-llm] [--errors]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.home import KioskHome  # noqa: E402
from core.settings import load_settings  # noqa: E402

_LOGGER = logging.getLogger(__name__)

SETS = {"test": ROOT / "bench" / "data" / "exhibits", "dev": ROOT / "bench" / "data" / "exhibits" / "dev"}
KB = "museum"
HANDED_OFF = ("fallback", "clarify")
_SPACE = re.compile(r"\s+")
_LEAD = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\u2019", "'").casefold()).strip()


def fact_found(spoken: str, expect: list[str], yes_no: str | None = None) -> bool:
    """Whether ``spoken`` states the expected fact (for a yes/no question: the right lead, or no lead and the fact)."""
    lead = _LEAD.match(spoken)
    if yes_no and lead:
        return lead.group(1).lower() == yes_no
    said = _norm(spoken)
    return any(_norm(e) in said for e in expect)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)


def add_exhibits(services, kb: str, data: Path) -> int:
    """Every exhibit text as a document of ``kb``, the way ``kiosk kb add-document FILE`` adds it."""
    from knowledge.entries import Document, slugify
    from knowledge.io import decode

    passages = 0
    for path in sorted(data.glob("*.md")):
        body = decode(path.read_bytes(), path.name)
        doc = services.store.add_document(kb, Document(slugify(path.stem), path.stem.replace("-", " "), body))
        passages += len(doc.chunks)
    services.retriever.prepare(kb)
    return passages


def run(*, with_llm: bool, errors: bool = False, which: str = "test") -> dict[str, object]:
    from runtime.services import KioskServices

    folder = SETS[which]
    data = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-exhibits-") as tmp:
        home = KioskHome(Path(tmp) / "home").ensure()
        services = KioskServices(settings=load_settings(home.settings_file, env={}), home=home)
        kb = services.kb_name(KB)  # the built-in museum demo
        passages = add_exhibits(services, kb, folder)
        policy = services.policy(kb, with_llm=with_llm, log_turns=False)
        policy.answer("Who built the first lighthouse?")  # loads the models, as the kiosk does at start-up
        rows = []
        for item in data["questions"]:
            rows.append({**_ask(policy, item["q"]), "expect": item["expect"], "yes_no": item.get("yes_no")})
        oos = [_ask(policy, q) for q in data["unanswerable"]]
        llm_used = bool(with_llm and policy.llm is not None)
    for row in rows:
        row["ok"] = fact_found(row["spoken"], row["expect"], row["yes_no"])
    yes_no = [r for r in rows if r["yes_no"]]
    lengths = [len(r["spoken"]) for r in rows]
    latencies = [r["ms"] for r in rows + oos]
    report: dict[str, object] = {
        "benchmark": "exhibits",
        "set": which,
        "llm": llm_used,
        "documents": len(list(folder.glob("*.md"))),
        "passages": passages,
        "questions": len(rows),
        "fact_in_spoken_answer": round(sum(r["ok"] for r in rows) / len(rows), 4),
        "yes_no_questions": len(yes_no),
        "yes_no_right": round(sum(r["ok"] for r in yes_no) / len(yes_no), 4),
        "answerable_handed_off": sum(r["mode"] in HANDED_OFF for r in rows),
        "modes": dict(Counter(r["mode"] for r in rows)),
        "spoken_chars_max": max(lengths),
        "spoken_chars_p95": percentile([float(n) for n in lengths], 0.95),
        "spoken_chars_median": percentile([float(n) for n in lengths], 0.5),
        "over_250_chars": sum(n > 250 for n in lengths),
        "unanswerable": len(oos),
        "unanswerable_handled": round(sum(r["mode"] in HANDED_OFF for r in oos) / len(oos), 4),
        "unanswerable_modes": dict(Counter(r["mode"] for r in oos)),
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p95_ms": percentile(latencies, 0.95),
    }
    if errors:
        report["errors"] = [{k: r[k] for k in ("q", "mode", "spoken", "expect")} for r in rows if not r["ok"]] + [
            {k: r[k] for k in ("q", "mode", "spoken")} for r in oos if r["mode"] not in HANDED_OFF
        ]
    return report


def _ask(policy, question: str) -> dict[str, object]:
    start = time.perf_counter()
    answer = policy.answer(question)
    ms = (time.perf_counter() - start) * 1000
    spoken = " ".join(answer.sentences) if answer.sentences else answer.text
    return {"q": question, "mode": str(answer.mode), "spoken": spoken, "ms": round(ms, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="test", help="test (report only) or dev (tune on)")
    parser.add_argument("--no-llm", action="store_true", help="answer without the local LLM (extractive only)")
    parser.add_argument("--errors", action="store_true", help="list the questions handled wrongly")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run(with_llm=not args.no_llm, errors=args.errors, which=args.set), indent=2))


if __name__ == "__main__":
    main()
