"""The ``faq-typos`` data set of bench/matching.py: a real FAQ list without alternates, asked with typos.

``bench/data/faq_typos.json`` holds 65 public-service questions with their web-page answers (origin and
licence in its header) and 40 out-of-scope questions. Each entry's question is typed twice, and each
out-of-scope question once, by :func:`typed`: a fixed, seeded procedure of what a visitor's typing does
to a question (lower case, no punctuation, one word left out, one adjacent letter pair swapped).
"""

from __future__ import annotations

import json
import logging
import random
import re
from pathlib import Path

from knowledge.entries import FaqEntry

_LOGGER = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data" / "faq_typos.json"
SEED = 0
VARIANTS = 2  # typed versions of each entry's question


def typed(question: str, rng: random.Random) -> str:
    """``question`` as typed in a hurry: lower case, no punctuation, one word left out, two letters swapped."""
    words = re.sub(r"[^\w\s]", "", question.lower()).split()
    if len(words) >= 3:
        del words[rng.randrange(len(words))]
    swappable = [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha() and len(set(w)) > 1]
    if swappable:
        i = rng.choice(swappable)
        word = words[i]
        positions = [p for p in range(len(word) - 1) if word[p] != word[p + 1]]
        p = rng.choice(positions)
        words[i] = word[:p] + word[p + 1] + word[p] + word[p + 2 :]
    return " ".join(words)


def load(path: Path = DATA) -> tuple[list[FaqEntry], list[tuple[str, str]]]:
    """(entries with no alternates, typed ``(text, expected_id)`` rows; ``""`` for out of scope)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = [
        FaqEntry(id=e["id"], question=e["question"], answer=e["answer"], category=e.get("category", ""))
        for e in data["entries"]
    ]
    rng = random.Random(SEED)
    rows = [(typed(e.question, rng), e.id) for _ in range(VARIANTS) for e in entries]
    rows += [(typed(q, rng), "") for q in data["out_of_scope"]]
    return entries, rows
