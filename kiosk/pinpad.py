"""Operator PIN pad guarding the hidden exit from the full-screen kiosk.

Wrong tries are counted and, after ``max_attempts``, the pad locks for
``lockout_s`` seconds. Keep one dialog per window and ``exec()`` it again on
each exit gesture: the count and the lockout live on the instance, so Cancel
and reopen does not reset them. The PIN itself is never logged.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QShowEvent
from PyQt6.QtWidgets import (
    QDialog,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

_LOGGER = logging.getLogger(__name__)

MAX_PIN_LENGTH = 12
PROMPT = "Enter the operator PIN"
WRONG = "Wrong PIN"
DOT = "●"


class PinDialog(QDialog):
    """Frameless, modal 3×4 digit pad (1–9, Clear, 0, OK) with a Cancel button."""

    def __init__(
        self,
        expected_pin: str,
        parent: QWidget | None = None,
        *,
        max_attempts: int = 3,
        lockout_s: float = 60.0,
    ) -> None:
        if not expected_pin:
            raise ValueError("no operator PIN is set: the operator exit is disabled")
        if not expected_pin.isdigit() or not expected_pin.isascii():
            raise ValueError("the operator PIN must be digits 0-9")
        if len(expected_pin) > MAX_PIN_LENGTH:
            raise ValueError(f"the operator PIN must be at most {MAX_PIN_LENGTH} digits")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lockout_s < 0:
            raise ValueError("lockout_s must not be negative")
        super().__init__(parent)
        self.setObjectName("pin")
        self.setWindowFlags(Qt.WindowType.Dialog | Qt.WindowType.FramelessWindowHint)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setModal(True)
        self.setWindowTitle("Operator")
        self._expected = expected_pin.encode("ascii")
        self._max_attempts = max_attempts
        self._lockout_s = lockout_s
        self._entered = ""
        self._wrong = 0
        self._locked_until = 0.0

        self._lockout = QTimer(self)
        self._lockout.setSingleShot(True)
        self._lockout.timeout.connect(self._unlock)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._show_lockout)

        self.title = QLabel("Operator exit", objectName="pin-title", alignment=Qt.AlignmentFlag.AlignCenter)
        self.dots = QLabel("", objectName="pin-dots", alignment=Qt.AlignmentFlag.AlignCenter)
        self.dots.setAccessibleName("PIN entered")
        self.message = QLabel(PROMPT, objectName="pin-message", alignment=Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)

        self.digit_buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        grid.setSpacing(12)
        for index, digit in enumerate("123456789"):
            grid.addWidget(self._digit(digit), index // 3, index % 3)
        self.clear_button = self._button("Clear", "pin-special", self._clear)
        self.ok_button = self._button("OK", "pin-ok", self.press_ok)
        grid.addWidget(self.clear_button, 3, 0)
        grid.addWidget(self._digit("0"), 3, 1)
        grid.addWidget(self.ok_button, 3, 2)
        self.cancel_button = self._button("Cancel", "pin-special", self.reject)
        self.cancel_button.setAutoDefault(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 28, 28, 28)
        layout.setSpacing(16)
        layout.addWidget(self.title)
        layout.addWidget(self.dots)
        layout.addWidget(self.message)
        layout.addLayout(grid)
        layout.addWidget(self.cancel_button)

    # -- public API -----------------------------------------------------------------

    @property
    def attempts_left(self) -> int:
        """Wrong tries left before the lockout (0 while locked)."""
        return 0 if self.locked else self._max_attempts - self._wrong

    @property
    def locked(self) -> bool:
        """Whether the pad is locked after too many wrong tries."""
        return self._lockout.isActive()

    @property
    def entered_length(self) -> int:
        """How many digits are entered (the digits themselves are not exposed)."""
        return len(self._entered)

    def enter(self, digits: str) -> None:
        """Press these digit keys, as a visitor would (ignored while locked)."""
        for digit in digits:
            if digit not in self.digit_buttons:
                raise ValueError(f"not a digit key: {digit!r}")
            self._press_digit(digit)

    def press_ok(self) -> None:
        """Check the entered PIN: accept when right; count, clear and maybe lock when wrong."""
        if self.locked or not self._entered:
            return
        entered, self._entered = self._entered.encode("ascii"), ""
        self._show_dots()
        if hmac.compare_digest(entered, self._expected):
            self._wrong = 0
            self._set_message(PROMPT)
            _LOGGER.info("operator PIN accepted")
            self.accept()
            return
        self._wrong += 1
        _LOGGER.warning("wrong operator PIN (attempt %d of %d)", self._wrong, self._max_attempts)
        if self._wrong >= self._max_attempts:
            self._lock()
        else:
            left = self._max_attempts - self._wrong
            self._set_message(f"{WRONG}. {left} {'try' if left == 1 else 'tries'} left.", alert=True)

    # -- internals ------------------------------------------------------------------

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setAccessibleName(text)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.setAutoDefault(False)
        button.setMinimumSize(72, 72)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _digit(self, digit: str) -> QPushButton:
        button = self._button(digit, "pin-key", lambda d=digit: self._press_digit(d))
        self.digit_buttons[digit] = button
        return button

    def _press_digit(self, digit: str) -> None:
        if self.locked or len(self._entered) >= MAX_PIN_LENGTH:
            return
        self._entered += digit
        self._show_dots()
        if self.message.property("alert"):
            self._set_message(PROMPT)

    def _clear(self) -> None:
        self._entered = ""
        self._show_dots()

    def _show_dots(self) -> None:
        self.dots.setText(" ".join(DOT * len(self._entered)))

    def _set_message(self, text: str, *, alert: bool = False) -> None:
        self.message.setText(text)
        self.message.setProperty("alert", "true" if alert else None)
        style = self.message.style()
        style.unpolish(self.message)
        style.polish(self.message)

    def _pad(self) -> list[QPushButton]:
        return [*self.digit_buttons.values(), self.clear_button, self.ok_button]

    def _lock(self) -> None:
        _LOGGER.warning("operator PIN pad locked for %.0f s after %d wrong tries", self._lockout_s, self._wrong)
        self._entered = ""
        self._show_dots()
        for button in self._pad():
            button.setEnabled(False)
        self._locked_until = time.monotonic() + self._lockout_s
        self._lockout.start(max(0, round(self._lockout_s * 1000)))
        self._countdown.start()
        self._show_lockout()

    def _show_lockout(self) -> None:
        seconds = max(1, math.ceil(self._locked_until - time.monotonic()))
        self._set_message(f"Too many wrong tries. Try again in {seconds} s.", alert=True)

    def _unlock(self) -> None:
        self._countdown.stop()
        self._wrong = 0
        for button in self._pad():
            button.setEnabled(True)
        self._set_message(PROMPT)
        _LOGGER.info("operator PIN pad unlocked")

    def showEvent(self, event: QShowEvent | None) -> None:  # noqa: N802 (Qt override)
        """Each time the pad opens it starts empty; a running lockout stays."""
        self._clear()
        if not self.locked:
            self._set_message(PROMPT)
        super().showEvent(event)
