"""The FAQ store: knowledge bases, entries, alternates, revisions and documents in SQLite.

SQLite is the source of truth; the Chroma index (:mod:`knowledge.index`) is
derived from it. Every write bumps the knowledge base's ``version`` so a
running kiosk notices admin edits and re-syncs its index.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import sqlite_utils

from core.db import open_database, transaction, utcnow
from core.errors import KnowledgeError
from core.text import chunk_text, fts_query
from knowledge.entries import Document, FaqEntry, KnowledgeBaseInfo

_LOGGER = logging.getLogger(__name__)

KB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class EntryInvalidError(KnowledgeError):
    code = "kb-entry-invalid"


class KnowledgeBaseMissingError(KnowledgeError):
    code = "kb-not-found"


def check_kb_name(name: str) -> str:
    if not KB_NAME.match(name or ""):
        raise KnowledgeError(
            f"knowledge base name {name!r} is not valid",
            code="kb-name-invalid",
            hint="use 1-40 lower-case letters, digits, '-' or '_'",
        )
    return name


def _row_to_entry(row: dict, alternates: Sequence[str]) -> FaqEntry:
    return FaqEntry(
        id=row["id"],
        question=row["question"],
        answer=row["answer"],
        spoken_answer=row["spoken_answer"],
        alternates=tuple(alternates),
        category=row["category"],
        language=row["language"],
        enabled=bool(row["enabled"]),
        revision=row["revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


class FaqStore:
    """Read and write knowledge bases in one kiosk database."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path) -> FaqStore:
        return cls(open_database(path))

    # -- knowledge bases ----------------------------------------------------
    def create_kb(self, name: str, *, title: str = "", language: str = "en") -> None:
        check_kb_name(name)
        now = utcnow()
        with transaction(self.db):
            self.db.execute(
                "INSERT OR IGNORE INTO knowledge_bases (name, title, language, version, created_at, updated_at)"
                " VALUES (?, ?, ?, 0, ?, ?)",
                [name, title or name, language, now, now],
            )
            if title:
                self.db.execute("UPDATE knowledge_bases SET title = ? WHERE name = ?", [title, name])

    def kb_exists(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM knowledge_bases WHERE name = ?", [name]).fetchone() is not None

    def require_kb(self, name: str) -> None:
        if not self.kb_exists(name):
            known = ", ".join(k.name for k in self.list_kbs()) or "none yet"
            raise KnowledgeBaseMissingError(
                f"no knowledge base named {name!r}", hint=f"known: {known}; `kiosk kb import FILE --kb {name}`"
            )

    def kb_version(self, name: str) -> int:
        row = self.db.execute("SELECT version FROM knowledge_bases WHERE name = ?", [name]).fetchone()
        return -1 if row is None else row[0]

    def kb_title(self, name: str) -> str:
        row = self.db.execute("SELECT title FROM knowledge_bases WHERE name = ?", [name]).fetchone()
        return row[0] if row else name

    def list_kbs(self) -> list[KnowledgeBaseInfo]:
        rows = self.db.execute(
            """SELECT k.name, k.title, k.language, k.version,
                (SELECT COUNT(*) FROM faqs f WHERE f.kb = k.name AND f.deleted_at IS NULL),
                (SELECT COUNT(*) FROM phrasings p JOIN faqs f ON f.kb = p.kb AND f.id = p.faq_id
                   WHERE p.kb = k.name AND p.kind = 'alternate' AND f.deleted_at IS NULL),
                (SELECT COUNT(*) FROM documents d WHERE d.kb = k.name)
               FROM knowledge_bases k ORDER BY k.name"""
        ).fetchall()
        return [KnowledgeBaseInfo(*row) for row in rows]

    def delete_kb(self, name: str) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM knowledge_bases WHERE name = ?", [name])

    def _bump(self, kb: str) -> None:
        self.db.execute(
            "UPDATE knowledge_bases SET version = version + 1, updated_at = ? WHERE name = ?", [utcnow(), kb]
        )

    # -- entries ------------------------------------------------------------
    def _alternates(self, kb: str, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {i: [] for i in ids}
        if not ids:
            return out
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for faq_id, text in self.db.execute(
                f"SELECT faq_id, text FROM phrasings WHERE kb = ? AND kind = 'alternate' AND faq_id IN ({marks})"
                " ORDER BY faq_id, position",
                [kb, *part],
            ):
                out[faq_id].append(text)
        return out

    def get(self, kb: str, faq_id: str, *, include_deleted: bool = False) -> FaqEntry | None:
        rows = list(self.db.query("SELECT * FROM faqs WHERE kb = ? AND id = ?", [kb, faq_id]))
        if not rows or (rows[0]["deleted_at"] and not include_deleted):
            return None
        return _row_to_entry(rows[0], self._alternates(kb, [faq_id])[faq_id])

    def list(
        self,
        kb: str,
        *,
        search: str | None = None,
        category: str | None = None,
        language: str | None = None,
        enabled: bool | None = None,
        include_deleted: bool = False,
        deleted_only: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FaqEntry]:
        where, params = self._filters(kb, search, category, language, enabled, include_deleted, deleted_only)
        sql = f"SELECT * FROM faqs f WHERE {where} ORDER BY f.category, f.id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        rows = list(self.db.query(sql, params))
        alternates = self._alternates(kb, [r["id"] for r in rows])
        return [_row_to_entry(r, alternates[r["id"]]) for r in rows]

    def count(self, kb: str, **filters) -> int:
        where, params = self._filters(
            kb,
            filters.get("search"),
            filters.get("category"),
            filters.get("language"),
            filters.get("enabled"),
            filters.get("include_deleted", False),
            filters.get("deleted_only", False),
        )
        return self.db.execute(f"SELECT COUNT(*) FROM faqs f WHERE {where}", params).fetchone()[0]

    def _filters(
        self,
        kb: str,
        search: str | None,
        category: str | None,
        language: str | None,
        enabled: bool | None,
        include_deleted: bool,
        deleted_only: bool,
    ) -> tuple[str, list]:
        clauses, params = ["f.kb = ?"], [kb]
        if deleted_only:
            clauses.append("f.deleted_at IS NOT NULL")
        elif not include_deleted:
            clauses.append("f.deleted_at IS NULL")
        if category:
            clauses.append("f.category = ?")
            params.append(category)
        if language:
            clauses.append("f.language = ?")
            params.append(language)
        if enabled is not None:
            clauses.append("f.enabled = ?")
            params.append(int(enabled))
        if search:
            query = fts_query(search)
            like = f"%{search.strip()}%"
            fts = ""
            if query:
                fts = (
                    " OR f.id IN (SELECT p.faq_id FROM phrasings p JOIN phrasings_fts ON phrasings_fts.rowid = p.pid"
                    " WHERE phrasings_fts MATCH ? AND p.kb = ?)"
                )
            clauses.append(f"(f.id LIKE ? OR f.question LIKE ? OR f.answer LIKE ?{fts})")
            params += [like, like, like] + ([query, kb] if query else [])
        return " AND ".join(clauses), params

    def kb_language(self, name: str) -> str:
        """The knowledge base's main language (new entries default to it)."""
        row = self.db.execute("SELECT language FROM knowledge_bases WHERE name = ?", [name]).fetchone()
        return row[0] if row and row[0] else "en"

    def entry_languages(self, kb: str) -> dict[str, str]:
        """``{faq_id: language}`` of the enabled entries."""
        return dict(
            self.db.execute(
                "SELECT id, language FROM faqs WHERE kb = ? AND deleted_at IS NULL AND enabled = 1", [kb]
            ).fetchall()
        )

    def categories(self, kb: str) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT category FROM faqs WHERE kb = ? AND deleted_at IS NULL ORDER BY category", [kb]
            )
        ]

    def _write(self, kb: str, entry: FaqEntry, *, action: str, changed_by: str, now: str) -> FaqEntry:
        existing = self.db.execute(
            "SELECT revision, created_at FROM faqs WHERE kb = ? AND id = ?", [kb, entry.id]
        ).fetchone()
        revision = (existing[0] + 1) if existing else 1
        created = existing[1] if existing else now
        self.db.execute(
            """INSERT INTO faqs (kb, id, question, answer, spoken_answer, category, language, enabled,
                   revision, created_at, updated_at, deleted_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
               ON CONFLICT (kb, id) DO UPDATE SET question = excluded.question, answer = excluded.answer,
                   spoken_answer = excluded.spoken_answer, category = excluded.category,
                   language = excluded.language, enabled = excluded.enabled, revision = excluded.revision,
                   updated_at = excluded.updated_at, deleted_at = NULL""",
            [
                kb,
                entry.id,
                entry.question,
                entry.answer,
                entry.spoken_answer,
                entry.category,
                entry.language,
                int(entry.enabled),
                revision,
                created,
                now,
            ],
        )
        self.db.execute("DELETE FROM phrasings WHERE kb = ? AND faq_id = ?", [kb, entry.id])
        self.db.conn.executemany(
            "INSERT INTO phrasings (kb, faq_id, kind, position, text) VALUES (?, ?, ?, ?, ?)",
            [(kb, entry.id, "question" if i == 0 else "alternate", i, text) for i, text in enumerate(entry.phrasings)],
        )
        stored = replace(entry, revision=revision, created_at=created, updated_at=now, deleted_at=None)
        self._revision(kb, stored, action, changed_by, now)
        return stored

    def _revision(self, kb: str, entry: FaqEntry, action: str, changed_by: str, now: str) -> None:
        self.db.execute(
            "INSERT INTO faq_revisions (kb, faq_id, revision, action, data, changed_at, changed_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [kb, entry.id, entry.revision, action, json.dumps(entry.content()), now, changed_by],
        )

    @staticmethod
    def validate(entry: FaqEntry) -> FaqEntry:
        entry = entry.normalized()
        problems = entry.problems()
        if problems:
            raise EntryInvalidError(f"entry {entry.id or '(no id)'}: " + "; ".join(problems))
        return entry

    def upsert(self, kb: str, entry: FaqEntry, *, changed_by: str = "") -> FaqEntry:
        """Create or update one entry (a new revision each time)."""
        self.require_kb(kb)
        entry = self.validate(entry)
        with transaction(self.db):
            existed = self.db.execute("SELECT 1 FROM faqs WHERE kb = ? AND id = ?", [kb, entry.id]).fetchone()
            stored = self._write(
                kb, entry, action="update" if existed else "create", changed_by=changed_by, now=utcnow()
            )
            self._bump(kb)
        return stored

    def replace_all(
        self,
        kb: str,
        entries: Iterable[FaqEntry],
        *,
        replace_existing: bool = False,
        changed_by: str = "",
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write many entries in one transaction: all of them, or none (the old KB stays intact).

        With ``replace_existing`` entries not in ``entries`` are soft-deleted, so the
        previous knowledge base can still be restored entry by entry.
        """
        self.require_kb(kb)
        entries = [self.validate(e) for e in entries]
        now = utcnow()
        with transaction(self.db):
            if replace_existing:
                keep = {e.id for e in entries}
                for (faq_id,) in self.db.execute(
                    "SELECT id FROM faqs WHERE kb = ? AND deleted_at IS NULL", [kb]
                ).fetchall():
                    if faq_id not in keep:
                        self._soft_delete(kb, faq_id, changed_by, now)
            for n, entry in enumerate(entries, 1):
                existed = self.db.execute("SELECT 1 FROM faqs WHERE kb = ? AND id = ?", [kb, entry.id]).fetchone()
                self._write(kb, entry, action="import-update" if existed else "import", changed_by=changed_by, now=now)
                if progress and n % 50 == 0:
                    progress(50)
            if progress:
                progress(len(entries) % 50)
            self._bump(kb)
        return len(entries)

    def _soft_delete(self, kb: str, faq_id: str, changed_by: str, now: str) -> None:
        entry = self.get(kb, faq_id)
        if entry is None:
            raise KnowledgeError(f"no entry {faq_id!r} in {kb!r}", code="kb-entry-not-found")
        revision = entry.revision + 1
        self.db.execute(
            "UPDATE faqs SET deleted_at = ?, updated_at = ?, revision = ? WHERE kb = ? AND id = ?",
            [now, now, revision, kb, faq_id],
        )
        self._revision(kb, replace(entry, revision=revision), "delete", changed_by, now)

    def delete(self, kb: str, faq_id: str, *, changed_by: str = "") -> None:
        """Soft delete: the entry stops answering but keeps its history and can be restored."""
        with transaction(self.db):
            self._soft_delete(kb, faq_id, changed_by, utcnow())
            self._bump(kb)

    def restore(self, kb: str, faq_id: str, *, revision: int | None = None, changed_by: str = "") -> FaqEntry:
        """Bring back a deleted entry, or roll an entry back to an earlier revision."""
        history = self.revisions(kb, faq_id)
        if not history:
            raise KnowledgeError(f"no entry {faq_id!r} in {kb!r}", code="kb-entry-not-found")
        if revision is None:
            candidates = [h for h in history if h["action"] != "delete"]
            chosen = candidates[-1]
        else:
            matches = [h for h in history if h["revision"] == revision]
            if not matches:
                raise KnowledgeError(f"entry {faq_id!r} has no revision {revision}", code="kb-revision-not-found")
            chosen = matches[0]
        data = chosen["data"]
        entry = FaqEntry(**{**data, "alternates": tuple(data["alternates"])})
        with transaction(self.db):
            stored = self._write(kb, self.validate(entry), action="restore", changed_by=changed_by, now=utcnow())
            self._bump(kb)
        return stored

    def set_enabled(self, kb: str, faq_id: str, enabled: bool, *, changed_by: str = "") -> FaqEntry:
        entry = self.get(kb, faq_id)
        if entry is None:
            raise KnowledgeError(f"no entry {faq_id!r} in {kb!r}", code="kb-entry-not-found")
        return self.upsert(kb, replace(entry, enabled=enabled), changed_by=changed_by)

    def add_alternate(self, kb: str, faq_id: str, text: str, *, changed_by: str = "") -> FaqEntry:
        entry = self.get(kb, faq_id)
        if entry is None:
            raise KnowledgeError(f"no entry {faq_id!r} in {kb!r}", code="kb-entry-not-found")
        return self.upsert(kb, replace(entry, alternates=(*entry.alternates, text)), changed_by=changed_by)

    def revisions(self, kb: str, faq_id: str) -> list[dict]:
        rows = self.db.query(
            "SELECT revision, action, data, changed_at, changed_by FROM faq_revisions"
            " WHERE kb = ? AND faq_id = ? ORDER BY revision, rid",
            [kb, faq_id],
        )
        return [{**r, "data": json.loads(r["data"])} for r in rows]

    # -- what matching reads ------------------------------------------------
    def phrasings(self, kb: str) -> list[tuple[str, str, str]]:
        """(faq_id, kind, text) of every enabled, live entry: what the index and matcher learn from."""
        return [
            tuple(r)
            for r in self.db.execute(
                """SELECT p.faq_id, p.kind, p.text FROM phrasings p
                   JOIN faqs f ON f.kb = p.kb AND f.id = p.faq_id
                   WHERE p.kb = ? AND f.enabled = 1 AND f.deleted_at IS NULL
                   ORDER BY p.faq_id, p.position""",
                [kb],
            )
        ]

    def lexical_search(self, kb: str, text: str, limit: int = 20) -> list[tuple[str, float]]:
        """Best BM25 score per entry (higher is better) over questions and alternates."""
        query = fts_query(text)
        if query is None:
            return []
        rows = self.db.execute(
            """SELECT faq_id, MIN(rank) AS best FROM (
                   SELECT p.faq_id AS faq_id, bm25(phrasings_fts) AS rank FROM phrasings_fts
                   JOIN phrasings p ON p.pid = phrasings_fts.rowid
                   JOIN faqs f ON f.kb = p.kb AND f.id = p.faq_id
                   WHERE phrasings_fts MATCH ? AND p.kb = ? AND f.enabled = 1 AND f.deleted_at IS NULL
                   ORDER BY rank LIMIT 200)
               GROUP BY faq_id ORDER BY best LIMIT ?""",
            [query, kb, limit],
        ).fetchall()
        return [(faq_id, -rank) for faq_id, rank in rows]

    # -- documents ----------------------------------------------------------
    def add_document(self, kb: str, doc: Document) -> Document:
        self.require_kb(kb)
        if not doc.id or not doc.body.strip():
            raise EntryInvalidError("a document needs an id and a body")
        chunks = chunk_text(doc.body)
        now = utcnow()
        with transaction(self.db):
            self.db.execute("DELETE FROM documents WHERE kb = ? AND id = ?", [kb, doc.id])
            self.db.execute(
                "INSERT INTO documents (kb, id, title, body, language, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [kb, doc.id, doc.title, doc.body, doc.language, now, now],
            )
            self.db.conn.executemany(
                "INSERT INTO document_chunks (kb, doc_id, position, text) VALUES (?, ?, ?, ?)",
                [(kb, doc.id, i, c) for i, c in enumerate(chunks)],
            )
            self._bump(kb)
        return replace(doc, chunks=tuple(chunks))

    def documents(self, kb: str) -> list[Document]:
        docs = []
        for row in self.db.query("SELECT * FROM documents WHERE kb = ? ORDER BY id", [kb]):
            chunks = [
                r[0]
                for r in self.db.execute(
                    "SELECT text FROM document_chunks WHERE kb = ? AND doc_id = ? ORDER BY position", [kb, row["id"]]
                )
            ]
            docs.append(Document(row["id"], row["title"], row["body"], row["language"], tuple(chunks)))
        return docs

    def delete_document(self, kb: str, doc_id: str) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM documents WHERE kb = ? AND id = ?", [kb, doc_id])
            self._bump(kb)

    def chunks(self, kb: str) -> list[tuple[str, int, str]]:
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT doc_id, position, text FROM document_chunks WHERE kb = ? ORDER BY doc_id, position", [kb]
            )
        ]
