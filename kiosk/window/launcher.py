"""Starting the kiosk window: the live audio devices, the model libraries, the Qt application (``kiosk run``)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QCursor, QFont
from PyQt6.QtWidgets import QApplication

from core.events import Event
from devices.events import DeviceChanged, DeviceKind, DeviceStatus
from kiosk.lockdown import KeyGuard, inhibit_screen_blanking
from kiosk.window.runner import LoopFactory, SourceFactory
from kiosk.window.window import KioskWindow
from runtime.events import TurnState
from runtime.turn_loop import TurnLoop

_LOGGER = logging.getLogger(__name__)


def live_factories(services, kb: str, *, audio: bool = True) -> tuple[LoopFactory, SourceFactory | None]:
    """The turn loop over the real speaker, and the real microphone (both reconnect on their own)."""
    settings = services.settings

    def make_loop(emit: Callable[[Event], None]) -> TurnLoop:
        from devices.sound import Speaker

        def speaker_state(state) -> None:
            emit(DeviceChanged(DeviceKind.SPEAKER, DeviceStatus(state.state), state.detail))

        sink = Speaker(
            device=settings.audio.output_device, reconnect_max_s=settings.audio.reconnect_max_s, on_state=speaker_state
        )
        listener = None
        if audio:
            try:
                listener = services.listener(require_wake=False)
            except Exception as exc:  # voice models missing: the touch screen still works
                _LOGGER.error("voice input unavailable: %s", exc)
                emit(DeviceChanged(DeviceKind.MICROPHONE, DeviceStatus.UNAVAILABLE, str(exc)))
        return services.turn_loop(sink=sink, emit=emit, listener=listener, kb=kb, clock=time.monotonic)

    def make_source(emit: Callable[[Event], None]):
        from devices.sound import Microphone

        def mic_state(state) -> None:
            emit(DeviceChanged(DeviceKind.MICROPHONE, DeviceStatus(state.state), state.detail))

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
    services.run_live()
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
            if window.loop is not None and window.state == TurnState.ATTRACT:
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
