"""On-screen touch keyboard that types into one QLineEdit.

Keys never take focus, so the line edit keeps its cursor and selection; text is
inserted with ``QLineEdit.insert`` and removed with ``QLineEdit.backspace``.
Styling comes from :mod:`kiosk.theme` (objectNames ``key`` and ``key-special``).
"""

from __future__ import annotations

from collections.abc import Iterable

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QGridLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

KEY_MIN_PX = 56
"""Smallest key side; above the 44 px touch target of WCAG 2.5.5."""

_COLUMNS = 20  # each row is laid out on half-key columns, so rows can be offset by half a key
_SPACING = 8

_LETTER_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_DIGIT_ROWS = ("1234567890", "?,.'-/@€$&", "!:;()#%")

SHIFT, BACKSPACE, SPACE, ASK, HIDE = "Shift", "Backspace", "Space", "Ask", "Hide"
DIGITS, LETTERS = "123", "ABC"

_DISPLAY = {SHIFT: "⇧", BACKSPACE: "⌫", SPACE: "space"}


class OnScreenKeyboard(QWidget):
    """QWERTY keyboard with a digits-and-punctuation layer, Shift, Backspace, Space, Ask and Hide.

    ``submitted`` fires on the Ask key and when Enter is pressed in the target,
    so the window needs to connect only this signal. ``hidden`` fires on Hide;
    the keyboard does not hide itself, the window decides.
    """

    submitted = pyqtSignal()
    hidden = pyqtSignal()

    def __init__(self, target: QLineEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyboard")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._target = target
        self._keys: dict[QWidget, dict[str, QPushButton]] = {}

        self._letters = QWidget(self)
        self._digits = QWidget(self)
        self._shared = QWidget(self)
        for page in (self._letters, self._digits, self._shared):
            self._keys[page] = {}

        self._shift = self._special(self._letters, SHIFT, checkable=True)
        self._shift.toggled.connect(self._on_shift)
        self._build_page(self._letters, _LETTER_ROWS, first_key=self._shift)
        self._build_page(self._digits, _DIGIT_ROWS, first_key=None)

        self._toggle = self._special(self._shared, DIGITS)
        self._toggle.clicked.connect(self._toggle_layer)
        space = self._key(self._shared, SPACE, " ", key_name="key")
        space.setAccessibleName(SPACE)
        ask = self._special(self._shared, ASK)
        ask.setProperty("accent", "true")
        ask.clicked.connect(self.submitted)
        hide = self._special(self._shared, HIDE)
        hide.clicked.connect(self.hidden)
        bottom = self._grid(self._shared)
        start = 0
        for button, span in ((self._toggle, 3), (space, 10), (ask, 4), (hide, 3)):
            bottom.addWidget(button, 0, start, 1, span)
            start += span

        self._stack = QStackedWidget(self)
        self._stack.addWidget(self._letters)
        self._stack.addWidget(self._digits)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(_SPACING)
        layout.addWidget(self._stack)
        layout.addWidget(self._shared)

        target.returnPressed.connect(self.submitted)

    # -- public API -----------------------------------------------------------------

    @property
    def target(self) -> QLineEdit:
        """The line edit the keys type into."""
        return self._target

    @property
    def shift_active(self) -> bool:
        """Whether the next letter will be a capital (one-shot Shift)."""
        return self._shift.isChecked()

    @property
    def digits_active(self) -> bool:
        """Whether the digits-and-punctuation layer is showing."""
        return self._stack.currentWidget() is self._digits

    def key_for(self, label: str) -> QPushButton:
        """The key with this label (``"h"``, ``"?"``, ``"Shift"``, ``"Backspace"``, ``"123"``…).

        Keys of the layer on screen win over those of the hidden layer. A key is
        found by the label it was created with or by the text it shows now.
        """
        pages = [self._stack.currentWidget(), self._shared, self._letters, self._digits]
        for page in dict.fromkeys(pages):
            keys = self._keys[page]
            if label in keys:
                return keys[label]
            for key in keys.values():
                if key.text() == label:
                    return key
        raise KeyError(label)

    def all_keys(self) -> list[QPushButton]:
        """Every key of both layers and the bottom row."""
        return [key for page in self._keys.values() for key in page.values()]

    def show_letters(self) -> None:
        self._set_layer(digits=False)

    def show_digits(self) -> None:
        self._set_layer(digits=True)

    # -- building -------------------------------------------------------------------

    def _grid(self, page: QWidget) -> QGridLayout:
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(_SPACING)
        grid.setVerticalSpacing(_SPACING)
        for column in range(_COLUMNS):
            grid.setColumnStretch(column, 1)
        return grid

    def _build_page(self, page: QWidget, rows: Iterable[str], *, first_key: QPushButton | None) -> None:
        grid = self._grid(page)
        for row, chars in enumerate(rows):
            if row == 2:
                # the third row: [Shift] chars [Backspace], chars centred on seven keys
                if first_key is not None:
                    grid.addWidget(first_key, row, 0, 1, 3)
                start = 3
                backspace = self._special(page, BACKSPACE)
                backspace.setAutoRepeat(True)
                backspace.setAutoRepeatDelay(400)
                backspace.setAutoRepeatInterval(70)
                backspace.clicked.connect(self._target.backspace)
                grid.addWidget(backspace, row, _COLUMNS - 3, 1, 3)
            else:
                start = (_COLUMNS - 2 * len(chars)) // 2
            for i, char in enumerate(chars):
                grid.addWidget(self._key(page, char, char), row, start + 2 * i, 1, 2)

    def _make_button(self, page: QWidget, label: str, *, key_name: str) -> QPushButton:
        # "&" marks a mnemonic in a button's text; "&&" shows one ampersand
        button = QPushButton(_DISPLAY.get(label, label).replace("&", "&&"), page)
        button.setObjectName(key_name)
        button.setAccessibleName(label)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.setMinimumSize(KEY_MIN_PX, KEY_MIN_PX)
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._keys[page][label] = button
        return button

    def _key(self, page: QWidget, label: str, text: str, *, key_name: str = "key") -> QPushButton:
        button = self._make_button(page, label, key_name=key_name)
        button.clicked.connect(lambda _checked=False, t=text: self._type(t))
        return button

    def _special(self, page: QWidget, label: str, *, checkable: bool = False) -> QPushButton:
        button = self._make_button(page, label, key_name="key-special")
        button.setCheckable(checkable)
        return button

    # -- behaviour ------------------------------------------------------------------

    def _type(self, text: str) -> None:
        if text.isalpha() and self._shift.isChecked():
            text = text.upper()
            self._shift.setChecked(False)
        self._target.insert(text)

    def _on_shift(self, on: bool) -> None:
        for label, key in self._keys[self._letters].items():
            if len(label) == 1 and label.isalpha():
                key.setText(label.upper() if on else label)

    def _toggle_layer(self) -> None:
        self._set_layer(digits=not self.digits_active)

    def _set_layer(self, *, digits: bool) -> None:
        self._stack.setCurrentWidget(self._digits if digits else self._letters)
        self._toggle.setText(LETTERS if digits else DIGITS)
        self._toggle.setAccessibleName("Letters" if digits else "Digits and punctuation")
        if digits:
            self._shift.setChecked(False)
