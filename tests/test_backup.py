"""Backups of kiosk.db: ``kiosk backup`` / ``kiosk restore`` as an operator runs them, and the automatic ones."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.backup import (
    KEEP,
    backup_if_due,
    backup_quietly,
    backups_dir,
    create_backup,
    list_backups,
    newest_good_backup,
    start_daily_backups,
)
from core.db import MIGRATIONS, open_database
from tests.fakes import wait_until


def faq_count(kiosk_cli, kb: str = "bank") -> int:
    result = kiosk_cli("kb", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {info["name"]: info for info in result.json()}[kb]["faq_count"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damage(path: Path) -> None:
    """Overwrite the middle fifth of a real database file (as a failing disk or a cut power supply might)."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size * 2 // 5)
        handle.write(b"\xff" * (size // 5))


def test_backup_now_and_list(kiosk_cli, kiosk_home: Path) -> None:
    faq_count(kiosk_cli)  # creates kiosk.db with the bank demo
    made = kiosk_cli("backup")
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.strip())
    assert path.parent == kiosk_home / "backups" and path.is_file()
    assert re.fullmatch(r"kiosk-\d{8}T\d{6}\.\d{3}Z-manual\.db", path.name)
    as_json = kiosk_cli("backup", "--json")
    assert as_json.returncode == 0, as_json.stderr
    second = as_json.json()
    assert second["reason"] == "manual" and second["bytes"] > 0 and Path(second["path"]).is_file()
    listed = kiosk_cli("backup", "--list", "--json").json()
    assert [b["path"] for b in listed] == [second["path"], str(path)]  # newest first
    text = kiosk_cli("backup", "--list")
    assert text.returncode == 0 and str(path) in text.stdout and "manual" in text.stdout
    with sqlite3.connect(path) as conn:  # a self-contained SQLite file with the data
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT COUNT(*) FROM faqs").fetchone()[0] > 0


def test_backup_without_a_database_is_a_coded_error(kiosk_cli) -> None:
    result = kiosk_cli("backup")
    assert result.returncode == 2
    assert "kiosk: error [backup-failed]: there is no database to back up" in result.stderr


@pytest.mark.models
def test_replace_import_backup_corrupt_database_and_restore(kiosk_cli, kiosk_home: Path, tmp_path: Path) -> None:
    before = faq_count(kiosk_cli)
    assert before > 10
    one = tmp_path / "one.csv"
    one.write_text("id,question,answer,alternates,category,language\nx,Where is X?,Here.,find x|x place,c,en\n")
    imported = kiosk_cli("kb", "import", str(one), "--kb", "bank", "--replace")
    assert imported.returncode == 0, imported.stderr
    pre_import = [b for b in list_backups(kiosk_home / "backups") if b.reason == "pre-import"]
    assert len(pre_import) == 1 and pre_import[0].path.name.endswith("-pre-import.db")
    assert str(pre_import[0].path) in imported.stderr
    assert faq_count(kiosk_cli) == 1

    damage(kiosk_home / "kiosk.db")
    broken = kiosk_cli("kb", "list")
    assert broken.returncode == 2
    assert "internal error" not in broken.stderr
    assert "kiosk: error [db-corrupt]:" in broken.stderr
    command = f"kiosk --home {kiosk_home} restore {pre_import[0].path}"
    assert f"restore it with `{command}`" in broken.stderr
    assert pre_import[0].path.name in broken.stderr

    restored = kiosk_cli(*command.split()[1:])
    assert restored.returncode == 0, restored.stderr
    assert f"({before} FAQs)" in restored.stdout
    assert "restart the kiosk and the admin app" in restored.stderr
    assert faq_count(kiosk_cli) == before  # the data is back
    damaged = [b for b in list_backups(kiosk_home / "backups") if b.reason == "damaged"]
    assert len(damaged) == 1 and str(damaged[0].path) in restored.stdout  # the broken file is kept aside


def test_restore_refuses_what_is_not_a_good_kiosk_database(kiosk_cli, kiosk_home: Path, tmp_path: Path) -> None:
    faq_count(kiosk_cli)
    database = kiosk_home / "kiosk.db"
    original = digest(database)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 64)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    conn.close()
    newer = Path(kiosk_cli("backup").stdout.strip())
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'future', '')", [MIGRATIONS[-1][0] + 1])
    conn.close()
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(database.read_bytes())
    damage(damaged)

    cases = [
        (garbage, "restore-refused", "is not a readable SQLite database"),
        (other, "restore-refused", "is not a kiosk database"),
        (newer, "db-too-new", "newer than this software"),
        (damaged, "restore-refused", ""),
        (tmp_path / "missing.db", "restore-invalid", "is not a file"),
    ]
    for path, code, words in cases:
        result = kiosk_cli("restore", str(path))
        assert result.returncode == 2, (path, result.stdout)
        assert f"kiosk: error [{code}]: " in result.stderr and words in result.stderr, result.stderr
        assert digest(database) == original  # the current database is untouched
    assert [b.reason for b in list_backups(kiosk_home / "backups")] == ["manual"]  # nothing replaced, no pre-restore
    assert sorted(p.name for p in kiosk_home.iterdir() if p.name.startswith(".")) == []  # no temporary copy left


def test_restore_is_refused_while_the_database_is_open(kiosk_cli, kiosk_home: Path) -> None:
    faq_count(kiosk_cli)
    saved = Path(kiosk_cli("backup").stdout.strip())
    running = open_database(kiosk_home / "kiosk.db")  # like a running kiosk or admin app
    try:
        refused = kiosk_cli("restore", str(saved))
        assert refused.returncode == 2
        assert "kiosk: error [db-in-use]:" in refused.stderr and "stop the kiosk and the admin app" in refused.stderr
    finally:
        running.conn.close()
    done = kiosk_cli("restore", str(saved))
    assert done.returncode == 0, done.stderr
    assert [b.reason for b in list_backups(kiosk_home / "backups")] == ["pre-restore", "manual"]


def _database(home: Path) -> Path:
    open_database(home / "kiosk.db").conn.close()
    return home / "kiosk.db"


def test_backups_are_pruned_per_reason(tmp_path: Path) -> None:
    database = _database(tmp_path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for day in range(10):
        create_backup(database, "daily", now=start + timedelta(days=day))
    for minute in range(8):
        create_backup(database, "pre-import", now=start + timedelta(minutes=minute))
    backups = list_backups(backups_dir(database))
    daily = [b for b in backups if b.reason == "daily"]
    assert len(daily) == KEEP["daily"] == 7
    assert daily[0].created == start + timedelta(days=9) and daily[-1].created == start + timedelta(days=3)
    assert len([b for b in backups if b.reason == "pre-import"]) == KEEP["pre-import"] == 5
    create_backup(database, "manual", keep={"daily": 2, "manual": 1})  # the numbers are configurable
    assert [b.reason for b in list_backups(backups_dir(database))].count("daily") == 2
    same_second = [create_backup(database, "manual", now=start, keep={"manual": 3}) for _ in range(2)]
    assert same_second[0].path != same_second[1].path  # never overwrites


def test_backups_within_one_second_list_in_the_order_they_were_made(tmp_path: Path) -> None:
    # A manual backup and the pre-restore copy a restore makes a moment later: the newest must list
    # first whatever order the folder returns them in (CI listed them the other way round).
    database = _database(tmp_path)
    second = datetime(2026, 1, 1, 9, 30, 0, tzinfo=UTC)
    create_backup(database, "pre-restore", now=second + timedelta(milliseconds=870))
    create_backup(database, "manual", now=second + timedelta(milliseconds=120))
    (backups_dir(database) / "kiosk-20260101T092959Z-daily.db").write_bytes(b"")  # a name from before
    assert [b.reason for b in list_backups(backups_dir(database))] == ["pre-restore", "manual", "daily"]


def test_daily_backup_only_when_the_newest_is_a_day_old(tmp_path: Path) -> None:
    database = _database(tmp_path)
    now = datetime(2001, 3, 1, 9, 30, tzinfo=UTC)
    first = backup_if_due(database, now=now)
    assert first is not None and first.path.name == "kiosk-20010301T093000.000Z-daily.db"
    assert backup_if_due(database, now=now + timedelta(hours=23)) is None
    later = backup_if_due(database, now=now + timedelta(hours=25))
    assert later is not None and later.reason == "daily"
    assert backup_if_due(tmp_path / "nothing-here.db", now=now) is None
    stopped = threading.Event()
    stopped.set()
    start_daily_backups(database, stopped).join()  # what `kiosk run` starts: one check, then hourly
    assert len(list_backups(backups_dir(database))) == 3


def test_a_failing_backup_never_stops_the_kiosk(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = _database(tmp_path)
    (tmp_path / "backups").write_text("a file where the backup folder should be")
    with caplog.at_level(logging.WARNING, logger="core.backup"):
        assert backup_quietly(database, "pre-import") is None
        assert backup_if_due(database) is None
    assert "backup failed" in caplog.text
    open_database(database).conn.close()  # still opens


def test_a_migration_is_preceded_by_a_backup(tmp_path: Path) -> None:
    import sqlite_utils

    database = tmp_path / "kiosk.db"
    old = sqlite_utils.Database(database)
    old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for version, name, apply in MIGRATIONS[:-1]:  # a database written by the previous release
        apply(old)
        old.execute("INSERT INTO schema_migrations VALUES (?, ?, '')", [version, name])
    old.conn.commit()
    old.conn.close()
    open_database(database).conn.close()
    saved = list_backups(tmp_path / "backups")
    assert [b.reason for b in saved] == ["pre-migration"]
    with sqlite3.connect(saved[0].path) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == MIGRATIONS[-2][0]
    conn.close()
    open_database(database).conn.close()  # already current: no further backup
    assert len(list_backups(tmp_path / "backups")) == 1
    assert newest_good_backup(tmp_path / "backups") == saved[0]


def test_admin_app_backs_up_at_start_and_before_a_replace_import(tmp_path: Path) -> None:
    import io

    from fastapi.testclient import TestClient

    from admin_web.app import create_app
    from tests.test_admin_support import make_app, signed_in

    app = make_app(tmp_path / "home")
    admin = app.state.admin
    admin.backend.kb_name("bank")
    editor = signed_in(app, "editor")
    csv_file = b"id,question,answer,alternates,category,language\nx,Where is X?,Here.,find x,c,en\n"
    preview = editor.client.post(
        "/import",
        data={"csrf_token": editor.csrf, "replace_existing": "1"},
        files={"file": ("one.csv", io.BytesIO(csv_file), "text/csv")},
    )
    token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)
    assert editor.post("/import/commit", {"token": token}).status_code == 303
    assert [b.reason for b in list_backups(tmp_path / "home" / "backups")] == ["pre-import"]

    with TestClient(create_app(admin.settings, admin.home, backend=admin.backend)):
        pass  # start-up runs the hourly loop once; leaving waits for it

    def made() -> list[str]:  # the start-up pass may still be writing it when the app has left
        return sorted(b.reason for b in list_backups(tmp_path / "home" / "backups"))

    assert wait_until(lambda: made() == ["daily", "pre-import"], 30), made()
