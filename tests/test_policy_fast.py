"""The answer policy's decisions with a scripted matcher and LLM (no model): modes, two-part questions,
grounded generation and its fallbacks, a decision made earlier and reused.

The same policy with MiniLM, Chroma and SmolLM2 is tested in test_policy.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import DialogSection, LlmSection
from dialog.events import AnswerMode, AnswerSentence, AnswerStarted
from dialog.policy import AnswerPolicy, Conversation
from knowledge.entries import FaqEntry
from knowledge.store import FaqStore
from tests.fakes import ScriptedLlm, ScriptedRetriever

ENTRIES = [
    FaqEntry("parking", "Is there parking?", "Yes, there is free parking behind the branch for 40 cars."),
    FaqEntry("wifi", "Is there wifi?", "Free Wi-Fi is available in the lobby."),
    FaqEntry("hours", "When are you open?", "We are open from 9 to 5 on weekdays."),
]
TABLE = {
    "is there parking and free wifi": [("parking", 0.8), ("wifi", 0.5)],
    "is there parking": [("parking", 0.9)],
    "free wifi": [("wifi", 0.9)],
    "when are you open": [("hours", 0.97)],
    "something else entirely": [("hours", 0.05)],
}


def policy(tmp_path: Path, llm: ScriptedLlm | None = None) -> tuple[AnswerPolicy, ScriptedRetriever]:
    store = FaqStore.open(tmp_path / "kiosk.db")
    store.create_kb("bank", title="Test Bank")
    for entry in ENTRIES:
        store.upsert("bank", entry)
    retriever = ScriptedRetriever(TABLE)
    return AnswerPolicy(
        kb="bank", store=store, retriever=retriever, dialog=DialogSection(), llm_settings=LlmSection(), llm=llm
    ), retriever


def test_a_confident_entry_is_spoken_as_written(tmp_path: Path) -> None:
    p, _ = policy(tmp_path)
    answer = p.answer("when are you open")
    assert (answer.mode, answer.faq_id, answer.text) == (AnswerMode.FAQ, "hours", ENTRIES[2].answer)
    assert answer.sentences == (ENTRIES[2].answer,)


def test_nothing_close_gets_the_hand_off(tmp_path: Path) -> None:
    p, _ = policy(tmp_path)
    answer = p.answer("something else entirely")
    assert answer.mode == AnswerMode.FALLBACK and answer.text == DialogSection().fallback_message


def test_a_two_part_question_without_the_llm_says_each_entry(tmp_path: Path) -> None:
    p, _ = policy(tmp_path)
    answer = p.answer("is there parking and free wifi?")
    assert answer.mode == AnswerMode.FAQ and answer.faq_id == "parking"
    assert answer.sentences == (ENTRIES[0].answer, ENTRIES[1].answer)


def test_a_grounded_composition_is_spoken(tmp_path: Path) -> None:
    llm = ScriptedLlm("There is free parking behind the branch for 40 cars, and free Wi-Fi in the lobby.")
    p, _ = policy(tmp_path, llm)
    events = list(p.stream("is there parking and free wifi?"))
    assert isinstance(events[0], AnswerStarted) and events[0].mode == AnswerMode.GENERATED
    answer = events[-1].answer
    assert answer.mode == AnswerMode.GENERATED, answer.reason
    assert [e.text for e in events if isinstance(e, AnswerSentence)] == list(answer.sentences)
    assert "40 cars" in answer.text
    (prompt,) = llm.prompts
    assert ENTRIES[0].answer in prompt[-1].content and ENTRIES[1].answer in prompt[-1].content


def test_an_ungrounded_composition_is_replaced_by_the_entries(tmp_path: Path) -> None:
    p, _ = policy(tmp_path, ScriptedLlm("There is free parking behind the branch for 90 cars."))
    answer = p.answer("is there parking and free wifi?")
    assert answer.mode == AnswerMode.FAQ and answer.reason.startswith("ungrounded")
    assert answer.sentences == (ENTRIES[0].answer, ENTRIES[1].answer)  # never the wrong number


def test_an_llm_failure_falls_back_to_the_entries(tmp_path: Path) -> None:
    p, _ = policy(tmp_path, ScriptedLlm(error="the server is down"))
    answer = p.answer("is there parking and free wifi?")
    assert answer.mode == AnswerMode.FAQ and answer.reason.startswith("llm-error")
    assert answer.sentences == (ENTRIES[0].answer, ENTRIES[1].answer)


def test_a_decision_made_earlier_is_not_made_again(tmp_path: Path) -> None:
    p, retriever = policy(tmp_path)
    conversation = Conversation()
    decision = p.decide("when are you open", conversation)
    asked = list(retriever.asked)
    answer = [e for e in p.stream("when are you open", conversation, decision=decision)][-1].answer
    assert retriever.asked == asked and answer.faq_id == "hours"
    assert conversation.last_faq_id == "hours"


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_empty_questions_get_the_hand_off(tmp_path: Path, text: str) -> None:
    p, _ = policy(tmp_path)
    assert p.answer(text).mode == AnswerMode.FALLBACK
