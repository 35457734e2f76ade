"""The Qt kiosk window under a virtual display (Xvfb via ./test.sh, or offscreen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.models]

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def window(qtbot, services):
    from kiosk.app import KioskWindow

    win = KioskWindow(settings=services.settings, policy_factory=lambda: services.policy("bank"), title="Test Bank")
    qtbot.addWidget(win)
    win.resize(540, 960)
    win.show()
    qtbot.waitUntil(win.ask_button.isEnabled, timeout=60_000)
    return win


def test_window_offers_suggested_questions(window) -> None:
    from PyQt6.QtWidgets import QPushButton

    chips = [window.chips.itemAt(i).widget() for i in range(window.chips.count())]
    assert 3 <= len(chips) <= 6
    assert all(isinstance(c, QPushButton) and c.text().endswith("?") for c in chips)
    assert all(c.minimumSizeHint().height() >= 44 or c.height() >= 44 for c in chips)


def test_tapping_a_suggestion_shows_its_answer(qtbot, window, services) -> None:
    chip = window.chips.itemAt(0).widget()
    question = chip.text()
    qtbot.mouseClick(chip, __import__("PyQt6.QtCore", fromlist=["Qt"]).Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window._busy and window.answer.text() not in ("…", ""), timeout=60_000)
    expected = next(e for e in services.store.list("bank") if e.question == question)
    assert window.answer.text() == expected.answer


def test_typed_question_gets_its_answer(qtbot, window, services) -> None:
    window.input.setText("my bank card was stolen")
    window.ask_button.click()
    qtbot.waitUntil(lambda: not window._busy and window.answer.text() != "…", timeout=60_000)
    assert window.answer.text() == services.store.get("bank", "bank-lost-card").answer
    assert window.input.text() == ""


def test_run_command_takes_a_screenshot(kiosk_cli, kiosk_home: Path, tmp_path: Path) -> None:
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display (./test.sh runs the suite under Xvfb)")
    shot = tmp_path / "kiosk.png"
    result = kiosk_cli(
        "run", "--windowed", "--ask", "I lost my card", "--screenshot", str(shot), "--quit-after", "30", timeout=120
    )
    assert result.returncode == 0, result.stderr
    from core.heartbeat import read_heartbeat

    beat = read_heartbeat(kiosk_home)
    assert beat.present and beat.fresh and beat.data["kb"] == "bank" and beat.data["state"] == "attract"
    from PyQt6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 400 and image.height() >= 400
    # the background is the kiosk's dark blue, the answer card is white
    assert image.pixelColor(5, 5).name() == "#0f2a44"
    upper = [
        image.pixelColor(x, y).name() for x in range(0, image.width(), 7) for y in range(0, image.height() // 2, 7)
    ]
    assert upper.count("#ffffff") / len(upper) > 0.15


def test_run_without_a_screen_explains_what_to_do(kiosk_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "--home", str(kiosk_home), "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "display-unavailable" in proc.stderr and "xvfb-run" in proc.stderr
