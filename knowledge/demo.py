"""The demo knowledge bases that ship with the product (fictional institutions)."""

from __future__ import annotations

import logging
from pathlib import Path

from knowledge.io import parse_jsonl
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent / "demo"

DEMOS = {
    "bank": "Harbor & Pine Savings Bank",
    "metro": "Rivermouth Metro",
    "museum": "Northlight Museum of Art and Science",
}


def demo_file(name: str) -> Path:
    return DEMO_DIR / f"{name}.jsonl"


def install_demo(store: FaqStore, name: str) -> int:
    """Create knowledge base ``name`` from its demo file; returns the number of entries."""
    result = parse_jsonl(demo_file(name).read_text(encoding="utf-8"))
    result.raise_for_problems(demo_file(name).name)
    store.create_kb(name, title=DEMOS[name], language="en")
    count = store.replace_all(name, result.entries, changed_by="demo")
    _LOGGER.info("installed demo knowledge base %s (%d entries)", name, count)
    return count


def ensure_kb(store: FaqStore, name: str) -> bool:
    """Make sure ``name`` exists, installing the demo of that name on first use. True if installed now."""
    if store.kb_exists(name):
        return False
    if name in DEMOS:
        install_demo(store, name)
        return True
    store.require_kb(name)  # raises with the list of known KBs
    return False
