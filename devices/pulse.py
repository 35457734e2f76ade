"""Whether a ``pulse:NAME`` device still exists: PulseAudio hides a vanished device from its streams.

When a PulseAudio source or sink disappears (a USB microphone pulled out, a
Bluetooth speaker gone), PulseAudio moves the streams on it to another device or
lets them run on silence: PortAudio reports no error, so the kiosk would go on
"listening" to the wrong microphone and speaking into the wrong speaker, and its
health page would say ``ok``. :class:`PulsePresence` asks the server (``pactl``)
every few seconds whether the named device is there; the microphone and the
speaker close their stream when it is gone and open a new one, bound to the
device again, when it is back.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

CHECK_EVERY_S = 2.0


def pulse_name(device: str) -> str | None:
    """The PulseAudio name of a ``pulse:NAME`` device setting, else None."""
    return device.split(":", 1)[1] if device.startswith("pulse:") and device != "pulse:" else None


def pulse_devices(kind: str) -> set[str] | None:
    """Names of the server's sources (``input``) or sinks (``output``); None when it cannot be asked."""
    if shutil.which("pactl") is None:
        return None
    what = "sources" if kind == "input" else "sinks"
    try:
        out = subprocess.run(["pactl", "list", "short", what], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        _LOGGER.debug("cannot list PulseAudio %s: %s", what, exc)
        return None
    return {line.split("\t")[1] for line in out.stdout.splitlines() if line.count("\t") >= 1}


class PulsePresence:
    """Watches one PulseAudio device on a small daemon thread; ``present`` is its last answer.

    ``on_change(present)`` runs on the watch thread when the answer changes. A server that cannot be asked
    (no ``pactl``) counts as present: the device's own errors are then all there is.
    """

    def __init__(
        self,
        name: str,
        kind: str,
        *,
        on_change: Callable[[bool], None] | None = None,
        every_s: float = CHECK_EVERY_S,
        lister: Callable[[str], set[str] | None] = pulse_devices,
    ) -> None:
        self.name, self.kind = name, kind
        self._on_change = on_change
        self._every_s = every_s
        self._lister = lister
        self.present = self.check()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"pulse-watch-{kind}", daemon=True)
        self._thread.start()

    def check(self) -> bool:
        names = self._lister(self.kind)
        return names is None or self.name in names

    def _watch(self) -> None:
        while not self._stop.wait(self._every_s):
            present = self.check()
            if present != self.present:
                self.present = present
                _LOGGER.warning("PulseAudio %s %s %s", self.kind, self.name, "is back" if present else "is gone")
                if self._on_change is not None:
                    self._on_change(present)

    def close(self) -> None:
        self._stop.set()
