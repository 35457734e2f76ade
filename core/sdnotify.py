"""systemd's notify protocol (``Type=notify``, ``WatchdogSec=``) without a dependency.

The kiosk window sends ``READY=1`` once it can answer and ``WATCHDOG=1`` from
the Qt thread's timer, so a frozen window is restarted by systemd. Outside
systemd (no ``$NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

_LOGGER = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; False when not run by systemd or on error."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError as exc:
        _LOGGER.debug("sd_notify %r failed: %s", message, exc)
        return False


def watchdog_interval_s() -> float | None:
    """Half the watchdog timeout systemd asked for (``WATCHDOG_USEC``), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    return int(usec) / 2_000_000
