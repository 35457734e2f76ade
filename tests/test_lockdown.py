"""Lock-down helpers: blocked shortcuts and systemd's notify/watchdog protocol."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


def test_blocked_shortcuts() -> None:
    from PyQt6.QtCore import Qt

    from kiosk.lockdown import is_blocked

    alt, ctrl, none = (Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.ControlModifier,
                       Qt.KeyboardModifier.NoModifier)  # fmt: skip
    assert is_blocked(Qt.Key.Key_F4, alt) and is_blocked(Qt.Key.Key_Tab, alt) and is_blocked(Qt.Key.Key_Escape, none)
    assert is_blocked(Qt.Key.Key_W, ctrl) and is_blocked(Qt.Key.Key_Q, ctrl)
    assert not is_blocked(Qt.Key.Key_Tab, none) and not is_blocked(Qt.Key.Key_Q, none)


def test_sd_notify_reaches_systemd_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.sdnotify import notify, watchdog_interval_s

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False  # not under systemd: nothing happens
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("WATCHDOG=1")
        assert server.recv(64) == b"WATCHDOG=1"
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert watchdog_interval_s() == 15.0
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert notify("READY=1") is False  # systemd went away: no crash
