"""The kiosk's small widgets: on-screen keyboard, operator PIN pad and theme."""

from __future__ import annotations

import logging
import os
import re

import pytest

pytestmark = [pytest.mark.gui]

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtCore import Qt  # noqa: E402 (after the platform is chosen)
from PyQt6.QtWidgets import QDialog, QLineEdit  # noqa: E402

from kiosk.keyboard import OnScreenKeyboard  # noqa: E402
from kiosk.pinpad import PinDialog  # noqa: E402
from kiosk.theme import PALETTES, contrast_ratio, stylesheet  # noqa: E402

PIN = "2468"


@pytest.fixture
def keyboard(qtbot):
    line = QLineEdit()
    board = OnScreenKeyboard(line)
    board.setStyleSheet(stylesheet())
    qtbot.addWidget(line)
    qtbot.addWidget(board)
    line.show()
    board.show()
    qtbot.waitExposed(board)
    return board, line


def tap(qtbot, board: OnScreenKeyboard, *labels: str) -> None:
    for label in labels:
        qtbot.mouseClick(board.key_for(label), Qt.MouseButton.LeftButton)


# -- keyboard -------------------------------------------------------------------------


def test_typing_hi_with_shift_and_the_digits_layer(qtbot, keyboard) -> None:
    board, line = keyboard
    tap(qtbot, board, "Shift", "h", "i")
    assert line.text() == "Hi"
    assert not board.shift_active, "Shift is one-shot"
    tap(qtbot, board, "123")
    assert board.digits_active
    tap(qtbot, board, "?")
    assert line.text() == "Hi?"
    tap(qtbot, board, "ABC", "Space", "x")
    assert line.text() == "Hi? x"


def test_every_digits_layer_key_types_its_character(qtbot, keyboard) -> None:
    board, line = keyboard
    board.show_digits()
    chars = "1234567890?,.'-/@€$&"
    tap(qtbot, board, *chars)
    assert line.text() == chars
    assert board.key_for("&").text() == "&&"  # shown as one ampersand, not a mnemonic


def test_keys_insert_at_the_cursor_and_backspace_removes_one(qtbot, keyboard) -> None:
    board, line = keyboard
    line.setText("ac")
    line.setCursorPosition(1)
    tap(qtbot, board, "b")
    assert line.text() == "abc"
    tap(qtbot, board, "Backspace")
    assert line.text() == "ac"
    assert line.cursorPosition() == 1
    assert board.key_for("Backspace").autoRepeat()


def test_ask_and_enter_emit_submitted_hide_emits_hidden(qtbot, keyboard) -> None:
    board, line = keyboard
    with qtbot.waitSignal(board.submitted, timeout=1000):
        tap(qtbot, board, "Ask")
    with qtbot.waitSignal(board.submitted, timeout=1000):
        line.returnPressed.emit()
    with qtbot.waitSignal(board.hidden, timeout=1000):
        tap(qtbot, board, "Hide")


def test_keys_are_touch_sized_and_never_take_focus(qtbot, keyboard) -> None:
    board, _line = keyboard
    for layer in (board.show_letters, board.show_digits):
        layer()
        qtbot.wait(10)
        visible = [k for k in board.all_keys() if k.isVisible()]
        assert len(visible) >= 24
        for key in visible:
            assert key.width() >= 44 and key.height() >= 44, key.accessibleName()
            assert key.minimumWidth() >= 56 and key.minimumHeight() >= 56
            assert key.focusPolicy() == Qt.FocusPolicy.NoFocus
            assert key.objectName() in {"key", "key-special"}


def test_line_edit_keeps_focus_while_typing(qtbot, keyboard) -> None:
    board, line = keyboard
    line.activateWindow()
    line.setFocus()
    tap(qtbot, board, "a")
    assert board.focusWidget() is None or board.focusWidget() is line
    assert line.text() == "a"


# -- PIN pad --------------------------------------------------------------------------


@pytest.fixture
def make_pin(qtbot):
    def make(**kwargs) -> PinDialog:
        dialog = PinDialog(PIN, **kwargs)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def test_correct_pin_accepts(qtbot, make_pin) -> None:
    dialog = make_pin()
    dialog.enter(PIN)
    assert dialog.dots.text().count("●") == len(PIN)
    assert PIN not in dialog.dots.text()
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.press_ok()
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_pin_keys_and_clear_work_by_touch(qtbot, make_pin) -> None:
    dialog = make_pin()
    qtbot.mouseClick(dialog.digit_buttons["9"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.clear_button, Qt.MouseButton.LeftButton)
    assert dialog.entered_length == 0
    for digit in PIN:
        qtbot.mouseClick(dialog.digit_buttons[digit], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def test_wrong_pin_is_refused_counted_and_not_logged(qtbot, make_pin, caplog) -> None:
    dialog = make_pin()
    caplog.set_level(logging.INFO, logger="kiosk.pinpad")
    dialog.enter("1111")
    dialog.press_ok()
    assert dialog.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.attempts_left == 2
    assert dialog.entered_length == 0
    assert "Wrong PIN" in dialog.message.text()
    assert "wrong operator PIN" in caplog.text
    assert "1111" not in caplog.text and PIN not in caplog.text


def test_lockout_after_three_wrong_tries_then_unlocks(qtbot, make_pin) -> None:
    dialog = make_pin(lockout_s=0.2)
    for _ in range(3):
        dialog.enter("0000")
        dialog.press_ok()
    assert dialog.locked
    assert dialog.attempts_left == 0
    assert not dialog.ok_button.isEnabled()
    assert not any(b.isEnabled() for b in dialog.digit_buttons.values())
    assert dialog.cancel_button.isEnabled()
    assert "Too many" in dialog.message.text()
    dialog.enter(PIN)  # ignored while locked
    dialog.press_ok()
    assert dialog.result() != QDialog.DialogCode.Accepted
    qtbot.waitUntil(dialog.ok_button.isEnabled, timeout=3000)
    assert all(b.isEnabled() for b in dialog.digit_buttons.values())
    assert dialog.attempts_left == 3
    dialog.enter(PIN)
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.press_ok()


def test_cancel_and_reopen_keeps_the_count(qtbot, make_pin) -> None:
    dialog = make_pin()
    dialog.enter("1")
    dialog.press_ok()
    with qtbot.waitSignal(dialog.rejected, timeout=1000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    dialog.show()
    assert dialog.attempts_left == 2
    assert dialog.entered_length == 0


@pytest.mark.parametrize("bad", ["", "12a4", "١٢٣٤"])
def test_pin_must_be_set_and_digits(qtbot, bad: str) -> None:
    with pytest.raises(ValueError):
        PinDialog(bad)


# -- theme ----------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "minimum"), [("normal", 4.5), ("high_contrast", 7.0)])
def test_palette_text_contrast(mode: str, minimum: float) -> None:
    palette = PALETTES[mode]
    assert contrast_ratio(palette["text"], palette["background"]) >= minimum
    assert contrast_ratio(palette["caption_text"], palette["caption_bg"]) >= minimum
    assert contrast_ratio(palette["accent_text"], palette["accent"]) >= minimum
    assert contrast_ratio(palette["muted"], palette["background"]) >= minimum


def test_palettes_have_the_same_keys() -> None:
    assert set(PALETTES["normal"]) == set(PALETTES["high_contrast"])
    assert {"background", "text", "caption_bg", "caption_text", "accent", "accent_text", "muted"} <= set(
        PALETTES["normal"]
    )


def test_contrast_ratio_matches_wcag() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    with pytest.raises(ValueError):
        contrast_ratio("white", "#000000")


def _font_sizes(css: str) -> list[int]:
    return [int(n) for n in re.findall(r"font-size:\s*(\d+)px", css)]


def test_large_text_scales_every_font_size() -> None:
    normal, large = _font_sizes(stylesheet()), _font_sizes(stylesheet(large_text=True))
    assert normal and len(normal) == len(large)
    assert all(big > small for small, big in zip(normal, large, strict=True))
    assert all(
        big == round(small * 1.4) or abs(big - small * 1.4) <= 1 for small, big in zip(normal, large, strict=True)
    )


def test_high_contrast_stylesheet_is_black_with_thick_borders() -> None:
    css = stylesheet(high_contrast=True)
    assert "QWidget#kiosk { background: #000000; }" in css
    assert "4px solid #ffffff" in css
    assert "#0f2a44" not in css
    for name in ("caption", "transcript", "state", "tool", "warning", "error", "key", "key-special", "pin", "level"):
        assert f"#{name} " in css or f"#{name}:" in css or f"#{name}[" in css, name


def test_stylesheets_parse_without_qt_warnings(qtbot) -> None:
    from PyQt6.QtCore import qInstallMessageHandler
    from PyQt6.QtWidgets import QWidget

    messages: list[str] = []
    previous = qInstallMessageHandler(lambda _mode, _ctx, msg: messages.append(msg))
    try:
        for large in (False, True):
            for contrast in (False, True):
                widget = QWidget(objectName="kiosk")
                qtbot.addWidget(widget)
                board = OnScreenKeyboard(QLineEdit(), widget)
                widget.setStyleSheet(stylesheet(large_text=large, high_contrast=contrast))
                widget.show()
                board.ensurePolished()
                qtbot.wait(5)
    finally:
        qInstallMessageHandler(previous)
    assert not [m for m in messages if "style" in m.lower() or "property" in m.lower()], messages
