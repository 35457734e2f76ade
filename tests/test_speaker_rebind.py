"""A speaker pulled out and plugged back while no sentence played is reopened on its own device.

PulseAudio moves the streams of a vanished sink elsewhere, and the moved stream keeps running: the soak
caught a speaker that stayed "unavailable" (and would have played on the fallback sink) because nothing
was said while it was away. Fakes stand in for PortAudio and PulseAudio's presence watch.
"""

from __future__ import annotations

import numpy as np

from devices import sound


class _Stream:
    opened = 0

    def __init__(self, **kw) -> None:
        _Stream.opened += 1
        self.active = False
        self.latency = 0.01

    def start(self) -> None:
        self.active = True

    def close(self, ignore_errors: bool = True) -> None:
        self.active = False


class _SoundDevice:
    OutputStream = _Stream


class _Presence:
    kind, name, present = "output", "kiosk_speaker", True

    def check(self) -> bool:
        return self.present

    def close(self) -> None:
        pass


def test_a_speaker_back_from_a_pull_is_reopened_and_reported_ok(monkeypatch) -> None:
    presence = _Presence()
    monkeypatch.setattr(sound, "_sd", lambda: _SoundDevice)
    monkeypatch.setattr(sound, "_pulse_presence", lambda device, kind, current, on_change: presence)
    monkeypatch.setattr(sound, "resolve_device", lambda name, kind: None)
    _Stream.opened = 0
    states: list[str] = []
    speaker = sound.Speaker(device="pulse:kiosk_speaker", on_state=lambda s: states.append(s.state))
    tone = np.zeros(1600, np.float32)
    speaker.play(tone, 16000)
    assert states == ["ok"] and _Stream.opened == 1
    first = speaker._stream

    presence.present = False  # pulled out: PulseAudio moves the stream, which keeps running
    speaker._pulse_changed(False)
    assert states[-1] == "unavailable" and first.active
    presence.present = True  # plugged back before the next sentence

    speaker.play(tone, 16000)
    assert _Stream.opened == 2 and speaker._stream is not first and not first.active  # on its own device again
    assert states[-1] == "ok"
    speaker.play(tone, 16000)
    assert _Stream.opened == 2  # and kept from then on
