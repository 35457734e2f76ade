"""The turn loop's logic with small fake engines (no model): states, barge-in, follow-up, clarify,
hand-off, errors, and the question decided once at the visitor's pause, off the audio thread.

The same loop with the real models is tested in test_turn_loop.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.settings import DialogSection, LlmSection
from dialog.events import AnswerFinished, AnswerMode, AnswerStarted
from dialog.policy import AnswerPolicy
from dialog.turns import TurnLog
from knowledge.entries import FaqEntry
from knowledge.store import FaqStore
from runtime.events import PlaybackFinished, StateChanged, TurnFailed, TurnState
from runtime.turn_loop import TurnLoop
from speech.events import SpeechEnded, Transcript, WakeDetected
from speech.listener import Listener
from tests.fakes import (
    WAKE_MARK,
    FakeVoice,
    HeldSink,
    MarkedWake,
    ScriptedAsr,
    ScriptedRetriever,
    block,
    end_of_turn,
    silence,
    speech,
    wait_until,
)

ENTRIES = [
    FaqEntry("hours", "What are your opening hours?", "We are open from 9 to 5. On Saturdays from 10 to 1."),
    FaqEntry("card", "I lost my card", "Call 0800 123 456 at once. We block the card for you."),
    FaqEntry("parking", "Is there parking?", "Yes, there is free parking behind the branch."),
    FaqEntry("wifi", "Is there wifi?", "Free Wi-Fi is available in the lobby."),
]
TABLE = {
    "what are your opening hours": [("hours", 0.95), ("card", 0.05)],
    "i lost my card": [("card", 0.9), ("hours", 0.05)],
    "tickets": [("parking", 0.42), ("wifi", 0.38)],  # two close candidates: clarify
    "the second one": [],
    "who won the match": [("hours", 0.1)],
}


class Kiosk:
    """A turn loop over fakes, with every event it emitted."""

    def __init__(self, tmp_path: Path, *, asr: tuple[str, ...] = (), hold: bool = False, **options) -> None:
        store = FaqStore.open(tmp_path / "kiosk.db")
        store.create_kb("bank", title="Test Bank")
        for entry in ENTRIES:
            store.upsert("bank", entry)
        self.store = store
        self.retriever = ScriptedRetriever(TABLE)
        self.policy = AnswerPolicy(
            kb="bank",
            store=store,
            retriever=self.retriever,
            dialog=DialogSection(),
            llm_settings=LlmSection(),
            turn_log=TurnLog(store.db),
        )
        self.wake = MarkedWake()
        self.asr = ScriptedAsr(*asr)
        self.listener = Listener(endpoint=end_of_turn(), asr=self.asr, wake=self.wake, require_wake=False)
        self.voice = options.pop("voice", None) or FakeVoice()
        self.sink = HeldSink(hold=hold)
        self.events: list = []
        options.setdefault("synchronous", True)
        self.loop = TurnLoop(
            policy=self.policy,
            tts=self.voice,
            sink=self.sink,
            listener=self.listener,
            emit=self.events.append,
            followup_window_s=2.0,
            inactivity_timeout_s=3.0,
            warning_s=1.0,
            **options,
        )
        self.loop.warm(openings=False)
        self.retriever.asked.clear()  # warming up matched a question of its own
        self.loop.start()

    def feed(self, blocks) -> None:
        for b in blocks:
            self.loop.feed(b)

    def states(self) -> list[str]:
        return [e.state for e in self.events if isinstance(e, StateChanged)]

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, predicate) -> None:
        """Wait for a worker thread (a hang guard only: the fakes answer in milliseconds)."""
        assert wait_until(predicate, 20.0), "the turn loop did not get there"


def test_a_spoken_question_goes_through_every_state_and_is_logged(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, asr=("what are your opening hours",))
    k.loop.tap()
    k.feed(silence(0.2) + speech(1.0) + silence(0.8))
    assert k.states() == ["attract", "listening", "thinking", "speaking", "follow_up"]
    (final,) = [e for e in k.of(Transcript) if e.final]
    assert final.text == "what are your opening hours"
    (finished,) = k.of(AnswerFinished)
    assert finished.answer.mode == AnswerMode.FAQ and finished.answer.faq_id == "hours"
    assert k.voice.said == ["We are open from 9 to 5.", "On Saturdays from 10 to 1."]
    assert k.sink.chunks == [len(s) * 160 for s in k.voice.said]
    for stage in ("asr_final_after_speech_end", "answer_ready_after_speech_end", "first_audio_after_speech_end"):
        assert stage in finished.timings_ms
    rows = TurnLog(k.store.db).recent(5)
    assert [(r["text"], r["mode"], r["faq_id"]) for r in rows] == [("what are your opening hours", "faq", "hours")]


def test_follow_up_window_then_idle_then_warning_then_attract(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)  # timers run on stream time: follow-up 2 s, inactivity 3 s, warning 1 s
    k.loop.ask("I lost my card")
    assert k.loop.state == TurnState.FOLLOW_UP
    k.feed(silence(2.2))  # the follow-up window passes without speech
    assert k.loop.state == TurnState.IDLE
    k.feed(silence(1.0))  # 3 s without interaction: "are you still there?"
    assert k.loop.state == TurnState.WARNING
    k.loop.still_here()
    assert k.loop.state == TurnState.IDLE and k.loop.conversation.last_faq_id == "card"
    k.feed(silence(3.2))
    assert k.loop.state == TurnState.WARNING
    k.feed(silence(1.2))  # no answer to the warning: the conversation is forgotten
    assert k.loop.state == TurnState.ATTRACT and k.loop.conversation.last_faq_id is None
    assert k.states()[-5:] == ["idle", "warning", "idle", "warning", "attract"]


def test_speech_in_the_follow_up_window_needs_no_wake_phrase(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, asr=("i lost my card",))
    k.loop.ask("what are your opening hours")
    assert k.loop.state == TurnState.FOLLOW_UP
    k.feed(speech(0.8) + silence(0.8))
    assert [e.answer.faq_id for e in k.of(AnswerFinished)] == ["hours", "card"]
    assert k.wake.heard == 0


def test_clarify_offers_choices_and_the_answer_picks_one(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, asr=("the second one",))
    k.loop.ask("tickets")
    started = k.of(AnswerStarted)[-1]
    assert started.mode == AnswerMode.CLARIFY
    assert [c.faq_id for c in started.choices] == ["parking", "wifi"]
    assert k.loop.state == TurnState.CLARIFY
    k.feed(speech(0.6) + silence(0.8))  # no wake phrase needed while the kiosk asks
    chosen = k.of(AnswerFinished)[-1].answer
    assert (chosen.mode, chosen.faq_id, chosen.reason) == (AnswerMode.FAQ, "wifi", "choice")


def test_out_of_scope_gets_the_hand_off_and_keeps_listening(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.loop.ask("who won the match")
    answer = k.of(AnswerFinished)[-1].answer
    assert answer.mode == AnswerMode.FALLBACK and answer.faq_id is None
    assert k.voice.said and "member of staff" in " ".join(k.voice.said)
    assert k.loop.state == TurnState.HANDOFF
    assert k.loop.fallback_text() == DialogSection().fallback_message


def test_the_wake_phrase_barges_in_while_the_kiosk_speaks(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, hold=True, synchronous=False)
    k.loop.ask("what are your opening hours")
    k.wait_for(lambda: k.loop.state == TurnState.SPEAKING and len(k.sink.chunks) == 2)
    k.feed([block(WAKE_MARK)])
    assert k.of(WakeDetected) and k.sink.stops == 1
    assert k.of(PlaybackFinished)[-1].interrupted
    assert k.loop.state == TurnState.LISTENING
    assert k.loop.status().played_samples == 0  # nothing more of the answer is played
    k.sink.release()
    assert k.loop.state == TurnState.LISTENING  # the interrupted answer's worker does not move the state on


def test_stop_silences_and_repeat_replays_without_synthesis(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, hold=True, synchronous=False)
    k.loop.ask("I lost my card")
    k.wait_for(lambda: len(k.sink.chunks) == 2)
    k.wait_for(lambda: k.of(AnswerFinished))
    k.loop.stop()
    assert k.loop.state == TurnState.IDLE and k.sink.stops == 1
    assert k.of(PlaybackFinished)[-1].interrupted
    k.sink.hold = False
    k.loop.ask("I lost my card")
    k.wait_for(lambda: k.loop.state == TurnState.FOLLOW_UP)
    said = list(k.voice.said)
    k.loop.repeat()
    k.wait_for(lambda: k.loop.state == TurnState.FOLLOW_UP and len(k.sink.chunks) == 6)
    assert k.voice.said == said  # replayed from the kept audio


def test_a_failing_voice_reports_the_error_and_the_next_question_works(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, voice=FakeVoice(fail_on="Saturdays"))
    k.loop.ask("what are your opening hours")
    (failed,) = k.of(TurnFailed)
    assert failed.code == "answer-failed" and "Saturdays" in failed.message
    assert k.loop.state == TurnState.ATTRACT
    k.loop.ask("I lost my card")
    assert k.of(AnswerFinished)[-1].answer.faq_id == "card"
    assert k.loop.state == TurnState.FOLLOW_UP


def test_a_confident_question_is_decided_once_on_the_decide_worker(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, asr=("what are your opening hours",), confident_end_score=0.7, decide_inline=False)
    threads: list[str] = []
    match = k.retriever.match

    def traced(kb: str, text: str, k: int = 5):
        threads.append(threading.current_thread().name)
        return match(kb, text, k)

    k.retriever.match = traced
    gate = k.retriever.gate = threading.Event()
    k.loop.tap()
    k.feed(silence(0.2) + speech(1.0) + silence(0.3))  # the short silence: the words go to the decide worker
    assert not k.of(SpeechEnded)  # the audio thread did not wait for the decision
    gate.set()
    k.loop._decisions.barrier()  # the decision is made
    k.feed(silence(0.1))  # the next block sees the verdict: the turn ends before the full 0.6 s
    (ended,) = k.of(SpeechEnded)
    assert ended.confident and ended.detected - ended.voiced_end < 0.45
    assert k.of(AnswerFinished)[-1].answer.faq_id == "hours"
    assert threads == ["kiosk-decide_0"]  # decided once, on the worker; the answer reused the decision
    k.loop.shutdown()
    assert k.sink.closed


def test_speech_after_the_pause_drops_the_early_decision(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, asr=("what are your opening hours", "i lost my card"), confident_end_score=0.99)
    k.loop.tap()
    k.feed(speech(1.0) + silence(0.3))  # decided at the pause (inline here): not confident enough to end
    assert not k.of(SpeechEnded) and k.retriever.asked == ["what are your opening hours"]
    k.asr.texts.pop(0)  # the visitor goes on: the recognizer now hears more
    k.feed(speech(0.5) + silence(0.8))
    assert k.retriever.asked[-1] == "i lost my card"
    assert k.of(AnswerFinished)[-1].answer.faq_id == "card"


def test_status_is_what_a_front_end_draws(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    status = k.loop.status()
    assert (status.state, status.language, status.voice_input, status.voice) == ("attract", "en", True, "fake-voice")
    k.loop.ask("I lost my card")
    assert k.loop.status().played_samples == sum(k.sink.chunks) > 0
    assert k.loop.knowledge_base() == ("bank", k.store.kb_version("bank"))
    assert k.loop.suggestions(2) and all(isinstance(s, str) for s in k.loop.suggestions(2))


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_typed_question_is_ignored(tmp_path: Path, text: str) -> None:
    k = Kiosk(tmp_path)
    k.loop.ask(text)
    assert k.states() == ["attract"] and not k.of(AnswerFinished)


def test_the_windows_timer_never_waits_for_the_audio_thread(tmp_path: Path) -> None:
    """The recognizer works on the audio thread inside the loop (a long partial transcript); the UI's tick skips."""
    k = Kiosk(tmp_path, asr=("what are your opening hours",))
    k.loop.tap()
    k.feed(speech(0.3))  # the ASR session is open
    k.asr.hold = threading.Event()
    audio = threading.Thread(target=k.feed, args=(speech(0.1),))
    audio.start()
    assert k.asr.holding.wait(20)  # the audio thread is inside the recognizer, holding the loop
    ticker = threading.Thread(target=k.loop.tick, kwargs={"wait": False})
    ticker.start()
    ticker.join(20)  # a hang guard only
    waited = ticker.is_alive()
    k.asr.hold.set()
    audio.join(20)
    ticker.join(20)
    assert not waited


def test_an_interrupted_answer_is_logged_with_what_was_said(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, voice=FakeVoice(slow_on="Saturdays"), synchronous=False)
    k.loop.ask("what are your opening hours")
    assert k.voice.slow.wait(20)  # the second sentence is being synthesized
    k.loop.ask("I lost my card")  # a new question interrupts it
    k.voice.go.set()
    k.wait_for(lambda: len(TurnLog(k.store.db).recent(5)) == 2)
    logged = {row["text"]: row for row in TurnLog(k.store.db).recent(5)}
    first, second = logged["what are your opening hours"], logged["I lost my card"]
    assert (first["text"], first["reason"], first["faq_id"]) == ("what are your opening hours", "interrupted", "hours")
    assert first["answer"].startswith("We are open from 9 to 5.")  # what was handed to the voice before it stopped
    assert (second["text"], second["faq_id"], second["reason"]) == ("I lost my card", "card", "")
