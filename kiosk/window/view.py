"""The kiosk window's widgets and layout: what the visitor sees, with no behaviour of its own.

:class:`KioskView` builds the title, the avatar, captions, hints, suggested-question
chips, the on-screen keyboard and the toolbar, and knows how to show them (themes,
the window's texts in a language). :class:`~kiosk.window.window.KioskWindow` adds
what happens.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
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

from core.settings import Settings
from kiosk import strings
from kiosk.keyboard import OnScreenKeyboard
from kiosk.theme import stylesheet
from kiosk.window.avatar_view import AvatarView

TOOLS = (  # (text key, accessible name) of the toolbar buttons, in order
    ("talk", "talk"), ("type", "type"), ("stop", "stop"), ("repeat", "repeat"),
    ("quieter", "quieter"), ("louder", "louder"), ("text_size", "larger text"), ("contrast", "high contrast"),
)  # fmt: skip


class KioskView(QWidget):
    def __init__(self, *, settings: Settings, title: str) -> None:
        super().__init__()
        self.setObjectName("kiosk")
        self.setWindowTitle(title)
        self._settings = settings
        self.language = "en"
        self.large_text = False
        self.high_contrast = False
        self._build(title)
        self.apply_theme()

    # -- layout ---------------------------------------------------------------
    def _build(self, title: str) -> None:
        label = Qt.AlignmentFlag.AlignCenter
        self.title = QLabel(title, objectName="title", alignment=label, wordWrap=True)
        self.state_label = QLabel("", objectName="state", alignment=label)
        self.avatar = AvatarView(self)
        self.hint = QLabel("", objectName="hint", alignment=label, wordWrap=True)
        self.transcript = QLabel("", objectName="transcript", alignment=label, wordWrap=True)
        self.level = QProgressBar(objectName="level", textVisible=False, maximum=100)
        self.level.setFixedHeight(10)
        self.answer = QLabel(self.t("hello"), objectName="caption", wordWrap=True)
        self.answer.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.answer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.warning = QLabel("", objectName="warning", alignment=label, wordWrap=True)
        self.warning.hide()
        self.error = QLabel("", objectName="error", alignment=label, wordWrap=True)
        self.error.hide()
        self.status = QLabel(self.t("starting"), objectName="status", alignment=label)
        self.chips = QGridLayout()
        self.chips.setSpacing(14)

        self.input = QLineEdit(placeholderText=self.t("placeholder"))
        self.ask_button = QPushButton(self.t("ask"), objectName="ask", enabled=False)
        self.keyboard = OnScreenKeyboard(self.input)
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
        self.tools: list[QPushButton] = []
        toolbar = QGridLayout()
        toolbar.setSpacing(10)
        for i, (key, name) in enumerate(TOOLS):
            button = QPushButton(self.t(key), objectName="tool", enabled=False)
            button.setAccessibleName(name)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self._labelled.append((button, key))
            self.tools.append(button)
            toolbar.addWidget(button, i // 4, i % 4)
        (
            self.talk_button, self.type_button, self.stop_button, self.repeat_button,
            self.quieter_button, self.louder_button, self.text_button, self.contrast_button,
        ) = self.tools  # fmt: skip
        for button in (self.text_button, self.contrast_button):
            button.setEnabled(True)
        self.language_button = QPushButton("", objectName="tool")
        self.language_button.setAccessibleName("language")
        self.language_button.hide()  # shown when the knowledge base has entries in several languages

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.language_button)
        top.addWidget(self.state_label)

        panel = self._panel = QVBoxLayout()
        panel.setSpacing(16)
        for widget in (self.hint, self.transcript, self.level):
            panel.addWidget(widget)
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

    # -- presentation ---------------------------------------------------------
    def t(self, key: str, **values: object) -> str:
        """The window's own text ``key`` in the language on screen."""
        return strings.text(self.language, key, **values)

    def apply_theme(self) -> None:
        self.setStyleSheet(stylesheet(large_text=self.large_text, high_contrast=self.high_contrast))

    def toggle_large_text(self) -> None:
        self.large_text = not self.large_text
        self.apply_theme()

    def toggle_contrast(self) -> None:
        self.high_contrast = not self.high_contrast
        self.apply_theme()

    def relabel(self, language: str) -> None:
        """Show the window's own texts in ``language``."""
        self.language = language
        for button, key in self._labelled:
            button.setText(self.t(key))
        self.input.setPlaceholderText(self.t("placeholder"))
        self.ask_button.setText(self.t("ask"))

    def show_keyboard(self, visible: bool) -> None:
        self.typing.setVisible(visible)
        if visible:
            self.input.setFocus()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def set_chips(self, questions: list[str], on_tap) -> None:
        """One button per suggested question; ``on_tap(question)`` when tapped."""
        while self.chips.count():
            item = self.chips.takeAt(0)
            if item.widget():
                item.widget().hide()  # at once: the deletion waits for the event loop
                item.widget().deleteLater()
        for i, question in enumerate(questions):
            chip = QPushButton(question)
            chip.setProperty("class", "chip")
            chip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            chip.clicked.connect(lambda _=False, q=question: on_tap(q))
            self.chips.addWidget(chip, i // 2, i % 2)
