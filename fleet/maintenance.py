"""The fleet server's background upkeep: hourly turn retention, silence alerts and their webhook.

One daemon thread per ``kiosk fleet serve`` process, never in a request's path: a slow database or
webhook delays the next check, never a kiosk. Every step is safe to run in several processes at once
(see :mod:`fleet.upkeep`). The webhook gets one JSON POST per alert raised; a failed delivery is
retried with doubling back-off up to ``WEBHOOK_ATTEMPTS`` times, then recorded as failed (audit row).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

from core.errors import KioskError

if TYPE_CHECKING:
    from fleet.store import FleetStore

_LOGGER = logging.getLogger(__name__)

RETENTION_EVERY = timedelta(hours=1)
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_ATTEMPTS = 6
WEBHOOK_FIRST_RETRY = timedelta(seconds=10)
WEBHOOK_MAX_RETRY = timedelta(minutes=30)


@dataclass(frozen=True)
class UpkeepPolicy:
    """What the server keeps and watches: ``retention_days`` 0 keeps turns for ever; silence in minutes."""

    retention_days: int = 90
    silent_after: timedelta = timedelta(minutes=15)
    webhook_url: str = ""
    check_every_s: float = 30.0
    retention_every: timedelta = RETENTION_EVERY
    first_retry: timedelta = WEBHOOK_FIRST_RETRY


def alert_payload(alert: dict[str, Any], silent_after: timedelta) -> dict[str, Any]:
    """The JSON the webhook receives for one alert."""
    minutes = int(silent_after.total_seconds() // 60)
    return {
        "event": "kiosk-silent",
        "alert_id": alert["id"],
        "kiosk_id": alert["kiosk_id"],
        "site": alert["site"],
        "last_seen": alert["last_seen"],
        "raised_at": alert["raised_at"],
        "text": f"kiosk {alert['kiosk_id']} (site {alert['site']}) silent for more than {minutes} minutes",
    }


class FleetUpkeep:
    """Runs :meth:`run_once` every ``policy.check_every_s`` in a daemon thread until :meth:`stop`."""

    def __init__(self, store: FleetStore, policy: UpkeepPolicy, *, transport: httpx.BaseTransport | None = None):
        self.store = store
        self.policy = policy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=WEBHOOK_TIMEOUT_S, transport=transport) if policy.webhook_url else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fleet-upkeep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._http is not None:
            self._http.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except KioskError as exc:
                _LOGGER.warning("fleet upkeep: %s", exc)
            except Exception:
                _LOGGER.exception("fleet upkeep failed")
            self._stop.wait(self.policy.check_every_s)

    def run_once(self) -> dict[str, Any]:
        """One round: retention when due, the silence check, due webhook deliveries. What it did."""
        done: dict[str, Any] = {"purged": None, "raised": 0, "cleared": 0, "notified": 0}
        if self.policy.retention_days > 0:
            done["purged"] = self.store.purge_turns_if_due(self.policy.retention_days, self.policy.retention_every)
        done["raised"], done["cleared"] = self.store.check_silence(
            self.policy.silent_after, notify=bool(self.policy.webhook_url)
        )
        if self._http is not None:
            done["notified"] = self.deliver()
        return done

    def deliver(self) -> int:
        """POST each due alert to the webhook; returns how many were delivered."""
        assert self._http is not None
        sent = 0
        for alert in self.store.claim_notifications():
            attempts = int(alert["notify_attempts"])
            try:
                response = self._http.post(self.policy.webhook_url, json=alert_payload(alert, self.policy.silent_after))
                ok, error = response.status_code < 300, f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            if ok:
                self.store.notification_done(alert["id"], ok=True)
                sent += 1
                continue
            retry = None
            if attempts < WEBHOOK_ATTEMPTS:
                retry = min(WEBHOOK_MAX_RETRY, self.policy.first_retry * 2 ** (attempts - 1))
            _LOGGER.warning("alert webhook for %s failed (%s), attempt %d", alert["kiosk_id"], error, attempts)
            self.store.notification_done(alert["id"], ok=False, error=error, retry_in=retry)
        return sent
