"""The visitor's turn, end to end, without a screen: listen → answer → speak → listen again.

:class:`TurnLoop` owns the kiosk's turn state and every transition between
states; the Qt window and ``kiosk simulate`` are two front-ends to it. It is
fed microphone blocks (:meth:`feed`, from an audio thread or a WAV file) and
visitor actions (:meth:`tap`, :meth:`ask`, :meth:`stop`, :meth:`repeat`), and
reports everything through ``emit`` as typed events (its own from
``runtime.events``, and the speech and dialog events it passes on). A front end
reads what it draws every frame from :meth:`TurnLoop.status` and never reaches
into the loop's parts.

States::

    attract ──wake/tap──▶ listening ──final transcript──▶ thinking ──1st sentence──▶ speaking
       ▲                     ▲                                                      │ played out
       │                     └──speech── follow_up / clarify / handoff ◀────────────┘
       │                                        │ window over
       └── inactivity ── warning ◀── idle ◀─────┘

While the kiosk thinks or speaks the listener is muted (its own voice is
never transcribed); only the wake phrase gets through, and it barges in,
unless the sentence being played contains the phrase itself. Timers run on
``clock``: wall time live, stream time in the simulator.

A question is decided once: the words heard at the visitor's pause are decided
off the audio thread and the answer reuses that decision (``runtime.pause_decision``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from core.events import Event
from devices.base import AudioSink
from dialog.events import AnswerFinished, AnswerMode, AnswerSentence, AnswerStarted
from dialog.policy import AnswerPolicy, Conversation, Decision
from runtime.events import (
    BUSY_STATES,
    LISTENING_STATES,
    LoopStatus,
    PlaybackFinished,
    PlaybackStarted,
    Stage,
    StateChanged,
    TurnFailed,
    TurnState,
)
from runtime.pause_decision import PauseDecisions
from speech.asr.base import normalize_phrase
from speech.events import SpeechEnded, SpeechStarted, Transcript, TTSAudio, WakeDetected
from speech.listener import Listener, ListenMode
from speech.tts.base import TtsEngine

_LOGGER = logging.getLogger(__name__)

AFTER_ANSWER = {AnswerMode.CLARIFY: TurnState.CLARIFY, AnswerMode.FALLBACK: TurnState.HANDOFF}  # others: follow_up
WARNING_S = 20.0  # WCAG 2.2.1: at least 20 s to say "I'm still here"
# where speech (heard with the microphone open) starts a new question
SPEECH_ASKS = LISTENING_STATES - {TurnState.LISTENING} | {TurnState.WARNING, TurnState.IDLE}


@dataclass
class TurnTimer:
    """Latency of one turn, measured from the visitor's last word (or the tap on a question)."""

    endpoint_ms: float = 0.0  # end of speech → end of turn decided (the configured silence, mostly)
    origin: float = field(default_factory=time.perf_counter)  # wall time of the decision
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: Stage) -> None:
        self.marks.setdefault(name.value, round(self.endpoint_ms + (time.perf_counter() - self.origin) * 1000, 1))

    def as_dict(self) -> dict[str, float]:
        return {Stage.END_OF_TURN.value: round(self.endpoint_ms, 1), **self.marks}


@dataclass
class _Playing:
    text: str
    start: int
    end: int


class TurnLoop:
    def __init__(
        self,
        *,
        policy: AnswerPolicy,
        tts: TtsEngine,
        sink: AudioSink,
        listener: Listener | None,
        emit: Callable[[Event], None],
        followup_window_s: float = 8.0,
        listen_window_s: float = 6.0,
        inactivity_timeout_s: float = 60.0,
        warning_s: float = WARNING_S,
        volume: float = 1.0,
        clock: Callable[[], float] | None = None,
        synchronous: bool = False,
        decide_inline: bool | None = None,
        voices: Callable[[str], TtsEngine | None] | None = None,
        voice_language: str = "",
        confident_end_score: float = 1.0,
    ) -> None:
        """``synchronous``: answer on the caller's thread (the simulator). ``decide_inline``: decide the words
        heard at a pause on the audio thread instead of the decide worker (default: as ``synchronous``)."""
        self._policy = policy
        self._tts = self._main_voice = tts
        self._voices = voices  # language -> a voice for it (None: the kiosk cannot speak it)
        self._voice_language = voice_language  # what the ASR understands ("": the knowledge base's main language)
        self._sink = sink
        self._listener = listener
        self._emit = emit
        self.followup_window_s = followup_window_s
        self.listen_window_s = listen_window_s
        self.inactivity_timeout_s = inactivity_timeout_s
        self.warning_s = warning_s
        self.volume = volume
        self.synchronous = synchronous
        inline = synchronous if decide_inline is None else decide_inline
        self._decisions = PauseDecisions(policy, inline=inline, confident_score=confident_end_score)
        self._workers: set[threading.Thread] = set()
        self._clock = clock or (lambda: listener.t if listener is not None else time.monotonic())
        self._lock = threading.RLock()
        self.state = TurnState.STARTING
        self.conversation = Conversation()
        self.language = self._main_language = ""  # until warm() reads the knowledge base's main language
        self._deadline: float | None = None  # when the current state's window ends
        self._last_activity = self._clock()
        self._turn = 0  # bumps on every new turn or interruption; stale workers check it
        self._cancel = threading.Event()
        self._playing: list[_Playing] = []
        self._queued_end = 0
        self._last_audio: list[TTSAudio] = []
        self._answered = 0
        self._speech_end: SpeechEnded | None = None
        self._speech_end_wall = 0.0
        self._phrase = ""
        if listener is not None:
            listener.suppress_wake = self._saying_wake_phrase
            self._phrase = normalize_phrase(listener.wake.phrase if listener.wake is not None else "hey kiosk")
            if confident_end_score < 1.0:
                listener.confident_end = self._confident_question

    # -- what a front end reads -------------------------------------------------
    def status(self) -> LoopStatus:
        """A snapshot for the display timer: state, language, the speaker's clock, the microphone level."""
        return LoopStatus(
            state=self.state,
            language=self.language or self.main_language,
            voice_language=self.voice_language,
            voice_input=self.voice_input,
            volume=self.volume,
            mic_level=self._listener.level if self._listener is not None else 0.0,
            played_samples=self._sink.played_samples(),
            output_latency_s=self._sink.output_latency,
            voice=self._tts.name,
        )

    def suggestions(self, n: int = 6) -> list[str]:
        """Questions to offer as chips, in the language on screen."""
        return self._policy.suggestions(n, self.language or None)

    def fallback_text(self) -> str:
        """The hand-off text in the language on screen."""
        return self._policy.fallback_text(self.language or self.main_language)

    def knowledge_base(self) -> tuple[str, int]:
        """The knowledge base answered from, and its version (one SQLite read: for the heartbeat, not every frame)."""
        return self._policy.kb, self._policy.store.kb_version(self._policy.kb)

    # -- state ----------------------------------------------------------------
    def _set_state(self, state: TurnState, reason: str = "", window: float | None = None) -> None:
        with self._lock:
            previous, self.state = self.state, state
            now = self._clock()
            self._deadline = now + window if window is not None else None
            if self._listener is not None:
                if not self.voice_input or state in BUSY_STATES:  # the ASR does not understand the language on screen
                    self._listener.set_mode(ListenMode.MUTED)
                elif state in LISTENING_STATES:
                    self._listener.set_mode(ListenMode.OPEN)
                else:
                    self._listener.set_mode(ListenMode.WAKE if self._listener.wake is not None else ListenMode.MUTED)
        if state != previous or reason:
            _LOGGER.debug("state %s → %s %s", previous, state, reason)
            self._emit(StateChanged(state, previous, reason))

    def warm(self, stop: threading.Event | None = None, *, openings: bool = True) -> int:
        """Load the matching models, the LLM and the voice; then (``openings``) pre-synthesize answers' first sentences.

        The audio is disk-cached, so after the first start-up answers begin at once.
        """
        began = time.perf_counter()
        self._policy.warm()
        self.language = self.main_language
        self._tts.warm()
        _LOGGER.info("answer engines ready in %.1f s", time.perf_counter() - began)
        return self.warm_openings(stop) if openings else 0

    def warm_openings(self, stop: threading.Event | None = None) -> int:
        """Synthesize the first sentence of every answer and stock reply into the audio cache.

        A visitor's turn goes first: between sentences this waits while the kiosk is thinking or speaking.
        """
        began = time.perf_counter()
        done = 0
        for sentence in self._policy.openings():
            while self.state in BUSY_STATES and not (stop is not None and stop.is_set()):
                time.sleep(0.2)
            if stop is not None and stop.is_set():
                break
            try:
                self._main_voice.synthesize_sentence(sentence)
            except Exception as exc:  # a sentence the voice cannot say is synthesized (and fails) live instead
                _LOGGER.warning("cannot pre-synthesize %r: %s", sentence[:40], exc)
            done += 1
        _LOGGER.info("%d answer openings ready in %.1f s", done, time.perf_counter() - began)
        return done

    def start(self) -> None:
        """The engines are ready: show the attract screen."""
        self._set_state(TurnState.ATTRACT)

    # -- languages ------------------------------------------------------------
    @property
    def main_language(self) -> str:
        if not self._main_language:
            self._main_language = self._policy.main_language
        return self._main_language

    @property
    def voice_language(self) -> str:
        """The language the ASR understands (``kiosk.language``)."""
        return self._voice_language or self.main_language

    @property
    def listens(self) -> bool:
        """Has the kiosk a microphone pipeline (in some language)?"""
        return self._listener is not None

    @property
    def voice_input(self) -> bool:
        """Can the visitor ask by voice now? Only in the language the ASR understands."""
        return self._listener is not None and (self.language or self.main_language) == self.voice_language

    def languages(self) -> list[str]:
        """The knowledge base's languages the kiosk can speak, the main language first."""
        main = self.main_language
        return [lang for lang in self._policy.languages() or [main] if lang == main or self._voice(lang) is not None]

    def _voice(self, language: str) -> TtsEngine | None:
        if language == self.main_language:
            return self._main_voice
        return self._voices(language) if self._voices is not None else None

    def set_language(self, language: str) -> None:
        """The visitor picked a language: a new conversation, answers and voice in that language."""
        voice = self._voice(language)
        if voice is None:
            raise ValueError(f"no voice for language {language!r}")
        with self._lock:
            self._touch()
            self._interrupt("language")
            self.language, self._tts = language, voice
            self.conversation = Conversation(language=language)
            self._last_audio = []
            self._set_state(self._rest_state(), f"language {language}")
        self._run(lambda: self._warm_voice(voice, language))

    def _warm_voice(self, voice: TtsEngine, language: str) -> None:
        try:
            voice.warm()
        except Exception as exc:
            _LOGGER.warning("the %s voice did not load: %s", language, exc)

    def _touch(self) -> None:
        self._last_activity = self._clock()

    def tick(self, *, wait: bool = True) -> None:
        """Check the state's timers (called after every block and by the UI's timer).

        ``wait=False`` (the UI's timer) skips the check while another thread holds the loop, e.g. the audio
        thread while the recognizer makes a partial transcript: the window must not stall on it, and the audio
        thread checks the timers itself after every block.
        """
        if not self._lock.acquire(blocking=wait):
            return
        try:
            self._check_timers()
        finally:
            self._lock.release()

    def _check_timers(self) -> None:
        now = self._clock()
        state = self.state
        if self._deadline is not None and now >= self._deadline:
            if state == TurnState.LISTENING and self._listener is not None and self._listener.endpoint.in_speech:
                self._deadline = now + 1.0  # the visitor is still talking
            elif state in LISTENING_STATES:
                self._set_state(self._rest_state(), "no speech")
            elif state == TurnState.WARNING:
                self._reset()
        elif state == TurnState.IDLE and now - self._last_activity >= self.inactivity_timeout_s:
            self._set_state(TurnState.WARNING, f"{self.warning_s:.0f}", window=self.warning_s)

    def _rest_state(self) -> TurnState:
        """Where the kiosk waits: ``idle`` with a conversation on screen, else ``attract``."""
        return TurnState.IDLE if self._answered else TurnState.ATTRACT

    def _reset(self) -> None:
        """Inactivity: forget the conversation, back to the attract screen."""
        self.conversation = Conversation()
        self.language, self._tts = self.main_language, self._main_voice  # the next visitor starts afresh
        self._last_audio = []
        self._answered = 0
        self._set_state(TurnState.ATTRACT, "inactivity")

    # -- visitor actions ------------------------------------------------------
    def tap(self) -> None:
        """Tap-to-talk (also barge-in while speaking, and "I'm still here" during the warning)."""
        with self._lock:
            self._touch()
            self._interrupt("tap")
            if not self.voice_input:
                reason = "no microphone" if self._listener is None else "no voice input"
                self._set_state(self._rest_state(), reason)
                return
            self._set_state(TurnState.LISTENING, "tap", window=self.listen_window_s)

    def still_here(self) -> None:
        """Any touch on the screen: keeps the conversation (cancels the inactivity warning)."""
        with self._lock:
            self._touch()
            if self.state == TurnState.WARNING:
                self._set_state(TurnState.IDLE, "still here")

    def ask(self, text: str, *, source: str = "touch") -> None:
        """A typed or tapped question."""
        text = text.strip()
        if not text:
            return
        with self._lock:
            self._touch()
            self._interrupt("new question")
            self._answer(text, TurnTimer(), source)

    def stop(self) -> None:
        """The Stop button: silence now, keep the conversation."""
        with self._lock:
            self._touch()
            if self._interrupt("stop"):
                self._set_state(self._rest_state(), "stopped")

    def repeat(self) -> None:
        """Say the last answer again (from its audio: no synthesis)."""
        with self._lock:
            self._touch()
            audio = list(self._last_audio)
            if not audio:
                return
            self._interrupt("repeat")
            self._turn += 1
            self._set_state(TurnState.SPEAKING, "repeat")
            for chunk in audio:
                self._play(chunk)
            turn = self._turn
        self._run(lambda: self._wait_played(turn, mode=AnswerMode.FAQ))

    def set_volume(self, volume: float) -> None:
        self.volume = float(np.clip(volume, 0.0, 2.0))

    def shutdown(self, *, close_speaker: bool = True) -> None:
        """Stop answering, then (``close_speaker``) close the speaker; the decide worker ends too."""
        with self._lock:
            self._interrupt("shutdown")
            self._set_state(TurnState.STOPPED, "shutdown")
        self._decisions.shutdown()
        if close_speaker:
            self._sink.close()

    # -- audio ----------------------------------------------------------------
    def feed(self, block: np.ndarray) -> None:
        """One microphone block (from the audio thread)."""
        if self._listener is None:
            return
        wall = time.perf_counter()
        with self._lock:
            events = self._listener.feed(block)
        for event in events:
            self._on_listener_event(event, wall)
        self.tick()

    def finish_stream(self) -> None:
        """The microphone stream ended (end of a WAV file)."""
        if self._listener is None:
            return
        wall = time.perf_counter()
        with self._lock:
            events = self._listener.flush()
        for event in events:
            self._on_listener_event(event, wall)

    def _on_listener_event(self, event: Event, wall: float) -> None:
        with self._lock:
            state = self.state
            open_mic = self._listener.mode == ListenMode.OPEN
            if isinstance(event, WakeDetected):
                self._emit(event)
                self._touch()
                if state in BUSY_STATES:
                    self._interrupt("wake")
                if state != TurnState.LISTENING or not open_mic:
                    self._set_state(TurnState.LISTENING, "wake", window=self.listen_window_s)
            elif isinstance(event, SpeechStarted):
                self._touch()
                self._emit(event)
                if state in SPEECH_ASKS and open_mic:
                    self._set_state(TurnState.LISTENING, "speech", window=self.listen_window_s)
            elif isinstance(event, SpeechEnded):
                self._speech_end, self._speech_end_wall = event, wall
                self._emit(event)
            elif isinstance(event, Transcript) and not event.final:
                self._emit(event)
            elif isinstance(event, Transcript):
                self._emit(event)
                if state != TurnState.LISTENING:
                    return
                if not event.text:
                    self._set_state(TurnState.LISTENING, "not understood", window=self.listen_window_s)
                    return
                timer = TurnTimer()
                if self._speech_end is not None:
                    timer.endpoint_ms = (self._speech_end.detected - self._speech_end.voiced_end) * 1000
                    timer.origin = self._speech_end_wall
                timer.mark(Stage.ASR_FINAL)
                self._answer(event.text, timer, "voice", self._take_decision(event.text))

    # -- the decision made while the visitor pauses (runtime.pause_decision) ----
    def _confident_question(self, text: str) -> Future[bool]:
        """Are the words heard so far a question the policy answers from one entry with confidence?

        Asked by the listener after a short silence (on the audio thread, under the loop's lock); the decision
        runs on the decide worker and is kept for the answer.
        """
        return self._decisions.decide(text, self._turn, self.conversation, self._current)

    def _take_decision(self, text: str) -> Decision | None:
        return self._decisions.take(text, self._turn)

    # -- answering ------------------------------------------------------------
    def _interrupt(self, reason: str) -> bool:
        """Stop the answer being prepared or played; True if there was one."""
        busy = self.state in BUSY_STATES
        self._turn += 1
        self._queued_end = 0
        self._decisions.drop()
        self._cancel.set()
        self._cancel = threading.Event()
        if busy:
            self._sink.stop()
            self._playing = []
            self._emit(PlaybackFinished(interrupted=True))
            _LOGGER.info("answer interrupted (%s)", reason)
        return busy

    def _answer(self, text: str, timer: TurnTimer, source: str, decision: Decision | None = None) -> None:
        self._turn += 1
        turn, cancel = self._turn, self._cancel
        self._set_state(TurnState.THINKING, source)
        self._run(lambda: self._answer_worker(text, timer, source, turn, cancel, decision))

    def _run(self, target: Callable[[], None]) -> None:
        if self.synchronous:
            target()
            return

        def work() -> None:
            try:
                target()
            finally:
                self._workers.discard(threading.current_thread())

        worker = threading.Thread(target=work, name="kiosk-answer", daemon=True)
        self._workers.add(worker)
        worker.start()

    def _current(self, turn: int) -> bool:
        return turn == self._turn

    def _answer_worker(
        self,
        text: str,
        timer: TurnTimer,
        source: str,
        turn: int,
        cancel: threading.Event,
        decision: Decision | None,
    ) -> None:
        audio: list[TTSAudio] = []
        mode = AnswerMode.FALLBACK
        try:
            events = self._policy.stream(text, self.conversation, cancel=cancel, source=source, decision=decision)
            for event in events:
                if not self._current(turn):
                    return
                if isinstance(event, AnswerStarted):
                    timer.mark(Stage.ANSWER_READY)
                    self._emit(event)
                elif isinstance(event, AnswerSentence):
                    self._emit(event)
                    chunk = self._tts.synthesize_sentence(event.text, event.index)
                    with self._lock:
                        if not self._current(turn):
                            return
                        audio.append(chunk)
                        self._play(chunk)
                        timer.mark(Stage.FIRST_AUDIO)
                        if self.state == TurnState.THINKING:
                            self._set_state(TurnState.SPEAKING)
                elif isinstance(event, AnswerFinished):
                    mode = event.answer.mode
                    self._answered += 1
                    self._emit(AnswerFinished(event.answer, {**event.timings_ms, **timer.as_dict()}))
        except Exception as exc:
            _LOGGER.exception("answering %r failed", text[:60])
            with self._lock:
                if self._current(turn):
                    self._emit(TurnFailed("answer-failed", str(exc)))
                    self._set_state(self._rest_state(), "error")
            return
        with self._lock:
            if self._current(turn):
                self._last_audio = audio
        self._wait_played(turn, mode)

    def _play(self, chunk: TTSAudio) -> None:
        samples = chunk.samples * self.volume if self.volume != 1.0 else chunk.samples
        start = max(self._sink.written_samples(), self._queued_end)
        self._sink.play(np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False), chunk.sample_rate)
        self._queued_end = start + len(samples)
        self._playing.append(_Playing(chunk.text, start, self._queued_end))
        self._emit(PlaybackStarted(chunk, start))

    def _wait_played(self, turn: int, mode: AnswerMode) -> None:
        while not self._sink.wait(0.05):
            if not self._current(turn):
                return
        with self._lock:
            if not self._current(turn):
                return
            self._playing = []
            self._emit(PlaybackFinished())
            self._touch()
            if self._listener is None:
                self._set_state(self._rest_state(), mode)
            else:
                self._set_state(AFTER_ANSWER.get(mode, TurnState.FOLLOW_UP), mode, window=self.followup_window_s)

    def _saying_wake_phrase(self) -> bool:
        """Self-hearing guard: the sentence playing now (or just before) contains the wake phrase."""
        if not self._playing or not self._phrase:
            return False
        played = self._sink.played_samples()
        return any(
            p.start - 4096 <= played <= p.end + 8192 and self._phrase in normalize_phrase(p.text) for p in self._playing
        )
