"""The answer policy: how the kiosk answers one visitor question.

Order of decisions, each recorded in the answer's ``reason`` and timings:

1. guardrails: injection, abuse, harmful, too long → polite refusal (mode ``fallback``)
2. small talk: greetings, thanks, goodbye, "what can you do" → mode ``smalltalk``
3. a pending clarify question: "the second one" / "Sundays" → the chosen entry
4. matching (with follow-up resolution against the previous turn)
5. by confidence: ``faq``; ``generated`` when several entries are relevant and
   the LLM is on, or a document passage has a sentence that answers (said in its
   own words at once, see ``dialog.documents``); ``clarify`` when two or three
   candidates are close; ``fallback`` when nothing matches well enough.
   A two-part question ("is there parking and free wifi?") has each part
   matched on its own too, and every entry a part is sure of joins the answer:
   composed by the LLM, or (LLM off, or its answer not grounded) each entry's
   spoken answer in turn.

Generated sentences stream one by one and each is checked against its passages
before it is released; the first failure stops generation (and, if nothing was
said yet, the entries' own texts are spoken instead: each entry the question asked
about, in turn).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from core.events import Event
from core.settings import DialogSection, LlmSection
from core.text import split_sentences, stream_sentences
from dialog import guardrails, languages, smalltalk
from dialog.decision import Conversation, Decision
from dialog.documents import MIN_CONFIDENCE, SURE_CONFIDENCE, DocumentAnswers
from dialog.events import Answer, AnswerFinished, AnswerMode, AnswerSentence, AnswerStarted, Choice
from dialog.grounding import check_sentence
from dialog.llm.base import ChatMessage, GenerationLimits, LlmEngine, LlmError
from dialog.turns import TurnLog, TurnRecord
from knowledge.retrieval import Candidate, MatchResult, Retriever
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

MODES = tuple(AnswerMode)
MAX_GENERATED_SENTENCES = 3
SECOND_ENTRY_MIN = 0.35  # a second entry this confident is worth combining
PASSAGE_MIN_SIMILARITY = 0.25  # a passage this close may answer, if one of its sentences does (dialog.documents)
DOCUMENT_LLM_S = 3.0  # the LLM composes from documents within this (else the passage's own sentence is said)
CHOICE_MIN = 0.2  # a candidate below this is not offered as a choice
CLARIFY_SUM = 0.6  # top choices adding up to this are worth asking about
FOLLOWUP_SAME_ENTRY = 0.6  # weight of the previous turn's entry when resolving a follow-up
PART_MIN = 0.6  # a part of a two-part question ("... and is there parking?") this sure of its own entry adds it
PART_IN_WHOLE_MIN = 0.2  # ... when the part is no question of its own, the whole question must back that entry too
MAX_RELATED = 2

_PART_SPLIT = re.compile(r"\b(?:and|or|as well as|plus)\b", re.IGNORECASE)
_QUESTION_START = re.compile(
    r"^(what|when|where|which|who|how|why|is|are|was|do|does|did|can|could|will|would|should|may|have|has)\b",
    re.IGNORECASE,
)

_FOLLOWUP_START = re.compile(
    r"^(and|also|what about|how about|and what about|what if|but|then|or|is it|are they|does it|do they|"
    r"can i|is that|is there|how much|how long|when|where|on|at|for|in)\b",
    re.IGNORECASE,
)
_ORDINALS = {
    "first": 0,
    "1": 0,
    "one": 0,
    "1st": 0,
    "second": 1,
    "2": 1,
    "two": 1,
    "2nd": 1,
    "third": 2,
    "3": 2,
    "three": 2,
    "3rd": 2,
    "last": -1,
}


@dataclass(frozen=True)
class _KbLanguages:
    version: int  # the knowledge base's version these were read at
    main: str
    entries: dict[str, str]  # enabled entry -> its language
    multilingual: bool


class AnswerPolicy:
    """Answers questions from one knowledge base."""

    def __init__(
        self,
        *,
        kb: str,
        store: FaqStore,
        retriever: Retriever,
        dialog: DialogSection,
        llm_settings: LlmSection,
        llm: LlmEngine | None = None,
        turn_log: TurnLog | None = None,
    ) -> None:
        self.kb = kb
        self.store = store
        self.retriever = retriever
        self.settings = dialog
        self.llm_settings = llm_settings
        self.llm = llm
        self.turn_log = turn_log
        self._language_cache: _KbLanguages | None = None
        self.documents = DocumentAnswers(store=store, retriever=retriever)

    # -- helpers ------------------------------------------------------------
    @property
    def place(self) -> str:
        return self.store.kb_title(self.kb)

    def warm(self) -> None:
        """Load the matching models and run the LLM once, so the first visitor does not pay for either."""
        if self.retriever.ensure_prepared(self.kb):  # a long build goes on in the background: lexical answers
            self.retriever.match(self.kb, "what are your opening hours")  # loads the embedding model
        if self.llm is not None:
            try:  # the answers' system prompt: the engine keeps its evaluated prefix for the first real answer
                limits = GenerationLimits(max_tokens=2, timeout_s=30.0, temperature=0.0)
                for _ in self.llm.stream(self._messages("What are your opening hours?", []), limits=limits):
                    pass
            except LlmError as exc:
                _LOGGER.warning("the LLM did not answer its warm-up: %s", exc)

    def ready(self) -> bool:
        """Whether a decision now would be quick: the embedding model loaded, the knowledge base indexed and
        nothing re-indexing it."""
        return self.retriever.ready(self.kb)

    def openings(self, language: str | None = None) -> list[str]:
        """The first sentence of everything the kiosk says often in ``language`` (to synthesize ahead of visitors)."""
        lang = language or self.main_language
        texts = [e.speech for e in self.store.list(self.kb, enabled=True) if self._in_language(e.language, lang)]
        texts.append(self.fallback_text(lang))
        if languages.base(lang) == "en":
            replies = [r for r in smalltalk.REPLIES.values() if "{examples}" not in r]
        else:
            replies = list(smalltalk.OTHER_REPLIES.get(languages.base(lang), {}).values())
        texts += [r.format(place=self.place, examples="") for r in replies]
        firsts = [split_sentences(t)[0] for t in texts if t.strip()]
        return list(dict.fromkeys(firsts))

    @property
    def main_language(self) -> str:
        return self._kb_languages().main

    def languages(self) -> list[str]:
        """The languages of the enabled entries, the main language first, then by number of entries."""
        info = self._kb_languages()
        counts: dict[str, int] = {}
        for lang in info.entries.values():
            counts[lang] = counts.get(lang, 0) + 1
        return sorted(counts, key=lambda lang: (lang != info.main, -counts[lang], lang))

    def _kb_languages(self) -> _KbLanguages:
        """The knowledge base's languages, read again only when it changes."""
        version = self.store.kb_version(self.kb)
        if self._language_cache is None or self._language_cache.version != version:
            entries = self.store.entry_languages(self.kb)
            self._language_cache = _KbLanguages(
                version,
                self.store.kb_language(self.kb),
                entries,
                len({languages.base(lang) for lang in entries.values()}) > 1,
            )
        return self._language_cache

    @staticmethod
    def _in_language(entry_language: str, language: str) -> bool:
        return languages.base(entry_language) == languages.base(language)

    def fallback_text(self, language: str) -> str:
        return languages.fallback(language, self.settings.fallback_message, self.main_language)

    def suggestions(self, n: int = 6, language: str | None = None) -> list[str]:
        """Questions to offer on screen: the shortest question of each of the biggest categories."""
        lang = language or self.main_language
        by_category: dict[str, list[str]] = {}
        for entry in self.store.list(self.kb, enabled=True):
            if not self._in_language(entry.language, lang):
                continue
            by_category.setdefault(entry.category, []).append(entry.question)
        ranked = sorted(by_category.values(), key=lambda qs: (-len(qs), min(qs, key=len)))
        return [min(questions, key=len) for questions in ranked[:n]]

    def _fixed(self, mode: AnswerMode, text: str, reason: str, t0: float, **kw) -> Decision:
        return Decision(mode, None, None, (), fixed_text=text, reason=reason, timings_ms={"decide": _ms(t0)}, **kw)

    @staticmethod
    def _is_followup(text: str) -> bool:
        words = text.split()
        return len(words) <= 6 and bool(_FOLLOWUP_START.match(text.strip()))

    def _resolve_choice(self, text: str, choices: tuple[Choice, ...]) -> Choice | None:
        words = re.findall(r"\w+", text.lower())
        for word in words:
            if word in _ORDINALS and len(words) <= 5:
                index = _ORDINALS[word]
                if -len(choices) <= index < len(choices):
                    return choices[index]
        return None

    def _search(self, text: str, language: str) -> MatchResult:
        """Match ``text`` against the entries in ``language`` (all entries when the KB has one language)."""
        info = self._kb_languages()
        if not info.multilingual:
            return self.retriever.match(self.kb, text)
        result = self.retriever.match(self.kb, text, k=12)
        kept = [c for c in result.candidates if self._in_language(info.entries.get(c.faq_id, ""), language)]
        return MatchResult(kept[:5], result.passages, result.timings_ms)

    def _match(self, text: str, conversation: Conversation | None, language: str) -> tuple[MatchResult, str, str]:
        """Match ``text``; for a follow-up, also match it in the context of the previous question."""
        result = self._search(text, language)
        window = self.settings.followup_window_s
        if (
            conversation is None
            or not conversation.last_faq_id
            or time.monotonic() - conversation.last_time > window
            or not self._is_followup(text)
        ):
            return result, text, ""
        combined_query = f"{conversation.last_query} {text}"
        combined = self._search(combined_query, language)
        merged: dict[str, Candidate] = {c.faq_id: c for c in result.candidates}
        for c in combined.candidates:
            # in context; a follow-up usually asks about something next to the previous answer
            score = c.score * (FOLLOWUP_SAME_ENTRY if c.faq_id == conversation.last_faq_id else 1.0)
            if c.faq_id not in merged or score > merged[c.faq_id].score:
                merged[c.faq_id] = replace(c, score=score)
        ranked = sorted(merged.values(), key=lambda c: c.score, reverse=True)
        top_alone = result.top.score if result.top else 0.0
        if ranked and ranked[0].score > top_alone:
            timings = {**result.timings_ms, "followup_match": combined.timings_ms.get("match_total", 0.0)}
            return MatchResult(ranked[:5], combined.passages, timings), combined_query, "followup"
        return result, text, ""

    # -- deciding -----------------------------------------------------------
    def decide(self, text: str, conversation: Conversation | None = None) -> Decision:
        t0 = time.perf_counter()
        lang = (conversation.language if conversation is not None else "") or self.main_language
        verdict = guardrails.check(text)
        if not verdict.allowed:
            if languages.base(lang) != "en":  # the refusals are written in English; the hand-off is translated
                return self._fixed(AnswerMode.FALLBACK, self.fallback_text(lang), verdict.reason, t0)
            return self._fixed(AnswerMode.FALLBACK, guardrails.refusal(verdict.reason, self.place), verdict.reason, t0)
        text = verdict.text
        if not text:
            return self._fixed(AnswerMode.FALLBACK, self.fallback_text(lang), "empty", t0)
        talk = smalltalk.detect(
            text, place=self.place, examples=lambda: self.suggestions(3, lang), language=languages.base(lang)
        )
        if talk is not None:
            return self._fixed(AnswerMode.SMALLTALK, talk.reply, talk.intent, t0)

        if conversation is not None and conversation.pending_choices:
            chosen = self._resolve_choice(text, conversation.pending_choices)
            if chosen is not None:
                return Decision(
                    AnswerMode.FAQ,
                    chosen.faq_id,
                    1.0,
                    (),
                    reason="choice",
                    query=chosen.question,
                    timings_ms={"decide": _ms(t0)},
                )

        result, query, reason = self._match(text, conversation, lang)
        timings = {**result.timings_ms}
        cands = tuple(result.candidates)
        top = result.top
        s = self.settings
        fallback_text = self.fallback_text(lang)
        can_generate = (
            s.generate
            and self.llm is not None
            and self.llm.available  # a shared server that just failed: the entries answer meanwhile
            and languages.base(lang) in languages.LLM_LANGUAGES
        )
        best_passage = result.passages[0] if result.passages else None
        found = None  # the passage sentence that answers, when a passage is close enough to have one
        if best_passage is not None and best_passage.similarity >= PASSAGE_MIN_SIMILARITY:
            t_extract = time.perf_counter()
            found = self.documents.extract(self.kb, query, result.passages)
            timings["extract"] = _ms(t_extract)
        answerable = found is not None and found.confidence >= MIN_CONFIDENCE
        passage_wins = answerable and (top is None or best_passage.similarity > top.dense + 0.05)

        def decided(mode: AnswerMode, **kw) -> Decision:
            timings["decide"] = _ms(t0)
            kw.setdefault("reason", reason)
            return Decision(mode, candidates=cands, query=query, timings_ms=timings, **kw)

        def from_passages() -> Decision:  # a passage answers it: in its own words, fast; the LLM composes only
            # an answer to several things at once that no one sentence is sure of (dialog.documents), within a bound
            assert best_passage is not None and found is not None
            compose = can_generate and found.confidence < SURE_CONFIDENCE and _mentions_both(text)
            how = {} if compose else {"reason": "extractive"}
            passages = tuple(result.passages)
            return decided(AnswerMode.GENERATED, faq_id=None, score=best_passage.similarity, passages=passages, **how)

        if passage_wins:
            return from_passages()
        # Scores are calibrated probabilities that the entry is the right one, so they add up:
        # two entries at 0.35 and 0.25 mean "one of these two" more than "neither".
        plausible = [c for c in cands[:3] if c.score >= CHOICE_MIN]
        if top is None or (top.score < s.clarify_threshold and sum(c.score for c in plausible) < CLARIFY_SUM):
            if answerable:  # a question a passage answers never gets the hand-off
                return from_passages()
            return decided(AnswerMode.FALLBACK, faq_id=None, score=top.score if top else None, fixed_text=fallback_text)
        close = [c for c in cands[1:3] if top.score - c.score < s.clarify_margin and c.score >= CHOICE_MIN]
        if top.score >= s.faq_threshold:
            related = tuple(c.faq_id for c in close if c.score >= max(SECOND_ENTRY_MIN, s.faq_threshold * 0.8))
            if not reason and _mentions_both(text):  # a two-part question
                related = self._part_entries(text, top.faq_id, related, cands, lang)
                timings["decide_parts"] = _ms(t0)
                if related:  # compose the answer, or (no LLM) say each entry in turn
                    mode = AnswerMode.GENERATED if can_generate else AnswerMode.FAQ
                    return decided(mode, faq_id=top.faq_id, score=top.score, related=related)
            if not (related and len(text.split()) <= 3):  # a one- or two-word question that fits several entries
                return decided(AnswerMode.FAQ, faq_id=top.faq_id, score=top.score)
            close = [c for c in close if c.faq_id in related]
        if close or len(plausible) >= 2:
            choices = tuple(Choice(c.faq_id, c.question) for c in (top, *(close or plausible[1:])))
            asked = languages.clarify(lang, [c.question for c in choices])
            return decided(AnswerMode.CLARIFY, faq_id=None, score=top.score, choices=choices, fixed_text=asked)
        if top.score >= s.clarify_threshold:
            return decided(AnswerMode.FAQ, faq_id=top.faq_id, score=top.score, reason=reason or "single-candidate")
        if answerable:
            return from_passages()
        return decided(AnswerMode.FALLBACK, faq_id=None, score=top.score, fixed_text=fallback_text)

    def _part_entries(
        self, text: str, top_id: str, related: tuple[str, ...], cands: tuple[Candidate, ...], language: str
    ) -> tuple[str, ...]:
        """``related`` plus the entries the parts of a two-part question ask for ("are there toilets | and a cash
        machine?"), matched one by one: a part whose own best entry is sure enough, and which is a question of its
        own or an entry the whole question also points at ("I'm blind | and need someone to guide me" is one
        question)."""
        found = list(related)
        in_whole = {c.faq_id: c.score for c in cands}
        parts = [part.strip(" ,;?.!") for part in _PART_SPLIT.split(text)]
        for part in (p for p in parts if p):
            best = self._search(part, language).top
            if best is None or best.faq_id == top_id or best.faq_id in found or best.score < PART_MIN:
                continue
            if (
                _QUESTION_START.match(part)
                or len(part.split()) <= 3
                or in_whole.get(best.faq_id, 0.0) >= PART_IN_WHOLE_MIN
            ):
                found.append(best.faq_id)
        return tuple(found[:MAX_RELATED])

    # -- answering ----------------------------------------------------------
    def stream(
        self,
        text: str,
        conversation: Conversation | None = None,
        *,
        cancel: threading.Event | None = None,
        source: str = "text",
        decision: Decision | None = None,
    ) -> Iterator[Event]:
        """Decide (unless ``decision``, made earlier on the same text and conversation, is given), then yield the
        answer sentence by sentence, then the whole answer.

        Every question asked is logged: an answer closed before its end (barge-in, Stop, a new question, a
        voice that failed) is logged with what was said so far and the reason ``interrupted``.
        """
        t0 = time.perf_counter()
        if decision is None:
            decision = self.decide(text, conversation)
        spoken: list[str] = []
        finished = False
        try:
            for event in self._answer_events(text, conversation, cancel, decision, spoken, source, t0):
                finished = isinstance(event, AnswerFinished)
                yield event
        finally:
            if not finished:
                self._log_interrupted(text, decision, spoken, conversation, source, t0)

    def _log_interrupted(
        self,
        text: str,
        decision: Decision,
        spoken: list[str],
        conversation: Conversation | None,
        source: str,
        t0: float,
    ) -> None:
        answer = Answer(
            text=" ".join(spoken),
            mode=decision.mode,
            faq_id=decision.faq_id,
            score=decision.score,
            candidates=decision.candidates,
            sentences=tuple(spoken),
            timings_ms={**decision.timings_ms, "total": _ms(t0)},
            reason="interrupted",
            query=decision.query,
        )
        try:
            self._log_turn(text, answer, conversation, source)
        except Exception:  # never let logging an interrupted turn break the interruption
            _LOGGER.exception("cannot log the interrupted turn")

    def _answer_events(
        self,
        text: str,
        conversation: Conversation | None,
        cancel: threading.Event | None,
        decision: Decision,
        spoken: list[str],
        source: str,
        t0: float,
    ) -> Iterator[Event]:
        timings = {**decision.timings_ms}
        yield AnswerStarted(
            decision.mode,
            decision.faq_id,
            decision.score,
            decision.choices,
        )
        display = decision.fixed_text
        mode, reason, faq_id = decision.mode, decision.reason, decision.faq_id

        def emit(sentence: str) -> AnswerSentence:
            if not spoken:
                timings["first_sentence"] = _ms(t0)
            spoken.append(sentence)
            return AnswerSentence(sentence, len(spoken) - 1)

        entry = self.store.get(self.kb, faq_id) if faq_id else None
        answered = [entry] if entry is not None else []  # the entries a faq answer speaks
        related = [e for e in (self.store.get(self.kb, fid) for fid in decision.related) if e is not None]
        if mode == AnswerMode.FAQ:  # a two-part question without the LLM: each entry in turn
            answered += related
        if mode == AnswerMode.GENERATED:
            facts, passages = self._sources(answered + related, [p.text for p in decision.passages])
            generated_ok = False
            try:
                question = decision.query or text
                cap = DOCUMENT_LLM_S if entry is None and decision.passages else None  # documents: bounded
                for sentence in self._generate(question, facts, cancel, cap) if reason != "extractive" else ():
                    grounding = check_sentence(sentence, passages, text)
                    if not grounding.ok:
                        _LOGGER.info("generated sentence rejected (%s): %r", grounding.reason, sentence)
                        reason = f"ungrounded: {grounding.reason}"
                        break
                    generated_ok = True
                    yield emit(sentence)
                    if len(spoken) >= MAX_GENERATED_SENTENCES:
                        break
            except LlmError as exc:
                _LOGGER.warning("generation failed: %s", exc)
                reason = f"llm-error: {exc.code}"
            timings["generate"] = _ms(t0) - timings.get("decide", 0.0)
            if generated_ok:
                display = " ".join(spoken)
            elif entry is not None:  # each entry the question asked about, in its own words
                mode = AnswerMode.FAQ
                answered += related
            else:  # a document passage with no entry: its sentence or two that answer the question (all on screen)
                found = self.documents.extract(self.kb, decision.query or text, decision.passages)
                display = found.passage if found else (passages[0] if passages else self.settings.fallback_message)
                for sentence in found.sentences if found else split_sentences(display)[:MAX_GENERATED_SENTENCES]:
                    yield emit(sentence)
                reason = reason or "extractive"
        if mode == AnswerMode.FAQ and answered:
            display = " ".join(e.answer for e in answered)
            for sentence in (part for e in answered for part in split_sentences(e.speech)):
                if cancel is not None and cancel.is_set():
                    break
                yield emit(sentence)
        elif mode in (AnswerMode.SMALLTALK, AnswerMode.FALLBACK, AnswerMode.CLARIFY):
            for sentence in split_sentences(display):
                yield emit(sentence)
        timings["total"] = _ms(t0)
        answer = Answer(
            text=display,
            mode=mode,
            faq_id=faq_id if mode in (AnswerMode.FAQ, AnswerMode.GENERATED) else None,
            score=decision.score,
            candidates=decision.candidates,
            choices=decision.choices,
            sentences=tuple(spoken),
            timings_ms=timings,
            reason=reason,
            query=decision.query,
        )
        if conversation is not None:
            conversation.remember(answer)
        self._log_turn(text, answer, conversation, source)
        yield AnswerFinished(answer, timings)

    def _log_turn(self, text: str, answer: Answer, conversation: Conversation | None, source: str) -> None:
        if self.turn_log is None:
            return
        self.turn_log.record(
            TurnRecord(
                kb=self.kb,
                text=text,
                answer=answer.text,
                mode=answer.mode,
                faq_id=answer.faq_id,
                score=answer.score,
                candidates=[c.to_dict() for c in answer.candidates],
                timings_ms=answer.timings_ms,
                session_id=conversation.session_id if conversation else "",
                source=source,
                reason=answer.reason,
            )
        )

    def answer(self, text: str, conversation: Conversation | None = None, *, source: str = "text") -> Answer:
        final: Answer | None = None
        for event in self.stream(text, conversation, source=source):
            if isinstance(event, AnswerFinished):
                final = event.answer
        assert final is not None
        return final

    @staticmethod
    def _sources(entries: list, documents: list[str]) -> tuple[list[str], list[str]]:
        """(facts for the prompt, passages to check the answer against).

        An entry gives the prompt its spoken answer when it has one: shorter, so the model reads less before its
        first word (prefill is most of the wait on 2 cores) and has fewer facts to mix up; the check accepts
        what either of its texts says. A document passage gives its text to both.
        """
        facts = [e.speech for e in entries] + documents
        checked = [e.answer for e in entries] + documents + [e.spoken_answer for e in entries if e.spoken_answer]
        return facts, checked

    def _messages(self, question: str, passages: list[str]) -> list[ChatMessage]:
        facts = "\n".join(f"- {p}" for p in passages)
        return [
            ChatMessage(
                "system",
                f"You are the information kiosk of {self.place}. Answer the visitor's question in one or two short "
                "sentences, using only the facts given. Never add times, prices or places that are not in the facts.",
            ),
            ChatMessage("user", f"Facts:\n{facts}\n\nQuestion: {question}"),
        ]

    def _generate(
        self, question: str, passages: list[str], cancel: threading.Event | None, cap_s: float | None = None
    ) -> Iterator[str]:
        assert self.llm is not None
        messages = self._messages(question, passages)
        limits = GenerationLimits(
            max_tokens=self.llm_settings.max_tokens,
            timeout_s=min(self.llm_settings.timeout_s, cap_s or self.llm_settings.timeout_s),
            temperature=self.llm_settings.temperature,
        )
        # the first clause goes out alone (>= 6 words, up to a comma): speech starts before the sentence ends
        yield from stream_sentences(self.llm.stream(messages, limits=limits, cancel=cancel), first_clause_words=6)


def _mentions_both(text: str) -> bool:
    """Does the question ask about several things at once ("Saturday and Sunday", "hours and parking")?"""
    body = re.sub(r"^\W*(and|also|but|or|so)\b", "", text.strip(), flags=re.IGNORECASE)
    return bool(re.search(r"\b(and|or|both|as well as|plus)\b|,", body, re.IGNORECASE))


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
