"""Operator passwords: common and breached ones, repeats, the user's own name; user names unique in any case."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from admin_web.accounts import Accounts
from admin_web.errors import PasswordInvalidError, UserExistsError
from admin_web.passwords import common_passwords, weakness
from core.db import MIGRATIONS, open_database, schema_version, utcnow
from tests.test_admin_support import PASSWORD, fast_hashing, make_app, signed_in

WEAK = [
    ("aaaaaaaaaa", "one character repeated"),
    ("          x", "fewer than 4 different characters"),
    ("password12", "common password"),
    ("Password123!", "common password"),
    ("p@ssw0rd2024", "common password"),
    ("iloveyou12", "common password"),
    ("Summer2024!", "common password"),
    ("passwordpassword", "common password"),
    ("qwertyuiop", "common password"),
    ("1234567890", "common password"),
    ("0987654321", "common password"),
    ("abcdefghijkl", "keyboard or alphabet sequence"),
    ("abcabcabcabc", "short pattern repeated"),
    ("1212121212", "short pattern repeated"),
    ("kioskadmin1", "common password"),
]
STRONG = ["correct horse battery staple", "blue-lamp-ferry-91", "Tr0ub4dor&3x", "kettle orbit plum", "7392love8461"]


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    fast_hashing()
    return Accounts(open_database(tmp_path / "kiosk.db"))


@pytest.mark.parametrize(("password", "reason"), WEAK)
def test_weak_passwords_are_refused_with_the_reason(accounts: Accounts, password: str, reason: str) -> None:
    with pytest.raises(PasswordInvalidError) as info:
        accounts.create_user("dana", password, "editor")
    assert reason in info.value.message
    assert info.value.code == "admin-password-invalid"
    assert accounts.get_user("dana") is None


@pytest.mark.parametrize("password", STRONG)
def test_reasonable_passwords_are_accepted(accounts: Accounts, password: str) -> None:
    assert weakness(password, "dana") is None
    accounts.create_user("dana", password, "editor")
    assert accounts.verify("dana", password) is not None


@pytest.mark.parametrize("password", ["ann's long password", "my-ANN-password-1", "the annual report"])
def test_password_containing_the_user_name_is_refused(accounts: Accounts, password: str) -> None:
    with pytest.raises(PasswordInvalidError, match="contains the user name"):
        accounts.create_user("ann", password, "admin")
    accounts.create_user("ann", PASSWORD, "admin")
    with pytest.raises(PasswordInvalidError, match="contains the user name"):
        accounts.set_password("ann", password)


def test_the_list_is_offline_and_has_the_well_known_ones() -> None:
    words = common_passwords()
    assert len(words) >= 300
    assert {"123456", "password", "qwerty", "iloveyou", "letmein", "1q2w3e4r5t"} <= words


def test_weak_password_refused_by_the_web_forms_and_the_cli(tmp_path: Path) -> None:
    app = make_app(tmp_path / "home")
    admin = signed_in(app, "admin")
    response = admin.post("/users", {"username": "dana", "role": "editor", "password": "password12"})
    assert response.status_code == 400 and "common password" in response.text
    response = admin.post("/users/editor/password", {"password": "aaaaaaaaaa"})
    assert response.status_code == 400 and "one character repeated" in response.text

    from kiosk.admin_cli import admin as admin_cli
    from kiosk.context import AppContext

    obj = AppContext(home=app.state.admin.home)
    result = CliRunner().invoke(admin_cli, ["create-user", "dana", "--role", "editor"], input="password12\n", obj=obj)
    assert result.exit_code != 0 and getattr(result.exception, "code", "") == "admin-password-invalid"


# -- user names, case-insensitively unique ---------------------------------------------------
def test_user_names_differing_only_in_case_cannot_coexist(accounts: Accounts) -> None:
    accounts.create_user("ann", PASSWORD, "admin")
    for other in ("ANN", "Ann", "aNN"):
        with pytest.raises(UserExistsError):
            accounts.create_user(other, PASSWORD, "viewer")
    with pytest.raises(sqlite3.IntegrityError):  # the database refuses it too, whoever writes
        accounts.db.execute(
            "INSERT INTO admin_users (name, password_hash, role, created_at, updated_at) VALUES ('ANN', 'x', 'viewer', '', '')"
        )
    assert [u.name for u in accounts.list_users()] == ["ann"]
    assert accounts.verify("ANN", PASSWORD).name == "ann"  # signing in as ANN is signing in as ann


def test_web_form_refuses_a_name_differing_only_in_case(tmp_path: Path) -> None:
    app = make_app(tmp_path / "home")
    admin = signed_in(app, "admin")
    response = admin.post("/users", {"username": "EDITOR", "role": "viewer", "password": PASSWORD})
    assert response.status_code == 400 and "already exists" in response.text
    assert admin.post("/users/ADMIN/delete").status_code == 400  # still yourself


def _version_3_database(path: Path) -> None:
    db = sqlite_utils.Database(sqlite3.connect(str(path)))
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for version, name, apply in MIGRATIONS[:3]:
        apply(db)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utcnow()])
    for i, name in enumerate(["ann", "bob", "ANN", "Ann", "ann-2"]):
        db.execute(
            "INSERT INTO admin_users (name, password_hash, role, created_at, updated_at) VALUES (?, 'x', 'admin', ?, ?)",
            [name, f"2024-01-0{i + 1}", f"2024-01-0{i + 1}"],
        )
    db.execute(
        "INSERT INTO admin_sessions (token_hash, username, csrf_token, created_at, last_seen_at) VALUES ('t', 'ANN', 'c', '', '')"
    )
    db.conn.commit()
    db.conn.close()


def test_migration_renames_case_duplicates_and_adds_the_constraint(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _version_3_database(path)
    db = open_database(path)
    assert schema_version(db) == MIGRATIONS[-1][0] >= 4
    names = sorted(r[0] for r in db.execute("SELECT name FROM admin_users"))
    assert names == ["ANN-3", "Ann-4", "ann", "ann-2", "bob"]  # the oldest keeps the name
    assert len({n.lower() for n in names}) == len(names)
    assert db.execute("SELECT COUNT(*) FROM admin_sessions").fetchone()[0] == 0
    renames = db.execute("SELECT target, detail FROM audit_log WHERE action = 'user-rename'").fetchall()
    assert {r[0] for r in renames} == {"ANN", "Ann"}
