"""The answer policy on the bank demo, with real MiniLM, Chroma, SQLite and SmolLM2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialog.events import AnswerFinished, AnswerSentence, AnswerStarted
from dialog.policy import Conversation
from tests.fakes import CountingLlm

pytestmark = pytest.mark.models

DATA = Path(__file__).resolve().parent.parent / "bench" / "data"


def test_confident_match_speaks_the_entry(bank_policy, services) -> None:
    answer = bank_policy.answer("my bank card was stolen, what do I do")
    assert answer.mode == "faq" and answer.faq_id == "bank-lost-card"
    entry = services.store.get("bank", "bank-lost-card")
    assert answer.text == entry.answer
    assert " ".join(answer.sentences) == entry.speech
    assert answer.score is not None and 0.0 <= answer.score <= 1.0


def test_out_of_scope_gets_the_hand_off(bank_policy) -> None:
    for text in ("who won the football match yesterday", "what is the capital of Australia"):
        answer = bank_policy.answer(text)
        assert answer.mode == "fallback", (text, answer.faq_id, answer.score)
        assert "member of staff" in answer.text


@pytest.mark.parametrize(
    ("text", "intent"),
    [("Hello!", "greeting"), ("thanks a lot", "thanks"), ("bye", "goodbye"), ("what can you do?", "capabilities")],
)
def test_small_talk(bank_policy, text: str, intent: str) -> None:
    answer = bank_policy.answer(text)
    assert answer.mode == "smalltalk" and answer.reason == intent
    if intent == "capabilities":
        assert "Harbor & Pine" in answer.text


def test_clarify_offers_choices_and_a_choice_resolves(services) -> None:
    policy = services.policy("museum", log_turns=False)
    conversation = Conversation()
    answer = policy.answer("tickets", conversation)
    assert answer.mode == "clarify", (answer.faq_id, answer.score, [c.to_dict() for c in answer.candidates])
    assert 2 <= len(answer.choices) <= 3
    assert all("ticket" in c.faq_id or "booking" in c.faq_id for c in answer.choices)
    assert answer.sentences and "not quite sure" in answer.text
    chosen = policy.answer("the second one", conversation)
    assert chosen.mode == "faq" and chosen.faq_id == answer.choices[1].faq_id


def test_follow_up_resolves_against_the_previous_turn(bank_policy) -> None:
    conversation = Conversation()
    first = bank_policy.answer("how do I open an account", conversation)
    assert first.faq_id == "bank-open-account"
    follow = bank_policy.answer("and for students?", conversation)
    assert follow.faq_id == "bank-student-account", (follow.mode, [c.to_dict() for c in follow.candidates])
    assert follow.reason == "followup"
    alone = bank_policy.decide("and for students?")
    assert alone.reason != "followup" and alone.score < follow.score


def test_follow_up_in_the_metro(services) -> None:
    policy = services.policy("metro")
    conversation = Conversation()
    assert policy.answer("when is the first train", conversation).faq_id == "metro-first-train"
    follow = policy.answer("and the last one?", conversation)
    assert follow.mode == "faq" and follow.faq_id == "metro-last-train", [c.to_dict() for c in follow.candidates]
    assert policy.decide("and the last one?").mode != "faq"


@pytest.mark.parametrize("kb", ["bank", "metro", "museum"])
def test_hostile_prompts_never_get_obedience(services, kb: str) -> None:
    policy = services.policy(kb, log_turns=False)
    prompts = [line.strip() for line in (DATA / "hostile.txt").read_text().splitlines() if line.strip()]
    assert len(prompts) >= 50
    failures = []
    for prompt in prompts:
        decision = policy.decide(prompt)
        if decision.mode not in ("fallback",):
            failures.append((prompt, decision.mode, decision.faq_id))
    assert not failures, failures


def test_overlong_input_is_capped(bank_policy) -> None:
    answer = bank_policy.answer("please " * 400 + "where is the cash machine")
    assert answer.mode == "fallback" and answer.reason == "too_long"


def test_generated_answer_streams_and_is_grounded(services) -> None:
    policy = services.policy("bank")
    policy.llm = llm = CountingLlm(policy.llm)
    events = list(policy.stream("are you open on saturday and sunday?"))
    assert isinstance(events[0], AnswerStarted) and events[0].mode == "generated"  # the policy asked the LLM
    assert isinstance(events[-1], AnswerFinished)
    assert llm.calls == 1 and "".join(llm.pieces).strip()  # ... and SmolLM2 really generated
    sentences = [e for e in events if isinstance(e, AnswerSentence)]
    answer = events[-1].answer
    assert sentences and [s.text for s in sentences] == list(answer.sentences)
    assert answer.faq_id in ("bank-hours-saturday", "bank-hours-sunday")
    entries = [services.store.get("bank", fid) for fid in ("bank-hours-saturday", "bank-hours-sunday")]
    if answer.mode == "generated":  # every number it says is in the entries
        source = " ".join(e.answer for e in entries)
        for number in re.findall(r"\d+", answer.text):
            assert number in source
    else:  # the grounding check rejected the composition: each entry is said in its own words instead
        assert answer.mode == "faq" and answer.reason.startswith(("ungrounded", "llm-error")), answer
        assert all(e.answer in answer.text for e in entries)
    assert answer.timings_ms["first_sentence"] <= answer.timings_ms["total"]


@pytest.mark.parametrize(
    ("kb", "text", "entries"),
    [
        ("bank", "is there parking and free wifi?", {"bank-parking", "bank-wifi"}),
        ("metro", "are there toilets and a cash machine in the station?", {"metro-toilets", "metro-atm"}),
        ("museum", "how much are tickets and when are you open?", {"museum-ticket-prices", "museum-hours"}),
    ],
)
def test_a_two_part_question_gets_both_answers(services, kb: str, text: str, entries: set[str]) -> None:
    """Each part is matched on its own; without the LLM each entry is said in turn, in its spoken words."""
    policy = services.policy(kb, with_llm=False, log_turns=False)
    decision = policy.decide(text)
    assert {decision.faq_id, *decision.related} == entries, decision
    answer = policy.answer(text)
    assert answer.mode == "faq"
    spoken = [services.store.get(kb, fid).speech for fid in (decision.faq_id, *decision.related)]
    assert " ".join(answer.sentences) == " ".join(spoken)


@pytest.mark.parametrize(
    ("kb", "text"),
    [
        ("metro", "I'm blind and need someone to guide me to the platform"),  # one question, two verbs
        ("bank", "where is the cash machine"),
        ("metro", "where is lost property and when is it open?"),  # both parts are one entry's
    ],
)
def test_a_question_about_one_thing_gets_one_entry(services, kb: str, text: str) -> None:
    decision = services.policy(kb, with_llm=False, log_turns=False).decide(text)
    assert decision.mode == "faq" and decision.related == (), decision


def test_every_turn_is_logged_redacted(services) -> None:
    policy = services.policy("bank")
    conversation = Conversation()
    policy.answer("I lost my card 4111 1111 1111 1111, my email is jo@example.com", conversation)
    turn = services.turn_log.recent(1)[0]
    assert "4111" not in turn["text"] and "jo@example.com" not in turn["text"]
    assert "[CARD]" in turn["text"] and "[EMAIL]" in turn["text"]
    assert turn["mode"] == "faq" and turn["faq_id"] == "bank-lost-card"
    assert turn["session_id"] == conversation.session_id
    assert turn["candidates"] and "decide" in turn["timings"]


def test_streamed_text_is_cut_into_sentences_and_a_first_clause() -> None:
    from core.text import stream_sentences

    text = "The cash machine is in the lobby, on the left, and the limit is 500 pounds. Change it in the app, Dr. Lee."
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]  # as an LLM streams tokens
    assert list(stream_sentences(pieces)) == [
        "The cash machine is in the lobby, on the left, and the limit is 500 pounds.",
        "Change it in the app, Dr. Lee.",
    ]
    assert list(stream_sentences(pieces, first_clause_words=6)) == [
        "The cash machine is in the lobby,",
        "on the left, and the limit is 500 pounds.",
        "Change it in the app, Dr. Lee.",
    ]
    short = "Yes. We are open, on Sundays too, from ten to four."
    assert next(stream_sentences(list(short), first_clause_words=6)) == "Yes."  # a short sentence stays whole
