"""Unanswered questions grouped by similarity: embeddings when the model is loaded, else word overlap.

Greedy single pass, most recent first: a question joins the first group whose
representative is similar enough, otherwise it starts a new group.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.text import GROUPING_STOPWORDS

_LOGGER = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)
LEXICAL_THRESHOLD = 0.5
DENSE_THRESHOLD = 0.72
MAX_GROUPS = 200


@dataclass
class QuestionGroup:
    text: str  # representative (the most recent wording)
    turns: list[dict] = field(default_factory=list)
    suggestion: str | None = None  # faq_id the matcher found closest (from the turn's candidates)
    suggestion_score: float | None = None

    @property
    def count(self) -> int:
        return len(self.turns)

    @property
    def last_seen(self) -> str:
        return max(t["ts"] for t in self.turns)

    @property
    def turn_ids(self) -> str:
        """The group's turn ids, comma-separated: what one click approves (the server reads their texts)."""
        return ",".join(str(t["id"]) for t in self.turns if isinstance(t.get("id"), int))

    @property
    def asked_back(self) -> bool:
        """Whether the kiosk asked back ("did you mean ...?") rather than handing off, for some of the group."""
        return any(t.get("mode") == "clarify" for t in self.turns)

    @property
    def variants(self) -> list[str]:
        seen: dict[str, str] = {}
        for t in self.turns:
            seen.setdefault(t["text"].casefold(), t["text"])
        return list(seen.values())


def words(text: str) -> frozenset[str]:
    found = {w for w in _WORD.findall(text.casefold()) if w not in GROUPING_STOPWORDS}
    return frozenset(found or _WORD.findall(text.casefold()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _suggest(group: QuestionGroup, turn: dict) -> None:
    cands = turn.get("candidates") or []
    if group.suggestion is None and cands and isinstance(cands[0], dict) and cands[0].get("faq_id"):
        group.suggestion = str(cands[0]["faq_id"])
        score = cands[0].get("score")
        group.suggestion_score = float(score) if isinstance(score, int | float) else None


def _greedy(
    turns: list[dict], keys: list[Any], similarity: Callable[[Any, Any], float], threshold: float
) -> list[QuestionGroup]:
    """One pass: each turn joins the most similar group leader at or above ``threshold``, or leads a new group."""
    groups: list[QuestionGroup] = []
    leaders: list[Any] = []
    for turn, key in zip(turns, keys, strict=True):
        best, best_sim = None, threshold
        for i, leader in enumerate(leaders):
            sim = similarity(leader, key)
            if sim >= best_sim:
                best, best_sim = i, sim
        if best is None:
            if len(groups) >= MAX_GROUPS:
                continue
            groups.append(QuestionGroup(turn["text"]))
            leaders.append(key)
            best = len(groups) - 1
        groups[best].turns.append(turn)
        _suggest(groups[best], turn)
    return groups


def group_questions(turns: list[dict], *, embedder: Any = None) -> tuple[list[QuestionGroup], str]:
    """Groups (largest first) and the method used: ``embeddings`` or ``lexical``."""
    turns = [t for t in turns if (t.get("text") or "").strip()]
    if not turns:
        return [], "lexical"
    groups: list[QuestionGroup] = []
    method = "lexical"
    if embedder is not None:
        try:
            vectors = embedder.embed([t["text"] for t in turns])
            method = "embeddings"
            groups = _greedy(turns, list(vectors), lambda a, b: float(a @ b), DENSE_THRESHOLD)
        except Exception:
            _LOGGER.warning("embedding grouping failed; using word overlap", exc_info=True)
            groups, method = [], "lexical"
    if method == "lexical":
        groups = _greedy(turns, [words(turn["text"]) for turn in turns], jaccard, LEXICAL_THRESHOLD)
    groups.sort(key=lambda g: (-g.count, g.text.casefold()))
    return groups, method
