"""The heartbeat writer: the kiosk window never waits on the disk, and the last beat is the one on disk."""

from __future__ import annotations

import threading
from pathlib import Path

from core.heartbeat import HeartbeatWriter, read_heartbeat


def test_a_beat_never_waits_for_the_write_and_the_newest_pending_beat_wins(tmp_path: Path) -> None:
    release = threading.Event()
    writing = threading.Event()
    calls: list[str] = []

    def slow() -> dict[str, object]:  # a disk that holds the write until released
        writing.set()
        release.wait(10)
        calls.append("first")
        return {"state": "listening"}

    writer = HeartbeatWriter(tmp_path)
    try:
        writer.submit(slow)
        assert writing.wait(10)
        # the writer is stuck in the first write: further beats return at once and replace each other
        writer.submit(lambda: calls.append("second") or {"state": "thinking"})
        writer.submit(lambda: calls.append("third") or {"state": "speaking"})
        assert not release.is_set() and calls == []
        release.set()
    finally:
        writer.close()
    assert calls == ["first", "third"]
    beat = read_heartbeat(tmp_path)
    assert beat.present and beat.data["state"] == "speaking"


def test_a_beat_after_close_is_written_at_once(tmp_path: Path) -> None:
    writer = HeartbeatWriter(tmp_path)
    writer.close()
    writer.submit(lambda: {"state": "stopped"})
    assert read_heartbeat(tmp_path).data["state"] == "stopped"


def test_a_failing_write_is_logged_and_the_writer_goes_on(tmp_path: Path, caplog) -> None:
    tried = threading.Event()

    def broken() -> dict[str, object]:
        tried.set()
        raise OSError("No space left on device")

    writer = HeartbeatWriter(tmp_path)
    try:
        writer.submit(broken)
        assert tried.wait(10)
        writer.submit(lambda: {"state": "idle"})
    finally:
        writer.close()
    assert read_heartbeat(tmp_path).data["state"] == "idle"
    assert "cannot write the heartbeat: No space left on device" in caplog.text
