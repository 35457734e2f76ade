"""Sign-in throttling per account with capped exponential back-off, and a short per-address limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from admin_web.accounts import (
    ACCOUNT_FREE_FAILURES,
    ACCOUNT_MAX_DELAY_S,
    IP_FREE_FAILURES,
    IP_MAX_DELAY_S,
    Accounts,
    iso,
)
from tests.test_admin_support import PASSWORD, fast_hashing, login, make_app

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path):
    return make_app(tmp_path / "home")


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    from core.db import open_database

    fast_hashing()
    acc = Accounts(open_database(tmp_path / "kiosk.db"))
    acc.create_user("ann", PASSWORD, "admin")
    return acc


def _age_failures(app, seconds: float) -> None:
    """Move every recorded failure ``seconds`` further into the past (instead of sleeping in a test)."""
    db = app.state.admin.db
    for rid, ts in db.execute("SELECT id, ts FROM login_failures").fetchall():
        moved = datetime.fromisoformat(ts.replace("Z", "+00:00")) - timedelta(seconds=seconds)
        db.execute("UPDATE login_failures SET ts = ? WHERE id = ?", [moved.isoformat(), rid])
    db.conn.commit()


def _failures_just_now(app) -> None:
    """Date every recorded failure now: the back-off then runs its full length from here, however slow the test."""
    db = app.state.admin.db
    db.execute("UPDATE login_failures SET ts = ?", [iso(datetime.now(UTC))])
    db.conn.commit()


def test_guesses_from_six_addresses_count_against_one_account(app) -> None:
    """The old limit was per user and address: 5 guesses from each of 6 addresses, then the right password worked."""
    statuses = []
    for n in range(6):
        client = TestClient(app, client=(f"10.0.0.{n + 1}", 40000))
        statuses += [login(client, "editor", f"guess {n}-{k}").status_code for k in range(5)]
    assert statuses.count(401) == ACCOUNT_FREE_FAILURES  # only the first 5 guesses were even checked
    assert statuses.count(429) == 30 - ACCOUNT_FREE_FAILURES
    # the right password from yet another address is refused too while the back-off runs
    _failures_just_now(app)
    late = login(TestClient(app, client=("10.0.0.99", 40000)), "editor")
    assert late.status_code == 429 and int(late.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in late.text
    checked = app.state.admin.db.execute("SELECT COUNT(*) FROM login_failures WHERE username = 'editor'")
    assert checked.fetchone()[0] == ACCOUNT_FREE_FAILURES


def test_back_off_grows_then_is_capped_at_a_few_minutes(accounts: Accounts) -> None:
    now, waits = T0, []
    for _ in range(ACCOUNT_FREE_FAILURES + 8):
        wait = accounts.throttled("ann", "198.51.100.7", now=now)
        waits.append(wait)
        now += timedelta(seconds=wait)  # the attacker retries as soon as allowed
        accounts.record_failure("ann", f"203.0.113.{len(waits)}", now=now)
    delays = waits[ACCOUNT_FREE_FAILURES:]
    assert waits[:ACCOUNT_FREE_FAILURES] == [0] * ACCOUNT_FREE_FAILURES
    assert delays == sorted(delays) and delays[0] > 0 and delays[1] == 2 * delays[0]  # exponential
    assert max(delays) == ACCOUNT_MAX_DELAY_S <= 300  # never more than a few minutes
    # the real operator, from any address, waits at most the cap after the attacker's latest failure
    assert accounts.throttled("ann", "192.0.2.1", now=now + timedelta(seconds=ACCOUNT_MAX_DELAY_S)) == 0
    assert accounts.verify("ann", PASSWORD) is not None


def test_operator_signs_in_after_the_back_off_and_that_resets_it(app) -> None:
    attacker = TestClient(app, client=("203.0.113.5", 40000))
    for k in range(ACCOUNT_FREE_FAILURES + 3):
        login(attacker, "admin", f"guess {k}")
        _age_failures(app, ACCOUNT_MAX_DELAY_S)  # the attacker keeps going, slowly
    operator = TestClient(app, client=("192.0.2.10", 40000))
    assert login(operator, "admin").status_code == 303
    assert app.state.admin.accounts.throttled("admin", "203.0.113.5") == 0  # success cleared the account


def test_unknown_names_are_throttled_like_real_ones(app) -> None:
    """Otherwise a 429 for one name and a 401 for another would tell which accounts exist."""
    client = TestClient(app, client=("203.0.113.9", 40000))
    real = [login(client, "viewer", f"guess {k}").status_code for k in range(ACCOUNT_FREE_FAILURES + 1)]
    fake = [login(client, "nobody-here", f"guess {k}").status_code for k in range(ACCOUNT_FREE_FAILURES + 1)]
    assert real == fake == [401] * ACCOUNT_FREE_FAILURES + [429]


def test_many_names_from_one_address_only_briefly_slow_that_address(app) -> None:
    """30 failures under any names used to lock every user out of that address for 15 minutes."""
    office = ("198.51.100.20", 40000)
    client = TestClient(app, client=office)
    for k in range(IP_FREE_FAILURES):
        assert login(client, f"name{k}", "wrong password!").status_code == 401
    _failures_just_now(app)  # the address's first back-off is a second: a busy machine could outlast it
    blocked = login(TestClient(app, client=office), "editor")
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= IP_MAX_DELAY_S  # seconds, not a quarter of an hour
    assert login(TestClient(app, client=("198.51.100.21", 40000)), "editor").status_code == 303  # others unaffected
    _age_failures(app, IP_MAX_DELAY_S)
    assert login(TestClient(app, client=office), "editor").status_code == 303
