"""Answers taken from a document's passages: the sentence or two that answer the question.

A question that a document passage answers ("When was the Harbor Gallery built?" over an exhibit text)
is answered with the passage's own words, fast and without the language model. Every sentence of the
best passages (a heading, a label's data line and a list item count as sentences of their own, see
``core.text.split_passage``) is scored against the question:

- shared content words, weighted by how rare they are among the passages' sentences, with light
  stemming (and irregular past forms: "sold" is "sell"); the words naming the exhibit (its document's
  title, its passage's heading) count in every sentence of it, at half weight, since "it" there is
  that exhibit;
- when a ``similarity`` function is given (the knowledge base's sentence embedder), the cosine between
  the question and the sentence, which finds "length 64 cm" for "how long is it";
- the kind of answer asked for: a price for "how much did it cost" or "what is it worth", a weight for
  "how heavy" (not a length), a span of time for "how long did it live", a length for "how tall", a date
  for "when", a number next to what is counted for "how many" (not a year: "the fire of 1883" does not
  say how many fires), a name (not the exhibit's own) for "who", and for "what was it called" a name
  given as such ("known as the Crosse egg"), a reason for "why";
- how close the retrieval found the sentence's passage, next to the best one.

The best sentence is said, and the next one too when it carries on from it ("It was ...") and the two
stay short (at most ``MAX_CHARS``). A heading alone is never the answer. ``confidence`` is the share of
the question's own words (those not naming the exhibit: "who *found* the sword") the sentence holds,
blended with the cosine, raised when the sentence holds the kind of answer asked for (for "who", people
named by what they are count too: "by students of the school") and cut to 0.3 when it does not: the policy hands off below a floor (``dialog.documents``), so a question about an exhibit that
its text does not answer ("how much is the egg worth?") is not answered with some other sentence about it.

A yes/no question ("Is the vase for sale?") is answered "Yes," or "No," only when one clause of the best
sentence holds every one of the question's own words (a word negated by its form counts: "polished" in
"unpolished"), "No" when that clause is negated; otherwise the sentence is said as it is, without guessing.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.text import GROUNDING_STOPWORDS, bulleted_list, is_heading, split_passage

_LOGGER = logging.getLogger(__name__)

MAX_WORDS = 45  # two sentences said together stay this short
MAX_CHARS = 250  # what is said stays this short (about 15 s of speech)
HEADING_WEIGHT = 0.5  # a heading's words count this much for every sentence of its passage
SIMILARITY_WEIGHT = 0.6  # weight of the question-sentence cosine next to the shared words
TYPE_WEIGHT = 0.25  # a sentence holding the kind of answer asked for ("how heavy": a weight) ranks this higher
PRIOR_WEIGHT = 1.0  # per point of retrieval cosine the sentence's passage is behind the best passage
NAMED_ELSEWHERE = 0.3  # a sentence about another exhibit than the one the question names ranks this lower
TYPED_CONFIDENCE = 0.25  # ... and one holding it this much surer
UNTYPED_CONFIDENCE = 0.3  # a sentence without the kind of answer asked for is this much less sure

Similarity = Callable[[str, Sequence[str]], Sequence[float]]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_YES_NO = re.compile(
    r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|must)\b", re.IGNORECASE
)
_NEGATION = re.compile(r"\b(not|no|never|none|nobody|nothing|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
_NEGATED_WORD = re.compile(r"^(\w+)less$|^(?:un|non)(\w{4,})$", re.IGNORECASE)  # "flightless", "unpolished"
_CLAUSES = re.compile(r",?\s+(?:and|but|while|although|whereas)\s+|;\s*|,\s+(?=which\b)", re.IGNORECASE)
_LOWER_FIRST = {"the", "a", "an", "it", "its", "this", "that", "these", "those", "they", "there", "we", "you", "our"}
_CARRIES_ON = re.compile(r"^(it|its|this|these|they|their|he|she|his|her|there|then|later|today)\b", re.IGNORECASE)
_NUMBER_WORD = (
    r"(?:\d[\d.,]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"sixty|seventy|eighty|ninety|hundred|thousand|million|dozen|half)"
)
_LENGTH = (
    r"(?:mm|cm|m|km|ft|in|millimetres?|centimetres?|metres?|meters?|kilometres?|miles?|feet|foot|inches?|"
    r"fathoms?|yards?|litres?|liters?|gallons?)"
)
_WEIGHT = r"(?:g|kg|t|lb|oz|grams?|kilograms?|kilos?|tonnes?|tons?|pounds?|stones?|ounces?)"
_DURATION = rf"\b{_NUMBER_WORD}\s+(?:years|days|weeks|months|hours|minutes|centuries)\b"
_YEAR = re.compile(r"^(?:1\d{3}|20\d{2})s?$")
_WHO = re.compile(r"^\W*(?:who|whose|by whom)\b", re.IGNORECASE)
# what kind of words answer a question ("how heavy" -> "300 kilograms"), and what the sentence must hold for it;
# the first whose question pattern matches decides
_ANSWER_TYPES = (
    (  # a price ("what is it worth" too)
        re.compile(
            r"^\W*(?:how much\b.*\b(?:cost|pay|paid|price|worth|spend|spent)|what\b.*\b(?:cost|price))|\bworth\b", re.I
        ),
        re.compile(
            r"\b(?:pounds?|pence|guineas?|shillings?|euros?|dollars?|francs?|crowns?)\b|[\u00a3$\u20ac]\s?\d", re.I
        ),
    ),
    (  # a weight, not a length ("how much does the loom weigh" is not "50 centimetres")
        re.compile(r"\bweigh|\bheavy\b|\bweight\b", re.I),
        re.compile(rf"\b{_NUMBER_WORD}\s*{_WEIGHT}\b", re.I),
    ),
    (  # a span of time: "how long did it live / take"
        re.compile(
            r"^\W*how long\b.*\b(?:live[ds]?|last(?:ed|s)?|take|took|stay(?:ed)?|survive[ds]?|wait(?:ed)?)\b", re.I
        ),
        re.compile(_DURATION, re.I),
    ),
    (
        re.compile(r"^\W*how (?:long|tall|big|high|wide|far|deep|large|thick)\b|\bsize\b", re.I),
        re.compile(rf"\b{_NUMBER_WORD}\s*{_LENGTH}\b|{_DURATION}", re.I),
    ),
    (
        re.compile(r"^\W*(?:when|what year|which year|what date|how old|what age|in what year)\b", re.I),
        re.compile(
            r"\b(?:1\d{3}|20\d{2})s?\b|\b(?:BC|AD|BCE)\b|\bcentur(?:y|ies)\b|\byears? (?:old|ago)\b|\b(?:Age|era)\b|"
            r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December|spring|"
            r"summer|autumn|winter|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
        ),
    ),
    (re.compile(r"^\W*how many\b", re.I), re.compile(rf"\b{_NUMBER_WORD}\b", re.I)),  # next to what is counted
    (
        re.compile(r"^\W*(?:why\b|what (?:is|are|was|were)\b.*\bfor\W*$|what is the (?:purpose|point|reason)\b)", re.I),
        re.compile(
            r"\b(?:because|so that|so as to|in order to|meant to|intended to|used (?:for|to)|suggests|reason|due to|"
            r"since|for fear|to (?:pay|raise|protect|keep|ward|prevent|save|mark|honour|celebrate|show|help|make room))\b",
            re.I,
        ),
    ),
    (  # a material: "what is the crown made of" is answered by "gilded silver sheet", not by when it was made
        re.compile(r"\bmade (?:of|from|out of|with)\b|\bmaterials?\b|^\W*what\b.*\bmade\W*$", re.I),
        re.compile(
            r"\b(?:gold|golden|gilded|gilt|silver|bronze|copper|brass|iron|steel|tin|lead|pewter|zinc|wood(?:en)?|oak|"
            r"pine|ash|elm|beech|mahogany|walnut|teak|willow|birch|bone|ivory|horn|antler|leather|hide|skin|fur|silk|"
            r"wool(?:len)?|linen|cotton|canvas|felt|velvet|glass|clay|terracotta|stone|marble|granite|flint|slate|"
            r"porcelain|ceramic|earthenware|stoneware|paper|parchment|vellum|pearls?|enamel|plaster|wax|rubber|"
            r"plastic|reed|straw|bamboo|shells?|feathers?|cast|carved|woven|forged|hammered|materials?)\b",
            re.I,
        ),
    ),
    (  # a name: "what was the dog called", "the names of the dogs"
        re.compile(r"\bnamed?\b|\bnames\b|^\W*what (?:is|was|were|are|did|do)\b.*\bcall(?:ed)?\b", re.I),
        re.compile(
            r"\b(?:called|named|known(?: to \w+)? as)\s+(?:the\s+)?[\"\u201c\u2018']?[A-Z]|[\"\u201c][A-Z][^\"\u201d]*[\"\u201d]"
        ),
    ),
    (  # a person's name ("by Hadley and Simpkin")
        _WHO,
        re.compile(
            r"(?<=[a-z,;:] )(?!(?:St|Saint|Mount|River|Lake|Cape|Port|Fort|North|South|East|West|New|Old|Royal)\b)"
            r"[A-Z][a-z]+(?:[- ](?:(?:de|van|von|of|the) )?[A-Z][a-z]+)+|\bby [A-Z]"
        ),
    ),
)
# people named by what they are ("by students of the school", "a dredger crew"): they answer "who" too, but
# rank below a name (a sentence with "parishioners" is no better answer to "who made it" than the glazier's)
_WHO_ROLES = re.compile(
    r"\b(?:crew|students?|pupils|craftsm[ae]n|workers|workmen|hunters?|fishermen|monks|nuns|soldiers|sailors|"
    r"glaziers?|weavers?|smiths?|carpenters?|makers?|builders?|artists?|painters?|potters?|parishioners|"
    r"villagers|famil(?:y|ies)|guild|company|firm|society)\b",
    re.IGNORECASE,
)
_COUNTED_NEAR = 3  # "how many X": a number within this many words of X


# past forms of common irregular verbs: "who sold it" is answered by "the parish sold it", "why sell it" too
_IRREGULAR = {
    past: verb
    for verb, forms in {
        "sell": "sold",
        "buy": "bought",
        "make": "made",
        "build": "built",
        "find": "found",
        "wear": "wore worn",
        "pay": "paid",
        "take": "took taken",
        "give": "gave given",
        "bring": "brought",
        "leave": "left",
        "begin": "began begun",
        "draw": "drew drawn",
        "write": "wrote written",
        "sink": "sank sunk",
        "stand": "stood",
        "hold": "held",
        "keep": "kept",
        "lose": "lost",
        "strike": "struck",
        "throw": "threw thrown",
        "ring": "rang rung",
        "grow": "grew grown",
        "know": "knew known",
        "come": "came",
        "go": "went gone",
        "see": "saw seen",
        "tell": "told",
        "catch": "caught",
        "teach": "taught",
        "lead": "led",
        "fall": "fell fallen",
        "hide": "hid hidden",
        "break": "broke broken",
        "speak": "spoke spoken",
        "choose": "chose chosen",
        "fly": "flew flown",
        "dig": "dug",
        "hang": "hung",
        "send": "sent",
        "spend": "spent",
        "win": "won",
        "eat": "ate eaten",
    }.items()
    for past in forms.split()
}


# a measure asked with its adjective is given with its noun: "how long is it" is answered by "length 64 cm"
_MEASURE_NOUN = {
    **dict.fromkeys(("long", "lengths"), "length"),
    **dict.fromkeys(("tall", "high", "heights"), "height"),
    **dict.fromkeys(("wide", "broad", "widths", "breadth"), "width"),
    **dict.fromkeys(("deep", "depths"), "depth"),
    **dict.fromkeys(("heavy", "weigh", "weighs", "weighed", "weighing", "weights"), "weight"),
    **dict.fromkeys(("thick",), "thickness"),
}


def _stem(word: str) -> str:
    word = _MEASURE_NOUN.get(word) or _IRREGULAR.get(word, word)
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content_words(text: str) -> list[str]:
    """The words that carry meaning, stemmed, in order."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in GROUNDING_STOPWORDS and len(w) > 1]


def _content(text: str) -> set[str]:
    return set(_content_words(text))


@dataclass(frozen=True)
class Extract:
    passage: str  # the passage the sentences come from (shown on screen)
    sentences: tuple[str, ...]  # what is said
    score: float  # the ranking score of the said sentence (shared words by rarity, plus the cosine)
    confidence: float = 0.0  # how sure the sentence answers the question, in [0, 1]


@dataclass(frozen=True)
class _Unit:
    passage: int
    index: int
    text: str
    words: set[str]
    topic: set[str]  # what its document is about: its passage's heading and its document's title
    is_heading: bool


def _units(passages: Sequence[str], topics: Sequence[str]) -> list[list[_Unit]]:
    out = []
    for p, passage in enumerate(passages):
        sentences = split_passage(passage)
        heading = _content(sentences[0]) if sentences and is_heading(sentences[0]) else set()
        topic = heading | (_content(topics[p]) if p < len(topics) else set())
        out.append([_Unit(p, i, s, _content(s), topic, bool(heading) and i == 0) for i, s in enumerate(sentences)])
    return out


def answer_type(question: str) -> re.Pattern[str] | None:
    """What a sentence must hold to answer ``question`` by its kind: a price, a measure, a date, a count, a name."""
    return next((says for asks, says in _ANSWER_TYPES if asks.search(question)), None)


def holds_answer(question: str, sentence: str, topic: set[str] = frozenset(), *, roles: bool = False) -> bool | None:
    """Whether ``sentence`` holds the kind of answer ``question`` asks for; None when it asks for no kind.

    The exhibit's own name is no answer ("The Blue Vase" is no "who"), and "how many X" wants a number
    (not a year) within a few words of X: "eleven dogs" answers "how many dogs", "the fire of 1883" does
    not answer "how many fires". ``roles``: people named by what they are ("the students") answer "who" too.
    """
    kind = answer_type(question)
    if kind is None:
        return None
    found = [m for m in kind.finditer(sentence) if not _content(m.group()) <= topic]
    if not found and roles and _WHO.match(question):
        found = [m for m in _WHO_ROLES.finditer(sentence) if not _content(m.group()) <= topic]
    if not found or not re.match(r"^\W*how many\b", question, re.IGNORECASE):
        return bool(found)
    counted = [_stem(w) for w in _WORD.findall(question.lower())[2:5] if w not in GROUNDING_STOPWORDS]
    words = [_stem(w) for w in _WORD.findall(sentence.lower())]
    numbers = [i for i, w in enumerate(words) if re.fullmatch(_NUMBER_WORD, w) and not _YEAR.match(w)]
    return any(abs(i - j) <= _COUNTED_NEAR for i in numbers for j, w in enumerate(words) if w in counted and i != j)


def extract(
    question: str,
    passages: Sequence[str],
    *,
    similarity: Similarity | None = None,
    topics: Sequence[str] = (),
    priors: Sequence[float] = (),
) -> Extract | None:
    """The sentence or two of ``passages`` that answer ``question`` best; ``None`` when none is related.

    ``topics``: per passage, what its document is about (its title), whose words count for every sentence
    of it; ``priors``: per passage, how close the retrieval found it to the question (cosine).
    """
    asked = _content(question)
    by_passage = _units(passages, topics)
    every = [u for units in by_passage for u in units if not u.is_heading]
    if not asked or not every:
        return None
    counts = {w: sum(w in u.words for u in every) for w in asked}
    weight = {w: math.log(1 + len(every) / (1 + counts[w])) for w in asked}
    total = sum(weight.values())
    cosines = list(similarity(question, [u.text for u in every])) if similarity is not None else [0.0] * len(every)
    kind = answer_type(question)
    top_prior = max(priors, default=0.0)
    named = {p for p in range(len(passages)) if _names(asked, topics[p] if p < len(topics) else "", by_passage[p])}
    best: tuple[float, float, _Unit] | None = None
    for unit, cosine in zip(every, cosines, strict=True):
        own = asked & unit.words
        # a word naming the exhibit counts the same in every sentence about it, repeated there or not
        lexical = sum(weight[w] for w in own - unit.topic) + HEADING_WEIGHT * sum(weight[w] for w in asked & unit.topic)
        lexical /= total
        if lexical <= 0.0 and cosine <= 0.0:
            continue
        # the kind of answer asked for, and not the exhibit's own name ("The Blue Vase" is no "who")
        typed = kind is not None and bool(holds_answer(question, unit.text, unit.topic))
        answers = typed or (kind is not None and bool(holds_answer(question, unit.text, unit.topic, roles=True)))
        prior = priors[unit.passage] - top_prior if unit.passage < len(priors) else 0.0
        score = lexical + SIMILARITY_WEIGHT * max(cosine, 0.0) + TYPE_WEIGHT * typed + PRIOR_WEIGHT * prior
        if named and unit.passage not in named:
            score -= NAMED_ELSEWHERE  # "how long is the bronze sword": not the canoe made "with bronze tools"
        focus = asked - unit.topic  # the question's own words, beyond naming the exhibit
        covered = sum(weight[w] for w in focus & unit.words) / sum(weight[w] for w in focus) if focus else lexical
        confidence = (covered + max(cosine, 0.0)) / 2 if similarity is not None else covered
        if kind is not None:
            confidence = min(1.0, confidence + TYPED_CONFIDENCE) if answers else confidence * UNTYPED_CONFIDENCE
        if best is None or score > best[0]:
            best = (score, confidence, unit)
    if best is None:
        return None
    score, confidence, unit = best
    units = by_passage[unit.passage]
    said = [unit.text]
    nxt = units[unit.index + 1].text if unit.index + 1 < len(units) else ""
    if nxt and _CARRIES_ON.match(nxt) and len(f"{unit.text} {nxt}".split()) <= MAX_WORDS:
        said.append(nxt)
    if len(" ".join(said)) > MAX_CHARS and len(said) > 1:
        said.pop()
    if kind is not None and not (asked - unit.topic) & unit.words:  # no one item asked about
        said = _whole_list(question, passages[unit.passage], said)
    said[0] = _yes_no(question, said[0], asked - unit.topic or asked)
    return Extract(passages[unit.passage], tuple(said), round(score, 3), round(confidence, 3))


def _whole_list(question: str, passage: str, said: list[str]) -> list[str]:
    """For a question that asks for a kind of thing and no one item ("what is it made of"), an item of a list
    whose items hold that kind stands for the list: its heading and its first items, as one short sentence."""
    found = bulleted_list(passage)
    if found is None or said[0] not in found[1]:
        return said
    heading, items = found
    typed = [item for item in items if holds_answer(question, item)]
    if len(typed) < 2:
        return said
    out = heading
    for n, item in enumerate(items):
        longer = f"{out}{' ' if n == 0 else '; '}{item}"
        if len(longer) + 1 > MAX_CHARS and n > 0:
            break
        out = longer
    return [f"{out}."]


def _names(asked: set[str], title: str, units: Sequence[_Unit]) -> bool:
    """Whether the question names this passage's exhibit: two words of its title or heading, or its last word
    (the thing itself: "the sword" of "Bronze Sword", "the egg" of "Great Auk Egg")."""
    topic = units[0].topic if units else _content(title)
    words = _content_words(title)
    return len(asked & topic) >= 2 or (bool(words) and words[-1] in asked) or (len(topic) == 1 and topic <= asked)


def _negates(clause: str, focus: set[str]) -> bool:
    """Does ``clause`` say no: a negation word, or a focus word negated in the clause ("flightless" for "fly")?"""
    if _NEGATION.search(clause):
        return True
    for word in _WORD.findall(clause.lower()):
        m = _NEGATED_WORD.match(word)
        if m and _stem(m.group(1) or m.group(2)) in focus:
            return True
    return False


def _yes_no(question: str, sentence: str, focus: set[str]) -> str:
    """``sentence`` with "Yes, " or "No, " in front when it settles the yes/no ``question`` for sure."""
    if not _YES_NO.match(question.strip()) or _NEGATION.search(question) or not focus:
        return sentence
    clause = next((c for c in _CLAUSES.split(sentence) if focus <= _content(c) | _unnegated(c)), None)
    if clause is None:  # the words asked about are not in one clause: said as it is
        return sentence
    lead = "No" if _negates(clause, focus) else "Yes"
    first = sentence.split(" ", 1)[0]
    if first.lower() in _LOWER_FIRST:
        sentence = f"{first.lower()}{sentence[len(first) :]}"
    return f"{lead}, {sentence}"


def _unnegated(text: str) -> set[str]:
    """The words a clause negates by their form: "fly" in "flightless", "polished" in "unpolished"."""
    out = set()
    for word in _WORD.findall(text.lower()):
        m = _NEGATED_WORD.match(word)
        if m:
            out.add(_stem(m.group(1) or m.group(2)))
    return out
