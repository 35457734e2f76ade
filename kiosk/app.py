"""The visitor-facing Qt window.

Today it is the touch path of the product: suggested questions from the
knowledge base, typing a question, and the answer shown sentence by sentence as
the dialog produces it. Voice, the avatar and the full turn state machine plug
into the same window (see the README's roadmap). Only the Qt thread touches
widgets; the answer policy runs on a worker thread and reports through signals.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCursor, QFont
from PyQt6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.events import AnswerFinished, AnswerSentence, AnswerStarted
from core.heartbeat import write_heartbeat
from core.settings import Settings
from dialog.policy import AnswerPolicy, Conversation
from kiosk.doctor import package_version

_LOGGER = logging.getLogger(__name__)

STYLE = """
QWidget#kiosk { background: #0f2a44; }
QLabel#title { color: #ffffff; font-size: 34px; font-weight: 600; }
QLabel#hint { color: #bcd3ea; font-size: 22px; }
QLabel#answer { color: #0f2a44; background: #ffffff; border-radius: 18px; padding: 28px; font-size: 28px; }
QLabel#status { color: #bcd3ea; font-size: 18px; }
QPushButton { min-height: 64px; font-size: 22px; border-radius: 14px; padding: 8px 18px; }
QPushButton.chip { background: #1e4b78; color: #ffffff; border: 2px solid #4f86bd; text-align: left; }
QPushButton.chip:pressed { background: #2d6aa6; }
QPushButton#ask { background: #f2b233; color: #0f2a44; font-weight: 600; min-width: 140px; }
QLineEdit { min-height: 64px; font-size: 24px; border-radius: 14px; padding: 0 18px; background: #ffffff; }
"""


class _Bridge(QObject):
    """Signals from the worker thread to the Qt thread."""

    ready = pyqtSignal(list)
    started = pyqtSignal(str, list)
    sentence = pyqtSignal(str)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)


class KioskWindow(QWidget):
    def __init__(
        self,
        *,
        settings: Settings,
        policy_factory,
        title: str,
        home_root: Path | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("kiosk")
        self.setWindowTitle(title)
        self.setStyleSheet(STYLE)
        self._settings = settings
        self._policy_factory = policy_factory
        self._policy: AnswerPolicy | None = None
        self._conversation = Conversation()
        self._bridge = _Bridge()
        self._threads: list[threading.Thread] = []
        self._busy = False
        self._spoken: list[str] = []

        self.title = QLabel(title, objectName="title", alignment=Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel(
            "Ask me anything about our services. Tap a question or type your own.",
            objectName="hint",
            alignment=Qt.AlignmentFlag.AlignCenter,
        )
        self.hint.setWordWrap(True)
        self.answer = QLabel("Hello! How can I help you today?", objectName="answer")
        self.answer.setWordWrap(True)
        self.answer.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.answer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.status = QLabel("Getting ready…", objectName="status", alignment=Qt.AlignmentFlag.AlignCenter)
        self.chips = QGridLayout()
        self.chips.setSpacing(14)
        self.input = QLineEdit(placeholderText="Type your question…")
        self.input.returnPressed.connect(self._ask_typed)
        self.ask_button = QPushButton("Ask", objectName="ask")
        self.ask_button.clicked.connect(self._ask_typed)
        self.ask_button.setEnabled(False)

        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.ask_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 48, 48, 48)
        layout.setSpacing(24)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addWidget(self.answer, 1)
        layout.addLayout(self.chips)
        layout.addLayout(row)
        layout.addWidget(self.status)

        self._home_root = home_root
        self._state = "starting"
        self._last_error = ""
        self._heartbeat = QTimer(self)
        self._heartbeat.timeout.connect(self._beat)
        self._heartbeat.start(30_000)
        self._beat()

        self._bridge.ready.connect(self._on_ready)
        self._bridge.started.connect(self._on_started)
        self._bridge.sentence.connect(self._on_sentence)
        self._bridge.finished.connect(self._on_finished)
        self._bridge.failed.connect(self._on_failed)
        self._run_in_worker(self._warm_up)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._beat()

    def _beat(self) -> None:
        """Tell the admin app this kiosk is alive (``$KIOSK_HOME/kiosk_status.json``)."""
        if self._home_root is None:
            return
        policy = self._policy
        try:
            write_heartbeat(
                self._home_root,
                state=self._state,
                kb=policy.kb if policy else "",
                kb_version=policy.store.kb_version(policy.kb) if policy else -1,
                version=package_version("kiosk-avatar") or "",
                last_error=self._last_error,
            )
        except OSError as exc:
            _LOGGER.warning("cannot write the heartbeat: %s", exc)

    # -- worker side ----------------------------------------------------------
    def _run_in_worker(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _warm_up(self) -> None:
        try:
            self._policy = self._policy_factory()
            self._policy.retriever.prepare(self._policy.kb)
            self._policy.decide("hello")  # loads the embedding model
            self._bridge.ready.emit(self._policy.suggestions(6))
        except Exception as exc:
            _LOGGER.exception("kiosk could not start its answer engine")
            self._bridge.failed.emit(f"startup: {exc}")

    def _answer(self, text: str) -> None:
        assert self._policy is not None
        try:
            for event in self._policy.stream(text, self._conversation, source="touch"):
                if isinstance(event, AnswerStarted):
                    self._bridge.started.emit(event.mode, [q for _, q in event.choices])
                elif isinstance(event, AnswerSentence):
                    self._bridge.sentence.emit(event.text)
                elif isinstance(event, AnswerFinished):
                    self._bridge.finished.emit(event.answer)
        except Exception as exc:
            _LOGGER.exception("answering failed")
            self._bridge.failed.emit(str(exc))

    # -- Qt side --------------------------------------------------------------
    def ask(self, text: str) -> None:
        text = text.strip()
        if not text or self._busy or self._policy is None:
            return
        self._busy = True
        self._set_state("thinking")
        self._spoken = []
        self.answer.setText("…")
        self.status.setText(f"You asked: {text}")
        self._run_in_worker(self._answer, text)

    def _ask_typed(self) -> None:
        text = self.input.text()
        self.input.clear()
        self.ask(text)

    def _set_chips(self, questions: list[str]) -> None:
        while self.chips.count():
            item = self.chips.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for i, question in enumerate(questions):
            chip = QPushButton(question)
            chip.setProperty("class", "chip")
            chip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            chip.clicked.connect(lambda _=False, q=question: self.ask(q))
            self.chips.addWidget(chip, i // 2, i % 2)

    def _on_ready(self, suggestions: list[str]) -> None:
        self._set_chips(suggestions)
        self.ask_button.setEnabled(True)
        self.status.setText("Ready")
        self._set_state("attract")

    def _on_started(self, mode: str, choices: list[str]) -> None:
        if mode == "clarify" and choices:
            self._set_chips(choices)

    def _on_sentence(self, sentence: str) -> None:
        self._set_state("speaking")
        self._spoken.append(sentence)
        self.answer.setText(" ".join(self._spoken))

    def _on_finished(self, answer) -> None:
        self._busy = False
        self.answer.setText(answer.text)
        if answer.mode != "clarify" and self._policy is not None:
            self._set_chips(self._policy.suggestions(6))
        self.status.setText("Ready")
        self._set_state("attract")

    def _on_failed(self, detail: str) -> None:
        self._busy = False
        self.answer.setText("Sorry, I can't answer right now. Please ask a member of staff.")
        self.status.setText("Something went wrong; details are in the log.")
        self._last_error = detail[:200]
        self._set_state("error")
        _LOGGER.error("visitor-facing error: %s", detail)


def run_app(
    *,
    settings: Settings,
    policy_factory,
    title: str,
    windowed: bool,
    screenshot: Path | None,
    quit_after: float | None,
    ask: str | None = None,
    home_root: Path | None = None,
) -> int:
    """Start the Qt event loop; returns the exit code."""
    app = QApplication.instance() or QApplication(["kiosk"])
    app.setFont(QFont("DejaVu Sans", 14))
    window = KioskWindow(settings=settings, policy_factory=policy_factory, title=title, home_root=home_root)
    portrait = settings.kiosk.orientation == "portrait"
    width, height = (1080, 1920) if portrait else (1920, 1080)
    if windowed or not settings.kiosk.fullscreen:
        window.resize(width // 2, height // 2)
        window.show()
    else:
        window.setWindowFlag(Qt.WindowType.FramelessWindowHint)
        window.setCursor(QCursor(Qt.CursorShape.BlankCursor))
        window.resize(width, height)
        window.showFullScreen()
    if ask:

        def ask_when_ready() -> None:
            if window.ask_button.isEnabled():
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
            app.quit()

        QTimer.singleShot(int(quit_after * 1000), finish)
    return app.exec()
