"""A fault-injection hook for tests and ``bench/fleet.py --faults``: pause a process at a named point.

With ``KIOSK_FLEET_PAUSE_AT=POINT`` and ``KIOSK_FLEET_PAUSE_MARKER=FILE`` in its environment, a kiosk or
server process that reaches POINT writes FILE (its process id) and waits until FILE is removed, so the
test can kill it at exactly that point (no sleeps, no races). Without them it does nothing.

Points: ``downloaded`` (kiosk: a new version checked, nothing applied yet), ``applying`` (kiosk: inside
the SQLite transaction that applies it, every entry written, not committed), ``turns-inserted`` (server:
a batch inserted, not committed) and ``turns-committed`` (server: committed, not acknowledged yet).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

PAUSE_AT_ENV = "KIOSK_FLEET_PAUSE_AT"
PAUSE_MARKER_ENV = "KIOSK_FLEET_PAUSE_MARKER"


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_AT_ENV) != name or not os.environ.get(PAUSE_MARKER_ENV):
        return
    marker = Path(os.environ[PAUSE_MARKER_ENV])
    partial = marker.with_name(marker.name + ".part")
    partial.write_text(str(os.getpid()))
    partial.replace(marker)
    _LOGGER.warning("fleet: paused at %s until %s is removed", name, marker)
    while marker.exists():
        time.sleep(0.05)
