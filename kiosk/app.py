"""The visitor-facing Qt window: avatar, captions, touch controls, driven by the turn loop.

Threads: the Qt thread only draws and reacts to taps; a start-up worker builds
the :class:`~runtime.turn_loop.TurnLoop` (models load there), an audio thread
feeds it microphone blocks, and the loop answers on its own worker. Everything
the loop reports arrives here as ``core.events`` through one queued signal.
The avatar is drawn on a display timer from the speaker's clock, so lips and
captions follow the audio actually played.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, QRect, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCursor, QFont, QImage, QPainter
from PyQt6.QtWidgets import (
    QApplication,
    QBoxLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.events import (
    AnswerFinished,
    AnswerStarted,
    DeviceChanged,
    Error,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    StateChanged,
    Transcript,
    WakeDetected,
)
from core.heartbeat import write_heartbeat
from core.sdnotify import notify, watchdog_interval_s
from core.settings import Settings
from dialog.languages import name as language_name
from kiosk import strings
from kiosk.doctor import package_version
from kiosk.keyboard import OnScreenKeyboard
from kiosk.lockdown import KeyGuard, inhibit_screen_blanking
from kiosk.theme import stylesheet
from runtime.turn_loop import TurnLoop

_LOGGER = logging.getLogger(__name__)

LoopFactory = Callable[[Callable[[Event], None]], TurnLoop]
SourceFactory = Callable[[Callable[[Event], None]], object]

AVATAR_STATE = {
    "attract": "idle",
    "idle": "idle",
    "warning": "idle",
    "listening": "listening",
    "follow_up": "listening",
    "clarify": "listening",
    "handoff": "idle",
    "thinking": "thinking",
    "speaking": "speaking",
}
EXIT_CORNER_PX = 96
EXIT_HOLD_MS = 3000
AUDIO_STOP_S = 3.0  # the microphone thread closes its stream within a block or two
FRAME_GAP_MS = 100.0


class _Bridge(QObject):
    """Loop events from any thread to the Qt thread."""

    event = pyqtSignal(object)
    ready = pyqtSignal(object, list, list)
    failed = pyqtSignal(str)


class FrameStats:
    """Display tick intervals: a gap over 100 ms is a visible stall (a bug)."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.frames = 0
        self.max_gap_ms = 0.0
        self.gaps_over_100ms = 0
        self.render_ms: list[float] = []

    def tick(self, now: float) -> None:
        if self.last is not None:
            gap = (now - self.last) * 1000
            self.max_gap_ms = max(self.max_gap_ms, gap)
            self.gaps_over_100ms += gap > FRAME_GAP_MS
        self.last = now
        self.frames += 1

    def as_dict(self) -> dict[str, float]:
        ordered = sorted(self.render_ms[-3000:])
        p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0
        return {
            "frames": self.frames,
            "max_gap_ms": round(self.max_gap_ms, 1),
            "gaps_over_100ms": self.gaps_over_100ms,
            "render_p95_ms": round(p95, 2),
        }


class AvatarView(QWidget):
    """Paints the avatar frame the window renders on its display timer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("avatar")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 160)
        self.image: QImage | None = None

    def show_image(self, image: QImage) -> None:
        self.image = image
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.image is None:
            return
        painter = QPainter(self)
        x = (self.width() - self.image.width()) // 2
        y = (self.height() - self.image.height()) // 2
        painter.drawImage(x, y, self.image)
        painter.end()


class KioskWindow(QWidget):
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
        super().__init__()
        self.setObjectName("kiosk")
        self.setWindowTitle(title)
        self._settings = settings
        self._loop_factory = loop_factory
        self._source_factory = source_factory
        self.loop: TurnLoop | None = None
        self._source = None
        self._bridge = _Bridge()
        self._home_root = home_root
        self._phrase = settings.wake.phrase
        self.locked = locked
        self.allow_close = not locked
        self.large_text = False
        self.high_contrast = False
        self.state = "starting"
        self._last_error = ""
        self._captions: list[tuple[int, str]] = []  # (speaker clock at start, sentence)
        self._shown_captions = 0
        self._warning_until = 0.0
        self.stats = FrameStats()
        self.startup_stats: FrameStats | None = None
        self._pack = avatar_pack
        self._audio_mouth = audio_mouth
        self._live = None
        self._pin_dialog = None
        self._suggestions: list[str] = []
        self.language = "en"
        self._languages: list[str] = []
        self._stop = threading.Event()
        self._build(title)
        self.apply_theme()

        self._bridge.event.connect(self._on_event)
        self._bridge.ready.connect(self._on_ready)
        self._bridge.failed.connect(self._on_failed)
        self._display = QTimer(self)
        self._display.timeout.connect(self._on_display)
        self._display.start(int(1000 / settings.avatar.fps))
        self._ticker = QTimer(self)
        self._ticker.timeout.connect(self._on_tick)
        self._ticker.start(250)
        self._heartbeat = QTimer(self)
        self._heartbeat.timeout.connect(self._beat)
        self._heartbeat.start(30_000)
        interval = watchdog_interval_s()
        if interval:
            self._watchdog = QTimer(self)
            self._watchdog.timeout.connect(lambda: notify("WATCHDOG=1"))  # from the Qt thread: a frozen UI is restarted
            self._watchdog.start(int(interval * 1000))
        self._exit_hold = QTimer(self, singleShot=True)
        self._exit_hold.timeout.connect(self._operator_exit)
        QApplication.instance().installEventFilter(self)
        self._beat()
        self._audio_thread: threading.Thread | None = None
        self._startup = threading.Thread(target=self._start_up, name="kiosk-startup", daemon=True)
        self._startup.start()

    # -- layout ---------------------------------------------------------------
    def _build(self, title: str) -> None:
        self.title = QLabel(title, objectName="title", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.state_label = QLabel("", objectName="state", alignment=Qt.AlignmentFlag.AlignCenter)
        self.avatar = AvatarView(self)
        self.hint = QLabel("", objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.transcript = QLabel("", objectName="transcript", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.level = QProgressBar(objectName="level", textVisible=False, maximum=100)
        self.level.setFixedHeight(10)
        self.answer = QLabel(self._t("hello"), objectName="caption", wordWrap=True)
        self.answer.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.answer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.warning = QLabel("", objectName="warning", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.warning.hide()
        self.error = QLabel("", objectName="error", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.error.hide()
        self.status = QLabel(self._t("starting"), objectName="status", alignment=Qt.AlignmentFlag.AlignCenter)
        self.chips = QGridLayout()
        self.chips.setSpacing(14)

        self.input = QLineEdit(placeholderText=self._t("placeholder"))
        self.ask_button = QPushButton(self._t("ask"), objectName="ask", enabled=False)
        self.ask_button.clicked.connect(self._ask_typed)
        self.keyboard = OnScreenKeyboard(self.input)
        self.keyboard.submitted.connect(self._ask_typed)
        self.keyboard.hidden.connect(lambda: self.show_keyboard(False))
        self.typing = QWidget(objectName="typing")
        typing = QVBoxLayout(self.typing)
        typing.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.ask_button)
        typing.addLayout(row)
        typing.addWidget(self.keyboard)
        self.typing.hide()

        self._labelled: list[tuple[QPushButton, str]] = []  # buttons and their text key, for a language switch

        def tool(key: str, slot, name: str) -> QPushButton:
            button = QPushButton(self._t(key), objectName="tool", enabled=False)
            button.setAccessibleName(name)
            button.clicked.connect(slot)
            self._labelled.append((button, key))
            return button

        self.talk_button = tool("talk", self._talk, "talk")
        self.type_button = tool("type", lambda: self.show_keyboard(not self.typing.isVisible()), "type")
        self.stop_button = tool("stop", self._stop_speaking, "stop")
        self.repeat_button = tool("repeat", self._repeat, "repeat")
        self.quieter_button = tool("quieter", lambda: self._change_volume(-0.2), "quieter")
        self.louder_button = tool("louder", lambda: self._change_volume(+0.2), "louder")
        self.text_button = tool("text_size", self._toggle_large_text, "larger text")
        self.contrast_button = tool("contrast", self._toggle_contrast, "high contrast")
        self.language_button = QPushButton("", objectName="tool")
        self.language_button.setAccessibleName("language")
        self.language_button.clicked.connect(self._next_language)
        self.language_button.hide()  # shown when the knowledge base has entries in several languages
        for button in (self.text_button, self.contrast_button):
            button.setEnabled(True)
        self.tools = [
            self.talk_button, self.type_button, self.stop_button, self.repeat_button,
            self.quieter_button, self.louder_button, self.text_button, self.contrast_button,
        ]  # fmt: skip
        toolbar = QGridLayout()
        toolbar.setSpacing(10)
        for i, button in enumerate(self.tools):
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            toolbar.addWidget(button, i // 4, i % 4)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.language_button)
        top.addWidget(self.state_label)

        panel = self._panel = QVBoxLayout()
        panel.setSpacing(16)
        panel.addWidget(self.hint)
        panel.addWidget(self.transcript)
        panel.addWidget(self.level)
        panel.addWidget(self.answer, 1)
        panel.addWidget(self.warning)
        panel.addWidget(self.error)
        panel.addLayout(self.chips)
        panel.addWidget(self.typing)
        panel.addLayout(toolbar)
        panel.addWidget(self.status)

        portrait = self._settings.kiosk.orientation == "portrait"
        body = QBoxLayout(QBoxLayout.Direction.TopToBottom if portrait else QBoxLayout.Direction.LeftToRight)
        body.addWidget(self.avatar, 5 if portrait else 4)
        body.addLayout(panel, 4 if portrait else 5)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(36, 28, 36, 28)
        layout.setSpacing(18)
        layout.addLayout(top)
        layout.addLayout(body, 1)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        portrait = self._settings.kiosk.orientation == "portrait"
        wanted = int(self.height() * (0.36 if portrait else 0.6))
        if portrait:  # the avatar takes what the captions, chips and buttons leave, up to its share
            margins = self.layout().contentsMargins()
            top = self.title.sizeHint().height() + self.layout().spacing()
            room = self.height() - margins.top() - margins.bottom() - top - self._panel.minimumSize().height() - 18
            wanted = min(wanted, room)
        self.avatar.setMinimumHeight(max(120, wanted))

    def apply_theme(self) -> None:
        self.setStyleSheet(stylesheet(large_text=self.large_text, high_contrast=self.high_contrast))

    # -- start-up (worker thread) ---------------------------------------------
    def _start_up(self) -> None:
        try:
            loop = self._loop_factory(self._bridge.event.emit)
            if self._pack is not None:
                from avatar.live import LiveAvatar

                self._live = LiveAvatar(self._pack, fps=self._settings.avatar.fps, audio_mouth=self._audio_mouth)
            loop.warm(self._stop, openings=False)
            self._bridge.ready.emit(loop, loop.policy.suggestions(6), loop.languages())
        except Exception as exc:
            _LOGGER.exception("the kiosk could not start its answer engine")
            self._bridge.failed.emit(f"startup: {exc}")
            return
        if self._source_factory is not None and loop.listener is not None:
            self._audio_thread = threading.Thread(target=self._audio, args=(loop,), name="kiosk-audio", daemon=True)
            self._audio_thread.start()
        loop.warm_openings(self._stop)  # after the first start-up, all of them come from the disk cache

    def _audio(self, loop: TurnLoop) -> None:
        """Microphone blocks into the loop until the window closes (the source reconnects by itself)."""
        try:
            self._source = self._source_factory(self._bridge.event.emit)
            for block in self._source.blocks():
                if self._stop.is_set():
                    break
                loop.feed(block)
        except Exception as exc:
            _LOGGER.exception("the microphone pipeline stopped")
            self._bridge.event.emit(DeviceChanged("microphone", "unavailable", str(exc)))

    # -- events (Qt thread) ---------------------------------------------------
    def _on_ready(self, loop: TurnLoop, suggestions: list[str], languages: list[str]) -> None:
        self.loop = loop
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

    # -- languages (Qt thread) ------------------------------------------------
    def _t(self, key: str, **values: object) -> str:
        return strings.text(self.language, key, **values)

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
        if self.loop is None or not self.loop.language or self.loop.language == self.language:
            return
        self.language = self.loop.language
        for button, key in self._labelled:
            button.setText(self._t(key))
        self.input.setPlaceholderText(self._t("placeholder"))
        self.ask_button.setText(self._t("ask"))
        self.show_keyboard(False)
        self.talk_button.setEnabled(self.loop.voice_input)
        self._suggestions = self.loop.policy.suggestions(6, self.language)
        self._set_chips(self._suggestions)
        self.answer.setText(self._t("hello"))
        self.transcript.setText("")
        voice = language_name(self.loop.voice_language)
        self.status.setText("" if self.loop.voice_input else self._t("voice_other_language", voice=voice))
        self._show_languages()
        self._set_state(self.state)

    def _on_failed(self, detail: str) -> None:
        self._last_error = detail[:200]
        self._show_error(self._t("startup_failed"))
        self._set_state("error")
        _LOGGER.error("visitor-facing error: %s", detail)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self._set_state(event.state, event.reason)
        elif isinstance(event, Transcript):
            self.transcript.setText(f"“{event.text}”" if event.text else "")
        elif isinstance(event, WakeDetected):
            self.transcript.setText("")
        elif isinstance(event, AnswerStarted):
            self._captions, self._shown_captions = [], 0
            self.answer.setText("…")
            if event.mode == "clarify" and event.choices:
                self._set_chips([q for _, q in event.choices])
        elif isinstance(event, PlaybackStarted):
            self._captions.append((event.start_sample, event.audio.text))
            if self._live is not None:
                if self.loop is not None:  # samples counted as played are heard this much later
                    self._live.output_latency_s = self.loop.sink.output_latency
                self._live.speak(event.audio, time.monotonic(), event.start_sample)
        elif isinstance(event, PlaybackFinished):
            self._show_all_captions()
            if self._live is not None and event.interrupted:
                self._live.stop(time.monotonic())
        elif isinstance(event, AnswerFinished):
            if event.answer.mode != "clarify" and self.loop is not None:
                self._set_chips(self._suggestions)
        elif isinstance(event, DeviceChanged):
            self._on_device(event)
        elif isinstance(event, Error):
            self._last_error = event.message[:200]
            self._show_error(self._t("went_wrong"))

    def _on_device(self, event: DeviceChanged) -> None:
        if event.state == "ok":
            self.error.hide()
            self.talk_button.setEnabled(self.loop is not None and self.loop.voice_input)
            return
        self._last_error = f"{event.kind}: {event.state} {event.detail}"[:200]
        if event.kind == "microphone":
            self.talk_button.setEnabled(False)
            self._show_error(self._t("mic_unavailable"))
        else:
            self._show_error(self._t("sound_unavailable"))

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _set_state(self, state: str, reason: str = "") -> None:
        previous, self.state = self.state, state
        if state == "attract" and self.loop is not None and self.loop.language != self.language:
            self._follow_language()  # inactivity: the next visitor starts in the main language
        self.state_label.setText(state.replace("_", "-"))
        touch_only = self.loop is not None and not self.loop.voice_input
        key = f"{state}_touch" if touch_only and state in ("attract", "idle", "follow_up", "clarify") else state
        hint = self._t(key, phrase=self._phrase.title()) if state not in ("speaking", "warning") else ""
        if state == "listening" and reason == "not understood":
            hint = self._t("not_understood")
        self.hint.setText(hint)
        self.level.setVisible(state == "listening")
        if state == "listening" and previous not in ("listening",):
            self.transcript.setText("")
        if state == "attract":
            self.answer.setText(self._t("hello"))
            self.transcript.setText("")
            self.show_keyboard(False)
            if self.loop is not None:
                self._set_chips(self._suggestions)
        if state == "handoff":
            loop = self.loop
            self.hint.setText(
                loop.policy.fallback_text(loop.language) if loop is not None else self._settings.dialog.fallback_message
            )
        self.warning.setVisible(state == "warning")
        if state == "warning":
            self._warning_until = time.monotonic() + (self.loop.warning_s if self.loop else 20.0)
            self._update_warning()
        if self._live is not None and state in AVATAR_STATE:
            avatar_state = "greeting" if state == "listening" and reason == "wake" else AVATAR_STATE[state]
            self._live.set_state(avatar_state, time.monotonic())
        self._beat()

    def _update_warning(self) -> None:
        left = max(0, round(self._warning_until - time.monotonic()))
        self.warning.setText(self._t("warning", left=left))

    # -- timers ---------------------------------------------------------------
    def _on_display(self) -> None:
        now = time.monotonic()
        self.stats.tick(now)
        loop = self.loop
        played = loop.sink.played_samples() if loop is not None else 0
        if self._captions and self._shown_captions < len(self._captions):
            due = sum(1 for start, _ in self._captions if start <= played)
            if due > self._shown_captions:
                self._shown_captions = due
                self.answer.setText(" ".join(text for _, text in self._captions[:due]))
        if loop is not None and loop.listener is not None and self.state == "listening":
            self.level.setValue(min(100, int(loop.listener.level * 400)))
        if self._live is None or not self.avatar.isVisible():
            return
        idle = self.state in ("attract", "idle", "warning", "starting")
        if idle and self.stats.frames % 2:
            return  # half the frame rate while nobody is there: the idle motion is slow
        ratio = self.avatar.devicePixelRatioF()
        size = self.avatar.size()
        width, height = _fit(size.width() * ratio, size.height() * ratio, self._pack.width, self._pack.height)
        began = time.perf_counter()
        image = self._live.frame(now, played, width, height)
        self.stats.render_ms.append((time.perf_counter() - began) * 1000)
        image.setDevicePixelRatio(ratio)
        self.avatar.show_image(image)

    def _on_tick(self) -> None:
        if self.loop is not None:
            self.loop.tick(wait=False)  # never stall the window on the audio thread's recognizer
        if self.state == "warning":
            self._update_warning()

    def _beat(self) -> None:
        """Tell the admin app this kiosk is alive (``$KIOSK_HOME/kiosk_status.json``)."""
        if self._home_root is None:
            return
        policy = self.loop.policy if self.loop is not None else None
        try:
            write_heartbeat(
                self._home_root,
                state=self.state,
                kb=policy.kb if policy else "",
                kb_version=policy.store.kb_version(policy.kb) if policy else -1,
                version=package_version("kiosk-avatar") or "",
                last_error=self._last_error,
                display=self.stats.as_dict(),
                display_startup=self.startup_stats.as_dict() if self.startup_stats else {},
            )
        except OSError as exc:
            _LOGGER.warning("cannot write the heartbeat: %s", exc)

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

    def _stop_speaking(self) -> None:
        if self.loop is not None:
            self.loop.stop()

    def _repeat(self) -> None:
        if self.loop is not None:
            self.loop.repeat()

    def _change_volume(self, step: float) -> None:
        if self.loop is not None:
            self.loop.set_volume(round(self.loop.volume + step, 2))
            self.status.setText(f"Volume {self.loop.volume * 100:.0f} %")

    def _toggle_large_text(self) -> None:
        self.large_text = not self.large_text
        self.apply_theme()

    def _toggle_contrast(self) -> None:
        self.high_contrast = not self.high_contrast
        self.apply_theme()

    def show_keyboard(self, visible: bool) -> None:
        self.typing.setVisible(visible)
        if visible:
            self.input.setFocus()

    def _set_chips(self, questions: list[str]) -> None:
        while self.chips.count():
            item = self.chips.takeAt(0)
            if item.widget():
                item.widget().hide()  # at once: the deletion waits for the event loop
                item.widget().deleteLater()
        for i, question in enumerate(questions):
            chip = QPushButton(question)
            chip.setProperty("class", "chip")
            chip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            chip.clicked.connect(lambda _=False, q=question: self.ask(q))
            self.chips.addWidget(chip, i // 2, i % 2)

    def _show_all_captions(self) -> None:
        if self._captions:
            self._shown_captions = len(self._captions)
            self.answer.setText(" ".join(text for _, text in self._captions))

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
        """Stop the microphone and the turn loop; False when start-up is still inside a model library or the
        microphone thread has not closed its stream (PortAudio's teardown would then wait on it forever).

        Start-up stops between two sentences it pre-synthesizes, so a kiosk stopped while it
        warms up normally waits a moment here; a thread still inside native code when the
        interpreter is torn down would abort the process.
        """
        self._stop.set()
        self._startup.join(wait_s)
        if self._source is not None:
            self._source.close()
        if self._audio_thread is not None:  # it closes the microphone's stream on its way out
            self._audio_thread.join(AUDIO_STOP_S)
        if self.loop is not None:
            self.loop.shutdown()
            self.loop.sink.close()
        _LOGGER.info("display: %s", self.stats.as_dict())
        audio_stopped = self._audio_thread is None or not self._audio_thread.is_alive()
        if not audio_stopped:
            _LOGGER.warning("the microphone did not stop within %.0f s", AUDIO_STOP_S)
        return audio_stopped and not self._startup.is_alive()


def _fit(width: float, height: float, pack_w: int, pack_h: int) -> tuple[int, int]:
    """The largest even size with the pack's aspect ratio inside ``width`` x ``height``."""
    scale = min(width / pack_w, height / pack_h)
    return max(2, int(pack_w * scale) // 2 * 2), max(2, int(pack_h * scale) // 2 * 2)


def live_factories(services, kb: str, *, audio: bool = True) -> tuple[LoopFactory, SourceFactory | None]:
    """The turn loop over the real speaker, and the real microphone (both reconnect on their own)."""
    settings = services.settings

    def make_loop(emit: Callable[[Event], None]) -> TurnLoop:
        from devices.sound import Speaker

        def speaker_state(state) -> None:
            emit(DeviceChanged("speaker", state.state, state.detail))

        sink = Speaker(
            device=settings.audio.output_device, reconnect_max_s=settings.audio.reconnect_max_s, on_state=speaker_state
        )
        listener = None
        if audio:
            try:
                listener = services.listener(require_wake=False)
            except Exception as exc:  # voice models missing: the touch screen still works
                _LOGGER.error("voice input unavailable: %s", exc)
                emit(DeviceChanged("microphone", "unavailable", str(exc)))
        return services.turn_loop(sink=sink, emit=emit, listener=listener, kb=kb, clock=time.monotonic)

    def make_source(emit: Callable[[Event], None]):
        from devices.sound import Microphone

        def mic_state(state) -> None:
            emit(DeviceChanged("microphone", state.state, state.detail))

        return Microphone(
            device=settings.audio.input_device, reconnect_max_s=settings.audio.reconnect_max_s, on_state=mic_state
        )

    return make_loop, (make_source if audio else None)


HEAVY_LIBRARIES = (
    "torch", "sentence_transformers", "chromadb", "llama_cpp", "onnxruntime", "piper", "pocketsphinx",
    "moonshine_voice.transcriber",
)  # fmt: skip


def preload_libraries() -> None:
    """Import the model libraries before the window shows: imports hold Python's lock for seconds, and done on the
    start-up thread they would freeze the window's animation (measured stalls of 300 ms)."""
    import importlib

    began = time.perf_counter()
    for name in HEAVY_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # the part that needs it reports the problem when it starts
            _LOGGER.warning("cannot import %s: %s", name, exc)
    _LOGGER.info("model libraries imported in %.1f s", time.perf_counter() - began)


def run_app(
    *,
    services,
    kb: str,
    title: str,
    windowed: bool,
    screenshot: Path | None,
    quit_after: float | None,
    ask: str | None = None,
    home_root: Path | None = None,
    audio: bool = True,
) -> int:
    """Start the Qt event loop; returns the exit code."""
    from avatar.audio2mouth import AudioToMouth
    from avatar.pack import load_pack

    settings = services.settings
    app = QApplication.instance() or QApplication(["kiosk"])
    app.setFont(QFont("DejaVu Sans", 14))
    fullscreen = not windowed and settings.kiosk.fullscreen
    preload_libraries()
    services.preload(audio=audio, kb=kb)
    make_loop, make_source = live_factories(services, kb, audio=audio)
    window = KioskWindow(
        settings=settings,
        loop_factory=make_loop,
        source_factory=make_source,
        title=title,
        home_root=home_root,
        locked=fullscreen,
        avatar_pack=load_pack(settings.avatar.name, home_root),
        audio_mouth=lambda: AudioToMouth.load(services.models.require("avatar")),
    )
    portrait = settings.kiosk.orientation == "portrait"
    width, height = (1080, 1920) if portrait else (1920, 1080)
    if fullscreen:
        guard = KeyGuard(app)
        app.installEventFilter(guard)
        window.setWindowFlag(Qt.WindowType.FramelessWindowHint)
        window.setCursor(QCursor(Qt.CursorShape.BlankCursor))
        inhibit_screen_blanking()
        window.resize(width, height)
        window.showFullScreen()
    else:  # a development window: 60 % of the kiosk screen, inside this screen
        available = app.primaryScreen().availableGeometry()
        window.resize(min(int(width * 0.6), available.width()), min(int(height * 0.6), available.height()))
        window.show()
    if ask:

        def ask_when_ready() -> None:
            if window.loop is not None and window.state == "attract":
                window.ask(ask)
            else:
                QTimer.singleShot(200, ask_when_ready)

        QTimer.singleShot(200, ask_when_ready)
    if quit_after is not None:

        def finish() -> None:
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                window.grab().save(str(screenshot))
                _LOGGER.info("screenshot saved to %s", screenshot)
            window.allow_close = True
            window.close()
            app.quit()

        QTimer.singleShot(int(quit_after * 1000), finish)

    def terminate(*_: object) -> None:  # systemd stop, Ctrl+C: leave cleanly (final heartbeat, devices closed)
        window.allow_close = True
        app.quit()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    code = app.exec()
    clean = window.shutdown()
    window._beat()
    if not clean:  # leave without tearing down libraries a worker thread is still inside
        _LOGGER.warning("a worker did not stop in time; exiting without interpreter teardown")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
