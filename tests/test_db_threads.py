"""One kiosk database connection shared by threads (the answer worker, the heartbeat writer, the turn logger)."""

from __future__ import annotations

import threading
from pathlib import Path

from core.db import open_database, transaction


def test_threads_sharing_the_connection_neither_fail_nor_lose_writes(tmp_path: Path) -> None:
    # sqlite-utils wraps each query in a savepoint of one fixed name: two threads querying at once released each
    # other's ("no such savepoint: sqlite_utils_query", seen once in a 60-minute soak as a failed answer), and a
    # statement from another thread in the middle of a transaction joined it
    db = open_database(tmp_path / "kiosk.db")
    db.execute("CREATE TABLE t (n INTEGER)")
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def reader() -> None:
        start.wait()
        try:
            for _ in range(1500):
                list(db.query("SELECT COUNT(*) AS c FROM t"))
                db.execute("SELECT MAX(n) FROM t").fetchone()
        except BaseException as exc:
            errors.append(exc)

    def writer(base: int) -> None:
        start.wait()
        try:
            for i in range(300):
                with transaction(db):
                    db.execute("INSERT INTO t (n) VALUES (?)", [base + i])
                    db.execute("INSERT INTO t (n) VALUES (?)", [-(base + i)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads += [threading.Thread(target=writer, args=(b,)) for b in (1, 100_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert db.execute("SELECT COUNT(*), SUM(n) FROM t").fetchone() == (1200, 0)
    db.conn.close()
