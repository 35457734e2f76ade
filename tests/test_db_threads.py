"""Threads sharing one SQLite connection take turns at transactions (the answer workers log turns at once)."""

from __future__ import annotations

import threading
from pathlib import Path

from core.db import open_database, transaction
from dialog.turns import TurnLog, TurnRecord


def test_turns_logged_from_many_threads_at_once_are_all_kept(tmp_path: Path) -> None:
    db = open_database(tmp_path / "kiosk.db")
    log = TurnLog(db)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        start.wait(20)
        try:
            for i in range(50):
                log.record(TurnRecord(kb="bank", text=f"question {n}-{i}", answer="yes", mode="faq"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert db.execute("SELECT count(*), count(DISTINCT text) FROM turns").fetchone() == (200, 200)


def test_a_rolled_back_transaction_takes_no_other_threads_write_with_it(tmp_path: Path) -> None:
    db = open_database(tmp_path / "kiosk.db")
    log = TurnLog(db)
    inside, done = threading.Event(), threading.Event()

    def other() -> None:
        inside.wait(20)
        log.record(TurnRecord(kb="bank", text="kept", answer="", mode="faq"))  # waits for the transaction below
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        with transaction(db):
            db.execute("INSERT INTO turns (ts, kb, text, answer, mode) VALUES ('t', 'bank', 'dropped', '', 'faq')")
            inside.set()
            assert not done.wait(0.3)  # the other thread's write does not slip into this transaction
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    thread.join(20)
    assert [r[0] for r in db.execute("SELECT text FROM turns")] == ["kept"]
