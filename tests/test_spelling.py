"""Spelling correction of typed questions against the knowledge base's own words (no model)."""

from __future__ import annotations

import random

import pytest

from bench.faq_typos import typed
from knowledge.spelling import Speller, distance

TEXTS = [
    "Are there charges I should know about for my debit card?",
    "There are no charges for everyday use of your debit card. Cash machine fees may apply abroad.",
    "How do I renew my adult passport?",
    "You can renew your passport online with a digital photo.",
    "Where is the cash machine?",
    "Which charges apply to a passport renewal? The charges are on the screen.",
]


def speller() -> Speller:
    return Speller.build([*TEXTS, "Fines are charged."], known=frozenset({"zoo", "taxi", "airport", "faint"}))


def test_distance_counts_a_swap_as_one_edit() -> None:
    assert distance("chagres", "charges") == 1
    assert distance("passoprt", "passport") == 1
    assert distance("pasport", "passport") == 1
    assert distance("chrages", "charges") == 1
    assert distance("abc", "xyz", limit=2) == 3


def test_the_issue_question_is_corrected() -> None:
    assert speller().correct("are there chagres i should know about debit card") == (
        "are there charges i should know about debit card"
    )
    assert speller().correct("how do i renew my adult passoprt") == "how do i renew my adult passport"
    assert speller().correct("can i renew my pasport onlien") == "can i renew my passport online"


def test_words_it_knows_numbers_and_other_english_are_left_alone() -> None:
    s = speller()
    assert s.correct("Cash machine charges 2024") == "Cash machine charges 2024"
    assert s.correct("what time does the zoo open") == "what time does the zoo open"  # a word it knows of
    assert s.correct("how much is a taxi to the airport") == "how much is a taxi to the airport"
    assert s.correct("room 12b") == "room 12b"
    assert s.correct("someone has fainted") == "someone has fainted"  # "faint" with an ending, not "fined"
    assert s.correct("xyzzyq") == "xyzzyq"  # nothing near: as typed


def test_the_more_frequent_word_wins_a_tie() -> None:
    s = Speller.build(["cards cards cards", "carts"])
    assert s.correct_word("carps") == "cards"


_WORDS = ("are", "there", "charges", "i", "should", "know", "about", "for", "my", "debit", "card")


def test_the_typing_procedure_is_fixed_and_does_what_it_says() -> None:
    first = typed("Are there charges I should know about for my debit card?", random.Random(0))
    assert first == typed("Are there charges I should know about for my debit card?", random.Random(0))
    assert first == first.lower() and "?" not in first
    assert len(first.split()) == 10  # one of the 11 words left out
    original = set(_WORDS)
    assert sum(w not in original for w in first.split()) == 1  # one word with two letters swapped


@pytest.mark.models
def test_a_typed_question_with_typos_is_answered_from_the_bank_demo(bank_policy, services) -> None:
    result = services.retriever.match("bank", "i fogrot my pni numbre")
    assert result.timings_ms.get("corrected") == 1.0
    assert result.top is not None and result.top.faq_id == "bank-pin-forgotten"
    answer = bank_policy.answer("i fogrot my pni numbre")
    assert (answer.mode, answer.faq_id) == ("faq", "bank-pin-forgotten")
    clean = services.retriever.match("bank", "I forgot my PIN number")
    assert "corrected" not in clean.timings_ms  # nothing to correct: the question as typed


@pytest.mark.models
def test_an_out_of_scope_question_keeps_its_words(services) -> None:
    result = services.retriever.match("bank", "what time does the zoo open")
    assert "corrected" not in result.timings_ms
