"""Is a generated sentence supported by the passages it was generated from?

A small model can invent a time, a price or a place, so each generated sentence
is checked before it is spoken, and a sentence that fails stops generation (if
it was the first one, the policy speaks the entries' own texts instead):

- every number in it (and every letter naming something: "exit C", "zone A") must
  occur in the passages, and most of its content words;
- each number must be bound to one passage sentence that holds it and most of
  the words leading up to it: SmolLM2 swaps true facts between the passages it
  was given ("a day pass is 2 pounds 40", the single fare; "the cash machines
  are next to exit C", the toilets' exit);
- each clause must come mostly from one passage sentence, not be true words
  mixed into something no passage says ("Cafe Lumen serves dinner on Fridays");
- it must be finished: generation stopped at its token or time cap leaves a fragment ("The Saltm",
  "It was built in") that no check of its words can catch, so a sentence must end as a sentence or a
  first clause does (. ! ? or , ; :);
- it must not loop ("the first and last trains are the first and last trains");
- it must not turn a yes into a no or back: a clause, and a short part of it
  joined by "and", is negated only where the passage sentence it repeats is
  ("open on Saturdays and Sundays" where the Sunday entry says closed).

The passages are what the entries say (answer and spoken answer) and any document
chunk; a passage sentence also carries its passage's first sentence, which names
what "it" is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.text import GROUNDING_STOPWORDS

# a number, or a letter naming something ("exit C", "zone A", "zones A and B"; not a sentence's first "A", not "I")
_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*|(?<=[a-z] )[A-HJ-Z]\b")
_NUMBER_OR_WORD = re.compile(rf"(?P<number>{_NUMBER.pattern})|(?P<word>[A-Za-z]+)")
_CLAUSE = re.compile(r"[,;]|:(?=\s)|\b(?:and|or|but|while|whereas)\b", re.IGNORECASE)
_SHORT_HYPHEN = re.compile(r"\b([A-Za-z]{1,2})-(?=[A-Za-z])")  # "Wi-Fi" is one word, as "wifi" is
_CONJUNCTION = re.compile(r"\b(?:and|or)\b", re.IGNORECASE)
_TOKEN = re.compile(r"\d+(?:[.:,]\d+)*|[a-z]+")
_PASSAGE_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CONTRAST = re.compile(r"[,;]|:(?=\s)|\b(?:but|while|whereas)\b", re.IGNORECASE)  # "not between 7 and 9:30" stays whole
_NEGATION = re.compile(r"\b(?:no|not|never|none|nobody|nothing|nowhere|cannot|without|closed)\b|n't\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")
_UNITS = {"pounds", "pound", "pence", "euros", "euro", "cents", "dollars", "minutes", "hours", "percent", "cent"}
_FINISHED = re.compile(r"[.!?\u2026,;:][\"')\]\u201d\u2019]*$")  # a sentence's or a first clause's end
_FORBIDDEN = re.compile(r"\b(as an ai|language model|system prompt|my instructions|i am an ai|openai|chatgpt)\b", re.I)

MIN_SUPPORT = 0.75
MIN_ONE_SOURCE = 0.75  # share of a clause's content words one passage sentence must hold ("the desk has a lift")
MIN_OVERLAP = 0.5  # share of a clause's content words a passage sentence must hold to count as what it repeats
MIN_BINDING = 0.75  # share of the words leading up to a number found in the passage sentence holding it


@dataclass(frozen=True)
class Grounding:
    ok: bool
    support: float
    reason: str = ""


def _stem(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):  # "dogs" is "dog", "pass" stays
        word = word[:-1]
    return word[:5]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower())}


def _is_content(word: str) -> bool:
    return word not in GROUNDING_STOPWORDS and len(word) > 2


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if _is_content(w)]


def _passage_sentences(passages: Sequence[str]) -> list[tuple[str, set[str]]]:
    """(sentence, its word stems and those of its passage's first sentence, which names what "it" is)."""
    out = []
    for passage in passages:
        parts = _PASSAGE_SENTENCE.split(passage)
        subject = _stems(parts[0])
        out += [(part, _stems(part) | subject) for part in parts]
    return out


def _number_groups(sentence: str) -> list[tuple[set[str], list[str]]]:
    """(numbers, the content words leading up to them) for each run of numbers (or naming letters) in ``sentence``.

    Numbers with only units between them are one run ("2 pounds 40", "from 7 to 9:30"); the words leading up
    to a run are those since the run before it.
    """
    groups: list[tuple[set[str], list[str]]] = []
    words: list[str] = []
    for token in _NUMBER_OR_WORD.finditer(sentence):
        if token["number"]:
            number = token["number"].replace(",", "")
            if groups and all(w in _UNITS for w in words):
                groups[-1][0].add(number)
            else:
                groups.append(({number}, [w for w in words if w not in _UNITS]))
            words = []
        elif _is_content(word := token["word"].lower()):
            words.append(word)
    return groups


def unbound_number(sentence: str, passages: Sequence[str]) -> str | None:
    """The first run of numbers no single passage sentence states together with the words leading up to it."""
    units = [(_numbers(part), stems) for part, stems in _passage_sentences(passages)]
    for numbers, words in _number_groups(sentence):
        best = -1.0
        for unit_numbers, unit_stems in units:
            if numbers <= unit_numbers:
                best = max(best, sum(_stem(w) in unit_stems for w in words) / len(words) if words else 1.0)
        if best < MIN_BINDING:
            return " ".join([*words, *sorted(numbers)])
    return None


def flipped_clause(sentence: str, passages: Sequence[str]) -> str | None:
    """The first clause negated where the passage sentence it repeats is not (or the other way round).

    The passage sentence it repeats is the one holding most of its content words; between sentences that hold
    as many, the one with a single clause holding most of them ("there are two free cash machines on the
    main concourse" over "ticket machines also accept cards, so you don't need cash"). That sentence is
    negated where a clause of it that shares a word is ("network called HarborPine-Guest" is not negated by
    "there's no password" beside it; "allowed ... : not between 7 and 9:30" is). A short part joined by
    "and" is also checked alone, with its clause's yes or no: "open on Saturdays and Sundays" says "open on
    Sundays", which no passage does.
    """
    units = []  # (stems, [(clause stems, clause negated)]) per passage sentence
    for passage in passages:
        for part in _PASSAGE_SENTENCE.split(passage):
            units.append((_stems(part), [(_stems(c), bool(_NEGATION.search(c))) for c in _CONTRAST.split(part)]))
    if not units:
        return None
    for clause in _CONTRAST.split(sentence):
        negated = bool(_NEGATION.search(clause))
        words = _content_words(clause)
        pieces = [words] if len(words) >= 2 or (words and negated) else []  # "yes, the cafe": too little
        pieces += [w for w in map(_content_words, _CONJUNCTION.split(clause)[1:]) if 1 <= len(w) <= 2]
        for piece in pieces:
            stems = [_stem(w) for w in piece]
            scored = []  # (overlap, best clause's overlap, negated where it shares a word)
            for unit, clauses in units:
                in_clauses = [sum(st in c for st in stems) for c, _ in clauses]
                neg = any(n for (_, n), k in zip(clauses, in_clauses, strict=True) if k)
                scored.append((sum(st in unit for st in stems), max(in_clauses), neg))
            best = max(scored)
            if best[0] < MIN_OVERLAP * len(stems):
                continue  # says something the passages do not: the sentence's support decides
            if negated not in {neg for overlap, in_clause, neg in scored if (overlap, in_clause) == best[:2]}:
                return clause.strip()
    return None


def mixed_clause(sentence: str, passages: Sequence[str], question: str = "") -> str | None:
    """The first clause (of 3+ content words) whose words come from several passage sentences but mostly from
    no one of them: true words, mixed into something no passage says ("the information desk has a lift").
    The visitor's words count as in every passage sentence."""
    asked = _stems(question)
    units = [stems | asked for _, stems in _passage_sentences(passages)]
    for clause in _CLAUSE.split(sentence):
        stems = {_stem(w) for w in _content_words(clause)}
        if len(stems) >= 3 and units and max(len(stems & unit) for unit in units) < MIN_ONE_SOURCE * len(stems):
            return clause.strip()
    return None


def _repeats_itself(sentence: str) -> bool:
    tokens = _TOKEN.findall(sentence.lower())
    grams = list(zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False))  # "we are open" twice is fine
    return len(set(grams)) < len(grams)


def check_sentence(sentence: str, passages: Sequence[str], question: str = "") -> Grounding:
    """Is ``sentence`` supported by ``passages``? ``question`` is the visitor's: its words count as known."""
    sentence, question = _SHORT_HYPHEN.sub(r"\1", sentence), _SHORT_HYPHEN.sub(r"\1", question)
    passages = [_SHORT_HYPHEN.sub(r"\1", p) for p in passages]
    if not sentence.strip():
        return Grounding(False, 0.0, "empty")
    if not _FINISHED.search(sentence.strip()):
        return Grounding(False, 0.0, "unfinished: generation stopped mid-sentence")
    if _FORBIDDEN.search(sentence):
        return Grounding(False, 0.0, "talks about itself")
    source = " ".join(passages)
    missing_numbers = _numbers(sentence) - _numbers(source)
    if missing_numbers:
        return Grounding(False, 0.0, f"number(s) or name(s) not in the passages: {', '.join(sorted(missing_numbers))}")
    words = _content_words(sentence)
    if not words:  # "Yes, I am.": nothing in it can be checked, and nothing in it answers
        return Grounding(False, 0.0, "says nothing from the passages")
    known = _stems(source + " " + question)
    support = sum(_stem(w) in known for w in words) / len(words)
    if support < MIN_SUPPORT:
        return Grounding(False, support, f"only {support:.0%} of its words are in the passages")
    unbound = unbound_number(sentence, passages)
    if unbound is not None:
        return Grounding(False, support, f"no passage sentence says {unbound!r}")
    if _repeats_itself(sentence):
        return Grounding(False, support, "repeats itself")
    clause = flipped_clause(sentence, passages)
    if clause is not None:
        return Grounding(False, support, f"turns the passages' yes or no around in {clause!r}")
    clause = mixed_clause(sentence, passages, question)
    if clause is not None:
        return Grounding(False, support, f"mixes facts in {clause!r}")
    return Grounding(True, support)
