"""The grounding check on the mistakes SmolLM2 makes when it composes an answer from two demo entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialog.grounding import check_sentence

DEMO = Path(__file__).resolve().parents[1] / "knowledge" / "demo"
ENTRIES = {
    row["id"]: row
    for name in ("bank", "metro", "museum")
    for row in map(json.loads, (DEMO / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())
}


def passages(*ids: str) -> list[str]:
    """What the policy checks a composed answer against: the entries' answers and spoken answers."""
    return [ENTRIES[i]["answer"] for i in ids] + [
        ENTRIES[i]["spoken_answer"] for i in ids if ENTRIES[i].get("spoken_answer")
    ]


FARES = ("metro-fare-single", "metro-fare-day-pass")
STATION = ("metro-atm", "metro-toilets")
FOOD = ("museum-cafe", "museum-restaurant")
TRAVEL = ("metro-bikes", "metro-pets")
WEEKEND = ("bank-hours-saturday", "bank-hours-sunday")
AIRPORT = ("metro-route-airport", "metro-fare-airport", "metro-fare-single")


@pytest.mark.parametrize(
    ("sentence", "ids"),
    [
        ("A single ticket costs 2 pounds 40 in zone A, and a day pass costs 6 pounds 50 for zones A and B.", FARES),
        ("A day pass is valid until 4:30 the next morning.", FARES),  # "It gives ... until 4:30": the passage's subject
        ("A single is valid for 90 minutes.", FARES),
        ("Yes, there are cash machines next to the supermarket on the concourse.", STATION),
        ("The toilets are on the main concourse, next to exit C.", STATION),
        ("There is one more cash machine by exit A.", STATION),
        ("Full-size bikes are not allowed between 7 and 9:30 in the morning.", TRAVEL),
        ("Dogs must not sit on the seats.", TRAVEL),
        ("The Sky Terrace Restaurant on level 3 serves lunch from 12 to 4.", FOOD),
        (
            "We're open Monday to Friday, 9 am to 5 pm, and on Saturdays, we're open from 9:30 am to 1 pm.",
            ("bank-hours-weekdays", "bank-hours-saturday"),
        ),
        (
            "The first train leaves at 5:15, and the last train leaves at 12:30.",
            ("metro-first-train", "metro-last-train"),
        ),
        ("On Saturdays the branch is open from 9:30 in the morning until 1 in the afternoon.", WEEKEND),
        ("The branch is closed on Sundays.", WEEKEND),
        ("The branch is open on Saturdays and closed on Sundays.", WEEKEND),
        ("Yes, connect to the Wi-Fi network called HarborPine-Guest.", ("bank-wifi", "bank-parking")),  # "no password"
    ],
)
def test_faithful_sentences_pass(sentence: str, ids: tuple[str, ...]) -> None:
    grounding = check_sentence(sentence, passages(*ids), "are you open on saturday and sunday?")
    assert grounding.ok, grounding.reason


@pytest.mark.parametrize(
    ("sentence", "ids", "reason"),
    [
        # true numbers, swapped between the two entries
        ("A single ticket is 2 pounds 40, while a day pass is 2 pounds 40.", FARES, "no passage sentence says"),
        ("A day pass is valid for 90 minutes.", FARES, "no passage sentence says"),
        ("A single ticket and a day pass are both 2 pounds 40 within zone A.", FARES, "no passage sentence says"),
        ("The Red Line goes to the airport and costs 2 pounds 40.", AIRPORT, "no passage sentence says"),
        ("The cash machines are on the main concourse next to exit C.", STATION, "no passage sentence says"),  # toilets
        ("The toilets are on the main concourse next to exit D.", STATION, "not in the passages: D"),
        ("Yes, the cafe and restaurant on level 3 are a cafe and a restaurant.", FOOD, "no passage sentence says"),
        # a number no passage has
        ("The restaurant serves lunch from 12 to 5.", FOOD, "not in the passages: 5"),
        # yes turned into no, and no into yes
        ("There are no cash machines next to the supermarket on the concourse.", STATION, "yes or no around"),
        ("The cash machines are not in the station.", STATION, "yes or no around"),  # "you don't need cash" ties
        ("Yes, the branch is open on Saturdays and Sundays.", WEEKEND, "yes or no around"),  # "on Sundays" alone
        ("No, we cannot buy foreign currency.", ("bank-currency-exchange", "bank-currency-sell-back"), "yes or no"),
        ("The Cafe Lumen is a cafe, not a restaurant.", FOOD, "yes or no around"),
        ("Full-size bikes are allowed between 7 and 9:30 in the morning.", TRAVEL, "yes or no around"),
        ("Dogs can sit on the seats.", TRAVEL, "yes or no around"),
        # a loop, and a sentence that says nothing
        (
            "The first and last trains are the first and last trains.",
            ("metro-first-train", "metro-last-train"),
            "repeats",
        ),
        ("Yes, I am.", ("bank-hours-saturday", "bank-hours-sunday"), "says nothing"),
        # true words from two entries, mixed into something neither says
        ("Cafe Lumen serves dinner on Fridays on the ground floor.", FOOD, "mixes facts"),
        # words from elsewhere
        ("The cafe serves sushi and champagne on the rooftop pool deck.", FOOD, "of its words are in the passages"),
    ],
)
def test_unfaithful_sentences_fail(sentence: str, ids: tuple[str, ...], reason: str) -> None:
    grounding = check_sentence(sentence, passages(*ids), "are you open on saturday and sunday?")
    assert not grounding.ok
    assert reason in grounding.reason


@pytest.mark.parametrize(
    "fragment",
    [
        "The Saltm",  # cut at the token cap mid-word
        "The clock was built in 1794 by Tobias",  # every word true, the sentence unfinished
        "On Saturdays the branch is open from 9:30 in the morning until 1 in the afternoon",  # no end at all
    ],
)
def test_an_unfinished_sentence_is_never_grounded(fragment: str) -> None:
    sources = [
        *passages(*WEEKEND),
        "The Saltmarsh Hoard was found in 1991. The clock was built in 1794 by Tobias Wren.",
    ]
    grounding = check_sentence(fragment, sources)
    assert not grounding.ok and "unfinished" in grounding.reason


def test_the_same_words_finished_pass() -> None:
    sources = [*passages(*WEEKEND), "The clock was built in 1794 by Tobias Wren."]
    assert check_sentence("The clock was built in 1794 by Tobias Wren.", sources).ok
    assert check_sentence(
        "On Saturdays the branch is open from 9:30 in the morning until 1 in the afternoon!", sources
    ).ok


def test_a_first_clause_streamed_on_its_own_is_finished() -> None:
    clause = "On Saturdays the branch is open from 9:30 in the morning,"  # what stream_sentences sends first
    assert check_sentence(clause, passages(*WEEKEND)).ok
