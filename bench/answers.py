"""Answer speed and safety on the demo knowledge bases, through the real policy.

    .venv/bin/python bench/answers.py [--json]

Measures, on this machine:
- ``faq``: time from question text to the answer decision and its first sentence,
  over the held-out in-scope questions of bench/data/*_eval.csv (goal: <= 100 ms);
- ``match_10k``: matching time per query on a knowledge base with 10,000 alternates
  (goal: <= 30 ms);
- ``generated``: time to the first generated sentence with SmolLM2 for questions
  that combine two entries (goal: <= 700 ms), and how many passed the grounding check;
  ``first_sentence_when_asked`` is the visitor's wait whenever the LLM was asked, also
  when its first sentence failed the check and the entries' own texts were spoken;
- ``hostile``: share of bench/data/hostile.txt answered with a refusal or the
  hand-off on each demo knowledge base (goal: 100 %).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.home import KioskHome  # noqa: E402
from core.settings import load_settings  # noqa: E402
from knowledge.entries import FaqEntry  # noqa: E402

DATA = ROOT / "bench" / "data"
GENERATED_QUESTIONS = {
    "bank": [
        "are you open on saturday and sunday?",
        "where is the cash machine and how much can I take out?",
        "can I open an account and get a debit card?",
        "what are your opening hours on weekdays and saturdays?",
        "do you have a hearing loop and is the branch wheelchair accessible?",
        "is there parking and free wifi?",
        "how do I register for online banking and is there a mobile app?",
        "can I buy foreign currency and change it back later?",
    ],
    "metro": [
        "how much is a single ticket and a day pass?",
        "when are the first and last trains?",
        "where is lost property and when is it open?",
        "can I bring my bike and my dog on the train?",
        "are there toilets and a cash machine in the station?",
        "which line goes to the airport and how much is the ticket?",
        "do children travel free and is there a student discount?",
    ],
    "museum": [
        "how much are tickets and when are you open?",
        "is there a cafe and a cloakroom?",
        "can I take photos and bring my bag?",
        "is there a cafe and a restaurant?",
        "do you have an audio guide and guided tours?",
        "can I borrow a wheelchair and are there lifts?",
        "what time is last entry and do you have late openings?",
    ],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "max_ms": round(max(values), 1),
    }


def eval_questions(kb: str) -> list[str]:
    with (DATA / f"{kb}_eval.csv").open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle) if row["expected_id"]]


def synthetic_kb(n_entries: int = 200, per_entry: int = 50) -> list[FaqEntry]:
    colours = ["red", "blue", "green", "amber", "silver", "golden", "violet", "white", "black", "orange"]
    things = [
        "tram",
        "ferry",
        "locker",
        "ticket",
        "voucher",
        "parcel",
        "bicycle",
        "scooter",
        "badge",
        "pass",
        "key",
        "map",
        "umbrella",
        "coat",
        "stroller",
        "wheelchair",
        "tablet",
        "headset",
        "camera",
        "guide",
    ]
    verbs = [
        "where do I get",
        "how much is",
        "can I borrow",
        "I lost",
        "who do I ask about",
        "do you have",
        "how do I return",
        "can children use",
        "is there a deposit for",
        "can I book",
        "help with",
        "how long can I keep",
        "do I need ID for",
        "can I pay by card for",
        "is it available today:",
        "can I reserve online",
        "what happens if I damage",
        "can my friend collect",
        "is it accessible:",
        "where do I leave",
        "who is responsible for",
        "refund for",
        "is there a queue for",
        "rules for",
        "are pets allowed with",
        "at night can I use",
        "is it included in my ticket:",
        "age limit for",
        "do you sell",
        "discount on",
        "extend my",
        "report a problem with",
        "charge",
        "take outside",
        "is it insured:",
        "colour of",
        "see first",
        "weight of",
        "is it new:",
        "closing time of",
        "swap",
        "found",
        "give back tomorrow",
        "information about",
        "please,",
        "broken",
        "opening times for",
        "what is",
        "rules about",
        "queue for",
        "tell me about",
    ]
    subjects = [f"{c} {t}" for c in colours for t in things][:n_entries]
    return [
        FaqEntry(
            id=f"item-{i}",
            question=f"Tell me about the {s}.",
            answer=f"The {s} is at desk {i % 9 + 1}.",
            alternates=tuple(f"{v} the {s}" for v in verbs[:per_entry]),
            category="items",
        )
        for i, s in enumerate(subjects)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="(output is always JSON; kept for symmetry)")
    parser.add_argument("--skip-generated", action="store_true", help="Leave out the SmolLM2 measurements.")
    args = parser.parse_args()
    from dialog.events import AnswerFinished, AnswerSentence
    from runtime.services import KioskServices

    report: dict[str, object] = {"bench": "answers", "machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        home = KioskHome(Path(tmp)).ensure()
        services = KioskServices(settings=load_settings(None, env={}), home=home)

        faq_first = []
        for kb in ("bank", "metro", "museum"):
            policy = services.policy(kb, with_llm=False, log_turns=False)
            services.retriever.prepare(kb)
            policy.decide("warm up")
            for text in eval_questions(kb):
                start = time.perf_counter()
                for event in policy.stream(text):
                    if isinstance(event, AnswerSentence):
                        faq_first.append((time.perf_counter() - start) * 1000)
                        break
        report["faq_first_sentence"] = summary(faq_first)

        hostile = [line.strip() for line in (DATA / "hostile.txt").read_text().splitlines() if line.strip()]
        hostile_report = {}
        for kb in ("bank", "metro", "museum"):
            policy = services.policy(kb, with_llm=False, log_turns=False)
            refused = sum(policy.decide(p).mode == "fallback" for p in hostile)
            hostile_report[kb] = {"n": len(hostile), "refused_or_fallback": round(refused / len(hostile), 4)}
        report["hostile"] = hostile_report

        store = services.store
        store.create_kb("synthetic10k", title="Synthetic")
        entries = synthetic_kb()
        store.replace_all("synthetic10k", entries)
        start = time.perf_counter()
        services.retriever.prepare("synthetic10k")
        index_s = time.perf_counter() - start
        match_ms = []
        for i, entry in enumerate(entries[:100]):
            query = f"excuse me, {entry.alternates[i % 40]} please"
            t0 = time.perf_counter()
            services.retriever.match("synthetic10k", query)
            match_ms.append((time.perf_counter() - t0) * 1000)
        report["match_10k"] = {
            "alternates": sum(len(e.alternates) for e in entries),
            "index_seconds": round(index_s, 1),
            **summary(match_ms),
        }

        if not args.skip_generated:
            first, attempted_first, total, modes, rejected = [], [], [], [], []
            for kb, questions in GENERATED_QUESTIONS.items():
                policy = services.policy(kb, log_turns=False)
                policy.warm()  # as the kiosk does at start: models loaded, the system prompt evaluated
                for text in questions:
                    for event in policy.stream(text):
                        if isinstance(event, AnswerFinished):
                            answer = event.answer
                            modes.append(answer.mode)
                            if "generate" in answer.timings_ms:  # the LLM was asked
                                attempted_first.append(answer.timings_ms["first_sentence"])
                            if answer.mode == "generated":
                                first.append(answer.timings_ms["first_sentence"])
                                total.append(answer.timings_ms["total"])
                            elif answer.reason.startswith("ungrounded"):
                                rejected.append(answer.reason)
            report["generated"] = {
                "questions": len(modes),
                "asked_llm": len(attempted_first),
                "answered_generated": modes.count("generated"),
                "fell_back_to_entry": len(rejected),
                "first_sentence": summary(first),
                "first_sentence_when_asked": summary(attempted_first),
                "total": summary(total),
                "rejected": rejected,
            }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
