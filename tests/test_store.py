"""The FAQ store on a real SQLite database (in memory and on disk)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.db import MIGRATIONS, DatabaseError, open_database, schema_version
from core.text import chunk_text
from knowledge.entries import Document, FaqEntry
from knowledge.store import EntryInvalidError, FaqStore, KnowledgeBaseMissingError


@pytest.fixture
def store() -> FaqStore:
    s = FaqStore.open(None)
    s.create_kb("demo", title="Demo Bank")
    return s


def entry(faq_id: str = "hours", **kw) -> FaqEntry:
    base = {
        "question": "When are you open?",
        "answer": "Monday to Friday, 9 to 5.",
        "alternates": ("opening hours", "what time do you open"),
        "category": "Hours",
    }
    base.update(kw)
    return FaqEntry(id=faq_id, **base)


def test_upsert_get_and_normalize(store: FaqStore) -> None:
    stored = store.upsert("demo", entry(alternates=("  opening   hours ", "", "Opening hours", "when do you close")))
    assert stored.revision == 1
    got = store.get("demo", "hours")
    assert got is not None
    assert got.alternates == ("opening hours", "when do you close")
    assert got.category == "hours"
    assert got.phrasings[0] == "When are you open?"


def test_every_change_is_a_revision_and_bumps_the_version(store: FaqStore) -> None:
    v0 = store.kb_version("demo")
    store.upsert("demo", entry())
    store.upsert("demo", entry(answer="Monday to Saturday, 9 to 5."))
    assert store.kb_version("demo") == v0 + 2
    history = store.revisions("demo", "hours")
    assert [h["revision"] for h in history] == [1, 2]
    assert [h["action"] for h in history] == ["create", "update"]
    assert history[0]["data"]["answer"] == "Monday to Friday, 9 to 5."


def test_soft_delete_and_restore(store: FaqStore) -> None:
    store.upsert("demo", entry())
    store.delete("demo", "hours", changed_by="ann")
    assert store.get("demo", "hours") is None
    assert store.get("demo", "hours", include_deleted=True).deleted_at
    assert store.phrasings("demo") == []
    assert store.list("demo", deleted_only=True)[0].id == "hours"
    restored = store.restore("demo", "hours")
    assert restored.deleted_at is None and restored.revision == 3
    assert store.get("demo", "hours").answer == "Monday to Friday, 9 to 5."


def test_restore_an_earlier_revision(store: FaqStore) -> None:
    store.upsert("demo", entry())
    store.upsert("demo", entry(answer="Changed by mistake."))
    store.restore("demo", "hours", revision=1)
    assert store.get("demo", "hours").answer == "Monday to Friday, 9 to 5."


def test_disabled_entries_do_not_match(store: FaqStore) -> None:
    store.upsert("demo", entry())
    store.set_enabled("demo", "hours", False)
    assert store.lexical_search("demo", "opening hours") == []
    assert store.count("demo", enabled=False) == 1


def test_lexical_search_over_questions_and_alternates(store: FaqStore) -> None:
    store.upsert("demo", entry())
    store.upsert("demo", entry("card", question="I lost my card", answer="Call us.", alternates=("card stolen",)))
    hits = store.lexical_search("demo", "my card was stolen!")
    assert hits[0][0] == "card"
    assert store.lexical_search("demo", '"; DROP TABLE faqs; --') == []
    assert store.list("demo", search="stolen")[0].id == "card"


def test_invalid_entries_are_refused_with_reasons(store: FaqStore) -> None:
    with pytest.raises(EntryInvalidError, match="question is empty"):
        store.upsert("demo", entry(question="  "))
    with pytest.raises(EntryInvalidError, match="id 'bad id!'"):
        store.upsert("demo", entry("bad id!"))
    with pytest.raises(KnowledgeBaseMissingError):
        store.upsert("nope", entry())


def test_replace_all_is_all_or_nothing(store: FaqStore) -> None:
    store.replace_all("demo", [entry(), entry("parking", question="Where can I park?", answer="Behind the bank.")])
    version = store.kb_version("demo")
    with pytest.raises(EntryInvalidError):
        store.replace_all(
            "demo", [entry("new", question="New?", answer="Yes."), entry("broken", answer="")], replace_existing=True
        )
    assert {e.id for e in store.list("demo")} == {"hours", "parking"}
    assert store.kb_version("demo") == version


def test_replace_soft_deletes_missing_entries(store: FaqStore) -> None:
    store.replace_all("demo", [entry(), entry("parking", question="Where can I park?", answer="Behind the bank.")])
    store.replace_all("demo", [replace(entry(), answer="New hours.")], replace_existing=True)
    assert [e.id for e in store.list("demo")] == ["hours"]
    assert store.get("demo", "parking", include_deleted=True).deleted_at is not None


def test_documents_are_chunked(store: FaqStore) -> None:
    body = "\n\n".join(f"Paragraph {i}. " + "The gallery shows maps of the old harbour. " * 8 for i in range(5))
    doc = store.add_document("demo", Document("guide", "House guide", body))
    assert len(doc.chunks) >= 3
    assert all(len(c) <= 800 for c in doc.chunks)
    assert store.chunks("demo")[0][0] == "guide"


def test_chunk_text_keeps_short_text_whole() -> None:
    assert chunk_text("One. Two.") == ["One. Two."]


def test_database_file_is_migrated_once_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.db"
    db = open_database(path)
    assert schema_version(db) == MIGRATIONS[-1][0]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    db.conn.close()
    again = open_database(path)
    assert again.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.db"
    db = open_database(path)
    db.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'now')")
    db.conn.commit()
    with pytest.raises(DatabaseError, match="newer than this program"):
        open_database(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="cannot open database"):
        open_database(path)
