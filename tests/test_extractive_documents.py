"""Answers from exhibit documents: headings and label lines apart, the kind of answer asked for, yes/no,
the hand-off when a text never says, and the LLM kept to a bounded time and to finished sentences."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from core.settings import DialogSection, LlmSection
from core.text import chunk_text, split_passage
from dialog.documents import MIN_CONFIDENCE
from dialog.events import AnswerMode
from dialog.extractive import extract
from dialog.llm.base import ChatMessage, GenerationLimits
from dialog.policy import DOCUMENT_LLM_S, AnswerPolicy
from knowledge.entries import Document, FaqEntry
from knowledge.retrieval import MatchResult, Passage
from knowledge.store import FaqStore
from tests.fakes import ScriptedLlm, ScriptedRetriever

SWORD = """Bronze Sword

Late Bronze Age, about 1150 BC
Found in the River Lune near Halton, 1962
Cast bronze, length 64 cm, weight 610 g

This leaf-shaped sword was cast in a stone mould and then hammered to harden its edges. The blade was
bent before it went into the water, which suggests it was an offering to the river. It was cleaned in 1964
but never polished, so the green surface you see is the original patina.
"""

CROWN = """Bridal Crown

Materials:
- gilded silver sheet, for the band
- river pearls, 58 in all
- red glass stones imitating garnets
"""


def test_a_title_and_a_labels_lines_are_sentences_of_their_own() -> None:
    chunks = chunk_text(SWORD)
    sentences = [s for chunk in chunks for s in split_passage(chunk)]
    assert sentences[:4] == [
        "Bronze Sword",
        "Late Bronze Age, about 1150 BC",
        "Found in the River Lune near Halton, 1962",
        "Cast bronze, length 64 cm, weight 610 g",
    ]
    # wrapped prose is still one sentence, whatever its line breaks
    assert "The blade was bent before it went into the water, which suggests it was an offering to the river." in (
        sentences
    )


def test_list_items_are_said_without_their_bullets() -> None:
    sentences = [s for chunk in chunk_text(CROWN) for s in split_passage(chunk)]
    assert sentences == [
        "Bridal Crown",
        "Materials:",
        "gilded silver sheet, for the band",
        "river pearls, 58 in all",
        "red glass stones imitating garnets",
    ]


def test_plain_prose_is_chunked_as_before() -> None:
    assert chunk_text("One.\n  Two.") == ["One. Two."]
    assert chunk_text("It was built\nby the harbour company.") == ["It was built by the harbour company."]


def test_the_heading_is_never_the_answer_and_the_kind_of_answer_decides() -> None:
    passages = chunk_text(SWORD)
    heavy = extract("How heavy is the sword?", passages, topics=["bronze sword"] * len(passages))
    assert heavy is not None and heavy.sentences == ("Cast bronze, length 64 cm, weight 610 g",)
    old = extract("When was the sword made?", passages, topics=["bronze sword"] * len(passages))
    assert old is not None and "1150 BC" in old.sentences[0]
    found = extract("Where was the sword found?", passages, topics=["bronze sword"] * len(passages))
    assert found is not None and found.sentences[0] == "Found in the River Lune near Halton, 1962"


def test_yes_no_is_said_when_the_clause_settles_it() -> None:
    passages = chunk_text(SWORD)
    polished = extract("Was the sword polished?", passages, topics=["bronze sword"] * len(passages))
    assert polished is not None and polished.sentences[0].startswith("No, it was cleaned in 1964 but never polished")
    bent = extract("Was the sword bent?", passages, topics=["bronze sword"] * len(passages))
    assert bent is not None and bent.sentences[0].startswith("Yes, the blade was bent")
    garnets = extract("Are the red stones real garnets?", chunk_text(CROWN), topics=["bridal crown"])
    assert garnets is not None and not garnets.sentences[0].startswith(("Yes", "No"))  # "real" is not said: no guess


def test_confidence_separates_a_question_the_text_answers_from_one_it_never_does() -> None:
    passages = chunk_text(SWORD)
    topics = ["bronze sword"] * len(passages)
    answered = extract("Why was the sword bent?", passages, topics=topics)
    never = extract("How much is the sword worth?", passages, topics=topics)
    assert answered is not None and never is not None
    assert answered.confidence > 0.5
    assert never.confidence < MIN_CONFIDENCE


class _TimedLlm(ScriptedLlm):
    """A scripted reply; records the time limit it was given."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.timeouts: list[float] = []

    def stream(
        self, messages: Sequence[ChatMessage], *, limits: GenerationLimits, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        self.timeouts.append(limits.timeout_s)
        yield from super().stream(messages, limits=limits, cancel=cancel)


class _PassageRetriever(ScriptedRetriever):
    def __init__(self, passages: list[Passage]) -> None:
        super().__init__({})
        self.passages = passages

    def match(self, kb: str, text: str, k: int = 5) -> MatchResult:
        return MatchResult([], self.passages, {})


def _policy(tmp_path: Path, llm: ScriptedLlm) -> AnswerPolicy:
    store = FaqStore.open(tmp_path / "kiosk.db")
    store.create_kb("museum", title="Harbor Museum")
    store.upsert("museum", FaqEntry("hours", "When are you open?", "Every day from 10 to 6."))
    doc = store.add_document("museum", Document("sword", "Bronze Sword", SWORD))
    passages = [Passage(f"sword#{i}", text, 0.6 - i / 10) for i, text in enumerate(doc.chunks)]
    return AnswerPolicy(
        kb="museum",
        store=store,
        retriever=_PassageRetriever(passages),
        dialog=DialogSection(),
        llm_settings=LlmSection(),
        llm=llm,
    )


def test_a_sure_passage_sentence_is_said_without_waiting_for_the_llm(tmp_path: Path) -> None:
    llm = _TimedLlm("The sword was bent as an offering.")
    answer = _policy(tmp_path, llm).answer("Why was the sword bent?")
    assert answer.mode == AnswerMode.GENERATED and answer.reason == "extractive" and not llm.prompts
    assert answer.sentences[0].startswith("The blade was bent before it went into the water")
    assert answer.text == chunk_text(SWORD)[1]  # the passage on screen


@pytest.mark.parametrize("reply", ["The sword was found by the Lune Valley Archae", "It was found in the"])
def test_the_llms_unfinished_sentence_is_never_spoken(tmp_path: Path, reply: str, monkeypatch) -> None:
    """Generation cut at its cap: the fragment is dropped and the passage's own sentence is said instead."""
    monkeypatch.setattr("dialog.policy.SURE_CONFIDENCE", 1.1)  # no extract is sure enough: the LLM is asked
    llm = _TimedLlm(reply)
    answer = _policy(tmp_path, llm).answer("Where and when was the sword found?")  # two things: may be composed
    assert llm.prompts and llm.timeouts == [DOCUMENT_LLM_S]  # asked, within the documents' bounded time
    assert answer.mode == AnswerMode.GENERATED and answer.reason.startswith("ungrounded: unfinished")
    said_by_the_text = {s for chunk in chunk_text(SWORD) for s in split_passage(chunk)}
    assert answer.sentences and set(answer.sentences) <= said_by_the_text


def test_a_grounded_composition_of_a_two_part_question_is_said(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("dialog.policy.SURE_CONFIDENCE", 1.1)
    llm = _TimedLlm("The sword was found in the River Lune near Halton in 1962.")
    answer = _policy(tmp_path, llm).answer("Where and when was the sword found?")
    assert answer.reason == "" and answer.sentences == ("The sword was found in the River Lune near Halton in 1962.",)


def test_a_one_part_question_is_never_left_to_the_llm(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("dialog.policy.SURE_CONFIDENCE", 1.1)
    llm = _TimedLlm("The sword was found in the River Lune near Halton in 1962.")
    answer = _policy(tmp_path, llm).answer("Where was the sword found?")
    assert not llm.prompts and answer.reason == "extractive"
    assert answer.sentences == ("Found in the River Lune near Halton, 1962",)


def test_a_title_before_a_long_paragraph_stays_with_it_and_is_never_said() -> None:
    body = "The Church Serpent\n\n" + " ".join(f"The serpent was played in church number {n}." for n in range(20))
    chunks = chunk_text(body)
    assert chunks[0].startswith("The Church Serpent\nThe serpent was played")
    assert extract("What is the serpent?", ["The Church Serpent"], topics=["church serpent"]) is None
