"""The threads behind the window: start-up (models load there), the microphone, and their shutdown.

Only the Qt thread touches widgets: everything the turn loop reports reaches the
window through :class:`LoopBridge`'s queued signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal

from core.events import Event
from devices.events import DeviceChanged, DeviceKind, DeviceStatus
from runtime.turn_loop import TurnLoop

_LOGGER = logging.getLogger(__name__)

LoopFactory = Callable[[Callable[[Event], None]], TurnLoop]
SourceFactory = Callable[[Callable[[Event], None]], object]
AUDIO_STOP_S = 3.0  # the microphone thread closes its stream within a block or two


class LoopBridge(QObject):
    """From any thread to the Qt thread: the loop's events, its readiness (loop, suggestions, languages, avatar)."""

    event = pyqtSignal(object)
    ready = pyqtSignal(object, list, list, object)
    failed = pyqtSignal(str)


class LoopRunner:
    """Builds and warms the turn loop on a start-up thread, then feeds it the microphone on an audio thread."""

    def __init__(
        self,
        *,
        loop_factory: LoopFactory,
        source_factory: SourceFactory | None,
        live_factory: Callable[[], object] | None = None,
    ) -> None:
        self.bridge = LoopBridge()
        self._loop_factory = loop_factory
        self._source_factory = source_factory
        self._live_factory = live_factory
        self.microphone = None  # the AudioSource, once the audio thread opened it
        self._stop = threading.Event()
        self._audio_thread: threading.Thread | None = None
        self._startup = threading.Thread(target=self._start_up, name="kiosk-startup", daemon=True)

    def start(self) -> None:
        self._startup.start()

    def _start_up(self) -> None:
        try:
            loop = self._loop_factory(self.bridge.event.emit)
            live = self._live_factory() if self._live_factory is not None else None
            loop.warm(self._stop, openings=False)
            self.bridge.ready.emit(loop, loop.suggestions(6), loop.languages(), live)
        except Exception as exc:
            _LOGGER.exception("the kiosk could not start its answer engine")
            self.bridge.failed.emit(f"startup: {exc}")
            return
        if self._source_factory is not None and loop.listens:
            self._audio_thread = threading.Thread(target=self._audio, args=(loop,), name="kiosk-audio", daemon=True)
            self._audio_thread.start()
        loop.warm_openings(self._stop)  # after the first start-up, all of them come from the disk cache

    def _audio(self, loop: TurnLoop) -> None:
        """Microphone blocks into the loop until the window closes (the source reconnects by itself)."""
        try:
            self.microphone = self._source_factory(self.bridge.event.emit)
            for block in self.microphone.blocks():
                if self._stop.is_set():
                    break
                loop.feed(block)
        except Exception as exc:
            _LOGGER.exception("the microphone pipeline stopped")
            self.bridge.event.emit(DeviceChanged(DeviceKind.MICROPHONE, DeviceStatus.UNAVAILABLE, str(exc)))

    def shutdown(self, loop: TurnLoop | None, wait_s: float = 10.0) -> bool:
        """Stop the microphone and the turn loop; False when start-up is still inside a model library or the
        microphone thread has not closed its stream (PortAudio's teardown would then wait on it forever).

        Start-up stops between two sentences it pre-synthesizes, so a kiosk stopped while it
        warms up normally waits a moment here; a thread still inside native code when the
        interpreter is torn down would abort the process.
        """
        self._stop.set()
        if self._startup.is_alive():
            self._startup.join(wait_s)
        if self.microphone is not None:
            self.microphone.close()
        if self._audio_thread is not None:  # it closes the microphone's stream on its way out
            self._audio_thread.join(AUDIO_STOP_S)
        if loop is not None:
            loop.shutdown()
        audio_stopped = self._audio_thread is None or not self._audio_thread.is_alive()
        if not audio_stopped:
            _LOGGER.warning("the microphone did not stop within %.0f s", AUDIO_STOP_S)
        return audio_stopped and not self._startup.is_alive()
