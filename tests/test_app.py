"""The Qt kiosk window under a virtual display (Xvfb via ./test.sh, or offscreen): states, touch path, lock-down."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.models]

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def window(qtbot, services):
    from avatar.pack import load_pack
    from devices.files import WavFileSink
    from kiosk.window.window import KioskWindow

    def make_loop(emit):
        return services.turn_loop(sink=WavFileSink(), emit=emit, listener=None, kb="bank", clock=time.monotonic)

    win = KioskWindow(
        settings=services.settings,
        loop_factory=make_loop,
        title="Test Bank",
        locked=True,
        avatar_pack=load_pack("presenter"),
    )
    qtbot.addWidget(win)
    win.resize(1080 // 2 + 200, 1920 // 2)
    win.show()
    qtbot.waitUntil(lambda: win.state == "attract", timeout=120_000)
    yield win
    win.allow_close = True
    win.shutdown()


def _click(qtbot, widget) -> None:
    from PyQt6.QtCore import Qt

    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_attract_screen_offers_questions_and_draws_the_avatar(qtbot, window) -> None:
    from PyQt6.QtWidgets import QPushButton

    chips = [window.chips.itemAt(i).widget() for i in range(window.chips.count())]
    assert 3 <= len(chips) <= 6
    assert all(isinstance(c, QPushButton) and c.text().endswith("?") for c in chips)
    for button in [*chips, *window.tools]:
        assert button.height() >= 44 and button.width() >= 44, button.text()  # touch targets
    assert window.hint.text() == "Tap a question or type your own"  # no microphone in this window: touch only
    qtbot.waitUntil(lambda: window.avatar.image is not None and window.stats.frames > 5, timeout=10_000)
    image = window.avatar.image
    assert image.width() > 150 and image.pixelColor(image.width() // 2, image.height() // 2).name() != "#0f2a44"


def test_tapping_a_question_speaks_and_captions_its_answer(qtbot, window, services) -> None:
    states: list[str] = []
    window.runner.bridge.event.connect(lambda e: states.append(getattr(e, "state", "")))
    chip = window.chips.itemAt(0).widget()
    question = chip.text()
    _click(qtbot, chip)
    qtbot.waitUntil(lambda: window.state == "idle", timeout=60_000)
    entry = next(e for e in services.store.list("bank") if e.question == question)
    assert window.answer.text() == entry.speech  # captions are what was spoken
    assert [s for s in states if s][:3] == ["thinking", "speaking", "idle"]
    assert window.loop.status().played_samples > 22050  # at least a second of speech


def test_on_screen_keyboard_asks_a_typed_question(qtbot, window, services) -> None:
    _click(qtbot, window.type_button)
    assert window.keyboard.isVisible()
    for label in ["m", "y", "Space", "c", "a", "r", "d", "Space", "w", "a", "s", "Space"]:
        _click(qtbot, window.keyboard.key_for(label))
    window.input.insert("stolen")
    _click(qtbot, window.keyboard.key_for("Ask"))
    assert not window.keyboard.isVisible() and window.input.text() == ""
    qtbot.waitUntil(lambda: window.state == "idle", timeout=60_000)
    assert window.answer.text() == services.store.get("bank", "bank-lost-card").speech
    assert window.transcript.text() == "“my card was stolen”"


def test_stop_silences_and_repeat_speaks_again(qtbot, window) -> None:
    window.ask("What are your opening hours?")
    qtbot.waitUntil(lambda: window.state == "idle", timeout=60_000)
    played = window.loop.status().played_samples
    _click(qtbot, window.repeat_button)
    qtbot.waitUntil(lambda: window.loop.status().played_samples >= 2 * played, timeout=10_000)
    _click(qtbot, window.louder_button)
    assert window.loop.volume == pytest.approx(1.2) and "120" in window.status.text()


def test_inactivity_warns_for_twenty_seconds_then_starts_over(qtbot, window) -> None:
    window.ask("Do you count coins?")
    qtbot.waitUntil(lambda: window.state == "idle", timeout=60_000)
    assert window.loop.warning_s >= 20  # WCAG 2.2.1
    window.loop.inactivity_timeout_s, window.loop.warning_s = 0.3, 4.0  # long enough to see, even when busy
    qtbot.waitUntil(lambda: window.state == "warning", timeout=5_000)
    assert window.warning.isVisible() and "Tap anywhere" in window.warning.text()
    _click(qtbot, window.answer)  # "I'm still here"
    qtbot.waitUntil(lambda: window.state == "idle", timeout=5_000)
    qtbot.waitUntil(lambda: window.state == "warning", timeout=10_000)
    qtbot.waitUntil(lambda: window.state == "attract", timeout=15_000)
    assert window.answer.text().startswith("Hello")
    assert window.loop.conversation.last_faq_id is None


def test_lock_down_ignores_close_and_escape_keys(qtbot, window) -> None:
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication

    from kiosk.lockdown import KeyGuard, is_blocked

    guard = KeyGuard()
    QApplication.instance().installEventFilter(guard)
    try:
        window.close()
        assert window.isVisible()
        qtbot.keyClick(window, Qt.Key.Key_Escape)
        qtbot.keyClick(window, Qt.Key.Key_F4, Qt.KeyboardModifier.AltModifier)
        qtbot.keyClick(window, Qt.Key.Key_Tab, Qt.KeyboardModifier.AltModifier)
        assert guard.blocked >= 3 and window.isVisible()
        assert not is_blocked(Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier)
    finally:
        QApplication.instance().removeEventFilter(guard)


def test_large_text_and_high_contrast(qtbot, window) -> None:
    normal = window.answer.font().pointSizeF(), window.styleSheet()
    _click(qtbot, window.text_button)
    _click(qtbot, window.contrast_button)
    assert window.large_text and window.high_contrast
    assert window.styleSheet() != normal[1] and "#000000" in window.styleSheet()


def test_friendly_message_when_the_microphone_is_unplugged(qtbot, window) -> None:
    from devices.events import DeviceChanged

    window.runner.bridge.event.emit(DeviceChanged("microphone", "unavailable", "PortAudio error -9996"))
    qtbot.waitUntil(window.error.isVisible, timeout=2_000)
    assert window.error.text() == "The microphone is unavailable, please use the touch screen."
    assert "9996" not in window.error.text() and not window.talk_button.isEnabled()
    window.runner.bridge.event.emit(DeviceChanged("microphone", "ok"))
    qtbot.waitUntil(lambda: not window.error.isVisible(), timeout=2_000)


def test_devices_closed_at_shutdown_are_not_reported_as_a_fault(qtbot, window) -> None:
    from devices.events import DeviceChanged

    before = window._last_error
    window.runner.bridge.event.emit(DeviceChanged("speaker", "closed"))
    window.runner.bridge.event.emit(DeviceChanged("microphone", "closed"))
    qtbot.wait(200)
    assert not window.error.isVisible()
    assert window._last_error == before
    window.runner.bridge.event.emit(DeviceChanged("speaker", "unavailable", "sink gone"))
    qtbot.waitUntil(window.error.isVisible, timeout=2_000)
    assert window._last_error == "speaker: unavailable sink gone"


def test_run_command_takes_a_screenshot(kiosk_cli, kiosk_home: Path, tmp_path: Path) -> None:
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display (./test.sh runs the suite under Xvfb)")
    shot = tmp_path / "kiosk.png"
    result = kiosk_cli(
        # touch only: the test machine's default microphone hears whatever else plays there
        "run",
        "--windowed",
        "--no-audio",
        "--ask",
        "I lost my card",
        "--screenshot",
        str(shot),
        "--quit-after",
        "60",  # wall time from the window showing: models load and the answer is logged well before, even when busy
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    from core.heartbeat import read_heartbeat

    beat = read_heartbeat(kiosk_home)
    assert beat.present and beat.data["kb"] == "bank"
    assert beat.data["state"] == "stopped" and beat.data["display"]["frames"] > 100, beat.data
    import sqlite3

    with sqlite3.connect(kiosk_home / "kiosk.db") as db:
        logged = db.execute("SELECT source, mode, faq_id FROM turns").fetchall()
    assert logged == [("touch", "faq", "bank-lost-card")]
    from PyQt6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 400 and image.height() >= 800
    assert image.pixelColor(5, 5).name() == "#0f2a44"  # the kiosk's dark blue
    # the avatar fills the upper part (light backdrop), the white answer card is below it
    third = image.width() // 3
    upper = [image.pixelColor(x, y).lightness() for x in range(third, 2 * third, 9) for y in range(80, 400, 9)]
    assert sum(v > 200 for v in upper) / len(upper) > 0.3
    lower = [
        image.pixelColor(x, y).name()
        for x in range(0, image.width(), 7)
        for y in range(image.height() // 2, image.height(), 7)
    ]
    assert lower.count("#ffffff") / len(lower) > 0.05


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


@pytest.mark.audio
def test_one_full_voice_turn_through_pulseaudio(qtbot, services, tmp_path: Path) -> None:
    """Spoken question into a virtual microphone → the window answers out loud on a virtual speaker."""
    import uuid

    import numpy as np

    from avatar.pack import load_pack
    from devices.sound import Microphone, Speaker
    from devices.wav import write_wav
    from kiosk.window.window import KioskWindow
    from speech.tts.piper import PiperTts
    from tests.test_audio_devices import pactl

    try:
        pactl("info")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no PulseAudio server (./test.sh starts one)")
    mic_sink, speaker_sink = (f"kiosk_{role}_{uuid.uuid4().hex[:6]}" for role in ("mic", "spk"))
    modules = [pactl("load-module", "module-null-sink", f"sink_name={name}") for name in (mic_sink, speaker_sink)]
    try:
        tts = PiperTts(model_path=services.models.require("tts"), variation=0.0)
        chunks = list(tts.synthesize("Hey kiosk, where is the cash machine?"))
        question = tmp_path / "question.wav"
        rate = chunks[0].sample_rate
        write_wav(question, np.concatenate([np.zeros(rate // 2, np.float32), *[c.samples for c in chunks]]), rate)

        def make_loop(emit):
            listener = services.listener(require_wake=False)
            speaker = Speaker(device=f"pulse:{speaker_sink}")
            return services.turn_loop(sink=speaker, emit=emit, listener=listener, kb="bank", clock=time.monotonic)

        win = KioskWindow(
            settings=services.settings,
            loop_factory=make_loop,
            source_factory=lambda emit: Microphone(device=f"pulse:{mic_sink}.monitor"),
            title="Voice",
            avatar_pack=load_pack("presenter"),
        )
        qtbot.addWidget(win)
        win.show()
        qtbot.waitUntil(lambda: win.state == "attract" and win.runner.microphone is not None, timeout=120_000)
        qtbot.waitUntil(lambda: win.runner.microphone.state().state == "ok", timeout=30_000)  # its stream is open
        qtbot.wait(500)  # and recording: a null sink's monitor delivers only what is played after that
        from kiosk.window.avatar_view import FrameStats

        win.stats = FrameStats()
        player = subprocess.Popen(["paplay", f"--device={mic_sink}", str(question)])
        qtbot.waitUntil(lambda: win.state in ("speaking", "follow_up"), timeout=30_000)
        qtbot.waitUntil(lambda: win.state == "follow_up", timeout=60_000)
        assert "cash machine" in win.transcript.text()
        assert win.answer.text() == services.store.get("bank", "bank-atm-location").speech
        assert win.loop.status().played_samples > rate  # it spoke through the virtual speaker
        assert player.wait(10) == 0
        assert win.stats.frames > 30  # the display ran while it worked (its gaps are measured in bench/e2e.py)
        win.shutdown()
    finally:
        for module in modules:
            subprocess.run(["pactl", "unload-module", module], check=False)
