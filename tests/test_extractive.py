"""Answers from document passages without the LLM: the sentence or two that answer, never the hand-off."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import DialogSection, LlmSection
from dialog.events import AnswerMode
from dialog.extractive import extract
from dialog.policy import AnswerPolicy
from knowledge.entries import Document, FaqEntry
from knowledge.retrieval import MatchResult, Passage
from knowledge.store import FaqStore
from tests.fakes import ScriptedRetriever, candidate

EXHIBIT = (
    "The Blue Vase was made in Delft, in the Netherlands, around 1680. It was bought by the museum's founder "
    "in 1902 and has been on show in Room 4 ever since. The glaze was copied from Chinese porcelain, which "
    "was fashionable in Europe at the time. The vase is not for sale, and photography without flash is allowed."
)
ROOMS = "Room 4 is on the first floor, next to the café. Rooms 5 to 9 are closed for repairs until spring."


def test_the_sentence_that_answers_is_chosen() -> None:
    found = extract("Where was the blue vase made?", [ROOMS, EXHIBIT])
    assert found is not None and found.passage == EXHIBIT
    assert found.sentences[0] == "The Blue Vase was made in Delft, in the Netherlands, around 1680."
    assert found.sentences[1].startswith("It was bought")  # carries on from it, and the two are short


def test_yes_no_questions_are_answered_as_such_only_when_the_sentence_settles_them() -> None:
    said = extract("Is photography allowed?", [EXHIBIT])
    assert said is not None and said.sentences[0].startswith("Yes, the vase is not for sale")  # "allowed" is said
    no = extract("Is the vase for sale?", [EXHIBIT])
    assert no is not None and no.sentences[0].startswith("No, the vase is not for sale")
    unsure = extract("Was the vase made in China?", [EXHIBIT])  # "China" is not in the sentence: no guessing
    assert unsure is not None and not unsure.sentences[0].startswith(("Yes", "No"))


def test_nothing_in_common_gives_nothing() -> None:
    assert extract("What is the wifi password?", [EXHIBIT]) is None


class _PassageRetriever(ScriptedRetriever):
    """Scripted entries, plus the document passages every question finds."""

    def __init__(self, table, passages: list[Passage]) -> None:
        super().__init__(table)
        self.passages = passages

    def match(self, kb: str, text: str, k: int = 5) -> MatchResult:
        result = super().match(kb, text, k)
        return MatchResult(result.candidates, self.passages, result.timings_ms)


def _policy(tmp_path: Path, similarity: float) -> AnswerPolicy:
    store = FaqStore.open(tmp_path / "kiosk.db")
    store.create_kb("museum", title="Harbor Museum")
    store.upsert("museum", FaqEntry("hours", "When are you open?", "Every day from 10 to 6."))
    store.add_document("museum", Document("vase", "The Blue Vase", EXHIBIT))
    store.add_document("museum", Document("rooms", "Rooms", ROOMS))
    passages = [Passage("vase#0", EXHIBIT, similarity), Passage("rooms#0", ROOMS, similarity - 0.1)]
    table = {"where was the blue vase made": [("hours", 0.05)], "when are you open": [("hours", 0.95)]}
    retriever = _PassageRetriever(table, passages)
    return AnswerPolicy(
        kb="museum", store=store, retriever=retriever, dialog=DialogSection(), llm_settings=LlmSection()
    )


def test_a_question_a_passage_answers_never_gets_the_hand_off(tmp_path: Path) -> None:
    answer = _policy(tmp_path, 0.62).answer("Where was the blue vase made?")
    assert answer.mode == AnswerMode.GENERATED and answer.reason == "extractive"
    assert answer.sentences[0] == "The Blue Vase was made in Delft, in the Netherlands, around 1680."
    assert len(answer.sentences) <= 2 and answer.text == EXHIBIT  # spoken short, the passage on screen


def test_an_entry_still_wins_its_own_question_and_a_far_passage_is_no_answer(tmp_path: Path) -> None:
    assert _policy(tmp_path, 0.62).answer("When are you open?").faq_id == "hours"
    far = _policy(tmp_path / "far", 0.2).answer("Where was the blue vase made?")
    assert far.mode == AnswerMode.FALLBACK


def test_a_close_passage_that_does_not_say_gets_the_hand_off(tmp_path: Path) -> None:
    """About the exhibit, but its text never says: no other sentence about the vase is offered as the answer."""
    policy = _policy(tmp_path, 0.62)
    assert policy.answer("How much is the blue vase worth?").mode == AnswerMode.FALLBACK
    assert policy.answer("Who painted the blue vase?").mode == AnswerMode.FALLBACK
    assert policy.answer("When was the blue vase bought?").mode == AnswerMode.GENERATED  # "bought ... in 1902"


def test_candidate_helper_is_what_the_fakes_use() -> None:
    assert candidate("hours", 0.5).faq_id == "hours"


@pytest.mark.models
def test_an_exhibit_text_answers_with_real_matching(services) -> None:
    store = services.store
    store.create_kb("exhibits", title="Harbor Museum")
    store.upsert("exhibits", FaqEntry("hours", "When are you open?", "Every day from 10 to 6."))
    store.upsert("exhibits", FaqEntry("toilets", "Where are the toilets?", "On the ground floor, by the shop."))
    store.add_document("exhibits", Document("blue-vase", "The Blue Vase", EXHIBIT))
    store.add_document("exhibits", Document("rooms", "Rooms", ROOMS))
    services.retriever.prepare("exhibits")
    policy = services.policy("exhibits", with_llm=False, log_turns=False)
    answer = policy.answer("Where was the blue vase made?")
    assert answer.mode == AnswerMode.GENERATED and answer.reason == "extractive", answer
    assert "Delft" in answer.sentences[0] and len(answer.sentences) <= 2
    assert policy.answer("When are you open?").faq_id == "hours"
