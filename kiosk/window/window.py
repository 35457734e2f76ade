"""The visitor-facing window: the view driven by the turn loop's events and status.

Threads (``kiosk.window.runner``): the Qt thread only draws and reacts to taps; a
start-up worker builds and warms the :class:`~runtime.turn_loop.TurnLoop`, an
audio thread feeds it microphone blocks, and the loop answers on its own worker.
Everything the loop reports arrives as events through one queued signal; what is
drawn every frame (the speaker's clock, the microphone level) is read from
:meth:`TurnLoop.status`. The window never reaches into the loop's parts.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, QRect, QTimer
from PyQt6.QtWidgets import QApplication, QWidget

from core.events import Event
from core.heartbeat import HeartbeatWriter
from core.sdnotify import notify, watchdog_interval_s
from core.settings import Settings
from devices.events import DeviceChanged, DeviceKind, DeviceStatus
from dialog.events import AnswerFinished, AnswerMode, AnswerStarted
from dialog.languages import name as language_name
from kiosk.doctor import package_version
from kiosk.window.avatar_view import QUIET_STATES, Captions, FrameStats
from kiosk.window.runner import LoopFactory, LoopRunner, SourceFactory
from kiosk.window.view import KioskView
from runtime.events import PlaybackFinished, PlaybackStarted, StateChanged, TurnFailed, TurnState
from runtime.turn_loop import TurnLoop
from speech.events import Transcript, WakeDetected

_LOGGER = logging.getLogger(__name__)

EXIT_CORNER_PX = 96
EXIT_HOLD_MS = 3000
CHOICES_SHOWN = {TurnState.ATTRACT, TurnState.IDLE, TurnState.FOLLOW_UP, TurnState.CLARIFY}


@functools.cache
def _version() -> str:
    """This package's version, for the heartbeat (looked up once: the metadata scan reads site-packages)."""
    return package_version("kiosk-avatar") or ""


class KioskWindow(KioskView):
    def __init__(
        self,
        *,
        settings: Settings,
        loop_factory: LoopFactory,
        title: str,
        home_root: Path | None = None,
        source_factory: SourceFactory | None = None,
        locked: bool = False,
        avatar_pack=None,
        audio_mouth: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(settings=settings, title=title)
        self.loop: TurnLoop | None = None
        self._home_root = home_root
        self._heartbeat_writer = HeartbeatWriter(home_root) if home_root is not None else None
        self._phrase = settings.wake.phrase
        self.locked = locked
        self.allow_close = not locked
        self.state = TurnState.STARTING
        self._last_error = ""
        self._captions = Captions()
        self._warning_until = 0.0
        self.stats = FrameStats()
        self.startup_stats: FrameStats | None = None
        self._pack = avatar_pack
        self._pin_dialog = None
        self._suggestions: list[str] = []
        self._languages: list[str] = []
        live_factory = None
        if avatar_pack is not None:

            def live_factory():
                from avatar.live import LiveAvatar

                return LiveAvatar(avatar_pack, fps=settings.avatar.fps, audio_mouth=audio_mouth)

        self.runner = LoopRunner(loop_factory=loop_factory, source_factory=source_factory, live_factory=live_factory)
        self._connect_controls()
        bridge = self.runner.bridge
        bridge.event.connect(self._on_event)
        bridge.ready.connect(self._on_ready)
        bridge.failed.connect(self._on_failed)
        self._display = self._timer(int(1000 / settings.avatar.fps), self._on_display)
        self._ticker = self._timer(250, self._on_tick)
        self._heartbeat = self._timer(30_000, self._beat)
        interval = watchdog_interval_s()
        if interval:  # pinged from the Qt thread: a frozen UI is restarted
            self._watchdog = self._timer(int(interval * 1000), lambda: notify("WATCHDOG=1"))
        self._exit_hold = QTimer(self, singleShot=True)
        self._exit_hold.timeout.connect(self._operator_exit)
        QApplication.instance().installEventFilter(self)
        self._beat()
        self.runner.start()

    def _timer(self, interval_ms: int, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.timeout.connect(slot)
        timer.start(interval_ms)
        return timer

    def _connect_controls(self) -> None:
        self.ask_button.clicked.connect(self._ask_typed)
        self.keyboard.submitted.connect(self._ask_typed)
        self.talk_button.clicked.connect(self._talk)
        self.type_button.clicked.connect(lambda: self.show_keyboard(not self.typing.isVisible()))
        self.stop_button.clicked.connect(lambda: self.loop and self.loop.stop())
        self.repeat_button.clicked.connect(lambda: self.loop and self.loop.repeat())
        self.quieter_button.clicked.connect(lambda: self._change_volume(-0.2))
        self.louder_button.clicked.connect(lambda: self._change_volume(+0.2))
        self.text_button.clicked.connect(self.toggle_large_text)
        self.contrast_button.clicked.connect(self.toggle_contrast)
        self.language_button.clicked.connect(self._next_language)

    # -- the loop is ready (Qt thread) ------------------------------------------
    def _on_ready(self, loop: TurnLoop, suggestions: list[str], languages: list[str], live) -> None:
        self.loop = loop
        if live is not None:
            self.avatar.attach(self._pack, live)
        self.startup_stats, self.stats = self.stats, FrameStats()  # stalls while models load are counted apart
        self._suggestions = suggestions
        self._languages = languages
        self.language = loop.language or self.language
        self._set_chips(suggestions)
        for button in self.tools:
            button.setEnabled(True)
        self.talk_button.setEnabled(loop.voice_input)
        self.ask_button.setEnabled(True)
        self.status.setText("")
        self._show_languages()
        loop.start()
        notify("READY=1")

    def _on_failed(self, detail: str) -> None:
        self._last_error = detail[:200]
        self.show_error(self.t("startup_failed"))
        self._set_state(TurnState.ERROR)
        _LOGGER.error("visitor-facing error: %s", detail)

    # -- languages ------------------------------------------------------------
    def _upcoming_language(self) -> str | None:
        """The language the button switches to (None for a one-language knowledge base)."""
        if len(self._languages) < 2:
            return None
        index = self._languages.index(self.language) if self.language in self._languages else 0
        return self._languages[(index + 1) % len(self._languages)]

    def _show_languages(self) -> None:
        """The language button names the next language (hidden for a one-language knowledge base)."""
        upcoming = self._upcoming_language()
        if upcoming is None:
            self.language_button.hide()
            return
        self.language_button.setText(language_name(upcoming))
        self.language_button.setEnabled(True)
        self.language_button.show()

    def _next_language(self) -> None:
        upcoming = self._upcoming_language()
        if self.loop is None or upcoming is None:
            return
        self.loop.set_language(upcoming)
        self._follow_language()

    def _follow_language(self) -> None:
        """Show the window in the loop's language (after a switch, or back to the main one after inactivity)."""
        if self.loop is None:
            return
        status = self.loop.status()
        if status.language == self.language:
            return
        self.relabel(status.language)
        self.show_keyboard(False)
        self.talk_button.setEnabled(status.voice_input)
        self._suggestions = self.loop.suggestions(6)
        self._set_chips(self._suggestions)
        self.answer.setText(self.t("hello"))
        self.transcript.setText("")
        voice = language_name(status.voice_language)
        self.status.setText("" if status.voice_input else self.t("voice_other_language", voice=voice))
        self._show_languages()
        self._set_state(self.state)

    # -- events (Qt thread) ---------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self._set_state(event.state, event.reason)
        elif isinstance(event, Transcript):
            self.transcript.setText(f"“{event.text}”" if event.text else "")
        elif isinstance(event, WakeDetected):
            self.transcript.setText("")
        elif isinstance(event, AnswerStarted):
            self._captions.clear()
            self.answer.setText("…")
            if event.mode == AnswerMode.CLARIFY and event.choices:
                self._set_chips([c.question for c in event.choices])
        elif isinstance(event, PlaybackStarted):
            self._captions.add(event.start_sample, event.audio.text)
            latency = self.loop.status().output_latency_s if self.loop is not None else 0.0
            self.avatar.speak(event.audio, event.start_sample, latency)
        elif isinstance(event, PlaybackFinished):
            self._show_caption(self._captions.all())
            if event.interrupted:
                self.avatar.stop()
        elif isinstance(event, AnswerFinished):
            if event.answer.mode != AnswerMode.CLARIFY and self.loop is not None:
                self._set_chips(self._suggestions)
        elif isinstance(event, DeviceChanged):
            self._on_device(event)
        elif isinstance(event, TurnFailed):
            self._last_error = event.message[:200]
            self.show_error(self.t("went_wrong"))

    def _on_device(self, event: DeviceChanged) -> None:
        if event.state == DeviceStatus.CLOSED:
            return  # closed on purpose (the kiosk is stopping): not a fault to show or report
        if event.state == DeviceStatus.OK:
            self.error.hide()
            self.talk_button.setEnabled(self.loop is not None and self.loop.voice_input)
            return
        self._last_error = f"{event.kind}: {event.state} {event.detail}"[:200]
        if event.kind == DeviceKind.MICROPHONE:
            self.talk_button.setEnabled(False)
            self.show_error(self.t("mic_unavailable"))
        else:
            self.show_error(self.t("sound_unavailable"))

    def _set_state(self, state: TurnState, reason: str = "") -> None:
        previous, self.state = self.state, state
        status = self.loop.status() if self.loop is not None else None
        if state == TurnState.ATTRACT and status is not None and status.language != self.language:
            self._follow_language()  # inactivity: the next visitor starts in the main language
        self.state_label.setText(state.replace("_", "-"))
        touch_only = status is not None and not status.voice_input
        key = f"{state}_touch" if touch_only and state in CHOICES_SHOWN else str(state)
        hint = self.t(key, phrase=self._phrase.title()) if state not in (TurnState.SPEAKING, TurnState.WARNING) else ""
        if state == TurnState.LISTENING and reason == "not understood":
            hint = self.t("not_understood")
        self.hint.setText(hint)
        self.level.setVisible(state == TurnState.LISTENING)
        if state == TurnState.LISTENING and previous != TurnState.LISTENING:
            self.transcript.setText("")
        if state == TurnState.ATTRACT:
            self.answer.setText(self.t("hello"))
            self.transcript.setText("")
            self.show_keyboard(False)
            if self.loop is not None:
                self._set_chips(self._suggestions)
        if state == TurnState.HANDOFF:
            fallback = self.loop.fallback_text() if self.loop is not None else self._settings.dialog.fallback_message
            self.hint.setText(fallback)
        self.warning.setVisible(state == TurnState.WARNING)
        if state == TurnState.WARNING:
            self._warning_until = time.monotonic() + (self.loop.warning_s if self.loop else 20.0)
            self._update_warning()
        self.avatar.set_state(state, reason)
        self._beat()

    def _update_warning(self) -> None:
        left = max(0, round(self._warning_until - time.monotonic()))
        self.warning.setText(self.t("warning", left=left))

    def _show_caption(self, text: str | None) -> None:
        if text is not None:
            self.answer.setText(text)

    # -- timers ---------------------------------------------------------------
    def _on_display(self) -> None:
        now = time.monotonic()
        self.stats.tick(now)
        status = self.loop.status() if self.loop is not None else None
        played = status.played_samples if status is not None else 0
        self._show_caption(self._captions.due(played))
        if status is not None and self.state == TurnState.LISTENING:
            self.level.setValue(min(100, int(status.mic_level * 400)))
        self.avatar.draw(now, played, self.stats, quiet=self.state in QUIET_STATES)

    def _on_tick(self) -> None:
        if self.loop is not None:
            self.loop.tick(wait=False)  # never stall the window on the audio thread's recognizer
        if self.state == TurnState.WARNING:
            self._update_warning()

    def _beat(self) -> None:
        """Tell the admin app this kiosk is alive (``$KIOSK_HOME/kiosk_status.json``), written off the Qt thread."""
        if self._heartbeat_writer is None:
            return
        loop = self.loop
        shown = {
            "state": str(self.state),
            "last_error": self._last_error,
            "display": self.stats.as_dict(),
            "display_startup": self.startup_stats.as_dict() if self.startup_stats else {},
        }

        def fields() -> dict[str, object]:  # on the writer's thread: the knowledge base's version is a SQLite read
            kb, kb_version = loop.knowledge_base() if loop is not None else ("", -1)
            return {**shown, "kb": kb, "kb_version": kb_version, "version": _version()}

        self._heartbeat_writer.submit(fields)

    # -- visitor actions ------------------------------------------------------
    def ask(self, text: str) -> None:
        text = text.strip()
        if text and self.loop is not None:
            self.transcript.setText(f"“{text}”")
            self.loop.ask(text)

    def _ask_typed(self) -> None:
        text = self.input.text()
        self.input.clear()
        if text.strip():
            self.show_keyboard(False)
            self.ask(text)

    def _talk(self) -> None:
        if self.loop is not None:
            self.loop.tap()

    def _change_volume(self, step: float) -> None:
        if self.loop is not None:
            self.loop.set_volume(round(self.loop.volume + step, 2))
            self.status.setText(f"Volume {self.loop.volume * 100:.0f} %")

    def _set_chips(self, questions: list[str]) -> None:
        self.set_chips(questions, self.ask)

    # -- lock-down ------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and isinstance(watched, QWidget) and watched.window() is self:
            if self.loop is not None:
                self.loop.still_here()
            pos = self.mapFromGlobal(event.globalPosition().toPoint())
            if QRect(0, 0, EXIT_CORNER_PX, EXIT_CORNER_PX).contains(pos):
                self._exit_hold.start(EXIT_HOLD_MS)
        elif kind == QEvent.Type.MouseButtonRelease:
            self._exit_hold.stop()
        return False

    def _operator_exit(self) -> None:
        """Long press in the top-left corner: the operator's PIN closes the kiosk."""
        pin = self._settings.kiosk.operator_pin
        if not pin:
            _LOGGER.info("operator exit gesture ignored: kiosk.operator_pin is not set")
            return
        from kiosk.pinpad import PinDialog

        if self._pin_dialog is None:
            self._pin_dialog = PinDialog(pin, self)
        if self._pin_dialog.exec():
            _LOGGER.warning("operator exit with the PIN")
            self.allow_close = True
            self.close()
            QApplication.instance().quit()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if not self.allow_close:
            _LOGGER.info("close request ignored (the kiosk is locked down)")
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self, wait_s: float = 10.0) -> bool:
        """Stop the microphone and the turn loop (see :meth:`LoopRunner.shutdown`)."""
        clean = self.runner.shutdown(self.loop, wait_s)
        _LOGGER.info("display: %s", self.stats.as_dict())
        if self._heartbeat_writer is not None:
            self._heartbeat_writer.close()
        return clean
