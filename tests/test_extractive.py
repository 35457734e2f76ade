"""Answers from document passages without the LLM: the sentence or two that answer, never the hand-off."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import DialogSection, LlmSection
from dialog.events import AnswerMode
from dialog.extractive import extract, holds_answer
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


FIRE_ENGINE = (
    "Built by Hadley and Simpkin of London in 1786, this engine served the parish for 97 years. Twelve men, "
    "six on each side, pumped the brakes about 40 times a minute. The engine weighs nearly two tonnes and is "
    "4.5 metres long. It was last used at the brewery fire of 1883. The paintwork was restored in 2011."
)


@pytest.mark.parametrize(
    ("question", "sentence", "holds"),
    [
        ("How many men pumped it?", "Twelve men, six on each side, pumped the brakes.", True),
        ("How many fires did it put out?", "It was last used at the brewery fire of 1883.", False),  # a year
        ("How many notebooks were in the box?", "In 1944 a hunter found the box with the notebooks.", False),
        ("How much does the engine weigh?", "The engine is 4.5 metres long.", False),  # a length, not a weight
        ("How heavy is the engine?", "The engine weighs nearly two tonnes.", True),
        ("How long did a great auk live?", "The great auk stood about 80 centimetres tall.", False),
        ("What is the vase worth?", "The vase was bought for 40 pounds in 1902.", True),
        ("What were the names of the dogs?", "Two dog teams pulled it, eleven dogs in all.", False),
        ("What is the egg called?", "This one is known to collectors as the Crosse egg.", True),
        ("Who made the replica?", "It was made in 2019 by students of the woodworking school.", False),
        ("Where was it found?", "It was found in the river.", None),  # no kind asked for
        ("What is the crown made of?", "This crown was made around 1820 for the parish.", False),  # a date
        ("What is the crown made of?", "gilded silver sheet, for the band", True),
    ],
)
def test_the_kind_of_answer_asked_for(question: str, sentence: str, holds: bool | None) -> None:
    assert holds_answer(question, sentence) is holds


def test_people_named_by_what_they_are_answer_who_but_rank_below_a_name() -> None:
    assert holds_answer("Who made the replica?", "It was made by students of the school.", roles=True)
    text = "When the chapel was pulled down, parishioners saved the window. The glazier was Ralph Tunstall of York."
    found = extract("Who made the window?", [text], topics=["The Rose Window"])
    assert found is not None and "Ralph Tunstall" in found.sentences[0]


def test_a_question_about_the_exhibit_that_its_text_does_not_answer_is_not_sure() -> None:
    sure = extract("Who built the fire engine?", [FIRE_ENGINE], topics=["Fire Engine"])
    assert sure is not None and "Hadley and Simpkin" in sure.sentences[0] and sure.confidence >= 0.5
    for question in (
        "How much did the paintwork cost?",
        "What was the fire engine's name?",
        "How many fires did it fight?",
    ):
        found = extract(question, [FIRE_ENGINE], topics=["Fire Engine"])
        assert found is None or found.confidence < 0.25, (question, found)


SWORD = "Bronze Sword\nLate Bronze Age, about 1150 BC\nCast bronze, length 64 cm, weight 610 g"
CROWN = (
    "Materials:\n- gilded silver sheet, for the band and the twelve points\n- river pearls, 58 in all, sewn into "
    "the band\n- red glass stones imitating garnets\n- silk ribbons in green and yellow\n- a lining of linen"
)


def test_a_measure_asked_with_its_adjective_is_found_under_its_noun() -> None:
    found = extract("How long is the bronze sword?", [SWORD], topics=["Bronze Sword"])
    assert found is not None and "64 cm" in found.sentences[0]
    heavy = extract("How heavy is it?", [SWORD], topics=["Bronze Sword"])
    assert heavy is not None and "610 g" in heavy.sentences[0]


def test_the_exhibit_the_question_names_is_preferred_to_another_that_shares_its_words() -> None:
    # the canoe's sentence shares "old" and "bronze" and holds an age; the question names the sword
    sword = "Bronze Sword\nThis leaf-shaped sword was cast in a two-piece stone mould about 1150 BC."
    canoe = "The original canoe is about 3,000 years old and was hollowed out with bronze tools."
    topics = ["Bronze Sword", "Dugout Canoe"]
    found = extract("How old is the bronze sword?", [sword, canoe], topics=topics, priors=[0.5, 0.45])
    assert found is not None and found.passage == sword, found
    other = extract("How old is the canoe?", [sword, canoe], topics=topics, priors=[0.45, 0.5])
    assert other is not None and other.passage == canoe


def test_a_list_answers_a_question_for_its_kind_and_one_item_a_question_about_it() -> None:
    made = extract("What is the bridal crown made of?", [CROWN], topics=["Bridal Crown"])
    assert made is not None and len(made.sentences) == 1
    said = made.sentences[0]
    assert said.startswith("Materials: gilded silver sheet") and "; river pearls" in said and len(said) <= 250
    pearls = extract("How many pearls are on the crown?", [CROWN], topics=["Bridal Crown"])
    assert pearls is not None and pearls.sentences == ("river pearls, 58 in all, sewn into the band",)


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
