"""What the audio devices report: a microphone or speaker came, went or closed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.events import Event


class DeviceKind(StrEnum):
    MICROPHONE = "microphone"
    SPEAKER = "speaker"


class DeviceStatus(StrEnum):
    OK = "ok"
    UNAVAILABLE = "unavailable"  # lost or not found; the device loop retries with back-off
    CLOSED = "closed"


@dataclass(frozen=True)
class DeviceChanged(Event):
    """A microphone or speaker changed state."""

    kind: DeviceKind
    state: DeviceStatus
    detail: str = ""
