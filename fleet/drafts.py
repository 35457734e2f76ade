"""Knowledge-base drafts on the fleet server: edited centrally in PostgreSQL, then published as a version.

One draft per knowledge base (``kb_drafts``), started from a published version or empty; its entries
(``kb_draft_entries``) are :meth:`knowledge.entries.FaqEntry.content` dicts, checked with the kiosk's own
validation (:meth:`knowledge.store.FaqStore.validate`), so what a kiosk refuses never gets into a draft.
Every write bumps the draft's ``revision`` (the "try a question" index is cached per revision) and
leaves an audit row. An entry edit carries the entry's ``entry_rev`` it was loaded with: of two editors
saving the same entry, the second is told instead of silently overwriting the first.

The draft also holds documents (``kb_draft_documents``: a title and a text, checked as a published version's
are); publishing sends its entries and documents as one version, so a kiosk replaces both at once.

A file import is parsed first (:mod:`knowledge.io`, the parser of ``kiosk kb import``); a clean file is
kept in ``kb_draft_imports`` under a random token (its hash stored) until its uploader confirms it, so
any server process can take the confirmation.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from fleet.errors import FleetInputError
from fleet.groups import target_label
from fleet.outbox import entries_from_payload
from fleet.protocol import secret_hash
from fleet.store import MAX_DOCUMENTS, FleetStore, check_documents, iso
from knowledge.entries import FaqEntry, slugify
from knowledge.store import FaqStore, check_kb_name

_LOGGER = logging.getLogger(__name__)

PENDING_IMPORT_TTL = timedelta(minutes=30)


class DraftMissingError(FleetInputError):
    code = "fleet-draft-missing"


class DraftConflictError(FleetInputError):
    """The draft or one of its entries changed since the editor's form was loaded."""

    code = "fleet-draft-conflict"


@dataclass(frozen=True)
class Draft:
    kb: str
    title: str
    base_version: int | None
    revision: int
    entry_count: int
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str


@dataclass(frozen=True)
class DraftEntry:
    entry: FaqEntry
    rev: int
    updated_by: str
    updated_at: str


def entry_from_content(data: dict[str, Any]) -> FaqEntry:
    """A stored ``content()`` dict as an entry (only the operator-editable fields)."""
    return FaqEntry(
        id=str(data["id"]),
        question=str(data.get("question", "")),
        answer=str(data.get("answer", "")),
        spoken_answer=str(data.get("spoken_answer", "")),
        alternates=tuple(str(a) for a in data.get("alternates") or ()),
        category=str(data.get("category", "")),
        language=str(data.get("language", "en")),
        enabled=bool(data.get("enabled", True)),
    )


class DraftStore:
    """Drafts' SQL, over the fleet store's pool and audit table."""

    def __init__(self, store: FleetStore) -> None:
        self.store = store

    # -- drafts -----------------------------------------------------------
    @staticmethod
    def _draft(row: dict[str, Any]) -> Draft:
        return Draft(
            kb=row["kb"],
            title=row["title"],
            base_version=row["base_version"],
            revision=row["revision"],
            entry_count=int(row["entry_count"]),
            created_by=row["created_by"],
            created_at=iso(row["created_at"]) or "",
            updated_by=row["updated_by"],
            updated_at=iso(row["updated_at"]) or "",
        )

    _SELECT = """SELECT d.*, (SELECT COUNT(*) FROM kb_draft_entries e WHERE e.kb = d.kb) AS entry_count
                 FROM kb_drafts d"""

    def drafts(self) -> list[Draft]:
        with self.store.tx() as conn:
            rows = conn.execute(f"{self._SELECT} ORDER BY d.kb").fetchall()
        return [self._draft(r) for r in rows]

    def get(self, kb: str) -> Draft | None:
        with self.store.tx() as conn:
            row = conn.execute(f"{self._SELECT} WHERE d.kb = %s", [kb]).fetchone()
        return None if row is None else self._draft(row)

    def require(self, kb: str) -> Draft:
        draft = self.get(kb)
        if draft is None:
            raise DraftMissingError(
                f"knowledge base {kb!r} has no draft", hint="start one from a published version or empty"
            )
        return draft

    def start(self, kb: str, *, actor: str, from_version: int | None = None, title: str = "") -> Draft:
        """A new draft of ``kb``: the entries of published ``from_version``, or none."""
        check_kb_name(kb)
        entries: list[FaqEntry] = []
        documents: list[dict[str, Any]] = []
        if from_version is not None:
            payload = self.store.kb_payload(kb, from_version)
            if payload is None:
                raise FleetInputError(f"{kb} has no version {from_version}", code="fleet-version-unknown")
            entries = entries_from_payload(payload["entries"])
            documents = check_documents(list(payload["documents"]))
            title = title or payload["title"]
        with self.store.tx() as conn:
            if conn.execute("SELECT 1 FROM kb_drafts WHERE kb = %s", [kb]).fetchone():
                raise DraftConflictError(
                    f"{kb} already has a draft", hint="edit it, or discard it before starting another"
                )
            conn.execute(
                """INSERT INTO kb_drafts (kb, title, base_version, created_by, updated_by)
                   VALUES (%s, %s, %s, %s, %s)""",
                [kb, title.strip()[:200] or kb, from_version, actor, actor],
            )
            self._write_entries(conn, kb, entries, actor)
            for doc in documents:
                self._insert_document(conn, kb, doc, actor)
            source = f"from v{from_version}" if from_version is not None else "empty"
            detail = f"{source}, {len(entries)} entries, {len(documents)} documents"
            self.store._audit(conn, actor, "draft-start", kb, detail)
        return self.require(kb)

    def discard(self, kb: str, *, actor: str) -> None:
        with self.store.tx() as conn:
            if conn.execute("DELETE FROM kb_drafts WHERE kb = %s", [kb]).rowcount == 0:
                raise DraftMissingError(f"knowledge base {kb!r} has no draft")
            self.store._audit(conn, actor, "draft-discard", kb)

    @staticmethod
    def _touch(conn: psycopg.Connection, kb: str, actor: str) -> int:
        row = conn.execute(
            """UPDATE kb_drafts SET revision = revision + 1, updated_by = %s, updated_at = now()
               WHERE kb = %s RETURNING revision""",
            [actor, kb],
        ).fetchone()
        if row is None:
            raise DraftMissingError(f"knowledge base {kb!r} has no draft", hint="start one first")
        return int(row["revision"])

    @staticmethod
    def _write_entries(conn: psycopg.Connection, kb: str, entries: list[FaqEntry], actor: str) -> None:
        for entry in entries:
            conn.execute(
                """INSERT INTO kb_draft_entries (kb, faq_id, entry, updated_by) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (kb, faq_id) DO UPDATE SET entry = excluded.entry, updated_by = excluded.updated_by,
                       entry_rev = kb_draft_entries.entry_rev + 1, updated_at = now()""",
                [kb, entry.id, Jsonb(entry.content()), actor],
            )

    # -- entries ----------------------------------------------------------
    def entries(self, kb: str, *, search: str = "") -> list[DraftEntry]:
        """The draft's entries in the order they were added (``search``: words in question, alternates, answer)."""
        clause, params = "", [kb]
        if search.strip():
            clause = "AND (entry->>'question' ILIKE %s OR entry->>'answer' ILIKE %s OR entry->>'alternates' ILIKE %s)"
            like = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like, like]
        with self.store.tx() as conn:
            rows = conn.execute(
                f"""SELECT entry, entry_rev, updated_by, updated_at FROM kb_draft_entries
                    WHERE kb = %s {clause} ORDER BY seq""",
                params,
            ).fetchall()
        return [DraftEntry(entry_from_content(r["entry"]), r["entry_rev"], r["updated_by"], iso(r["updated_at"]) or "")
                for r in rows]  # fmt: skip

    def entry(self, kb: str, faq_id: str) -> DraftEntry | None:
        with self.store.tx() as conn:
            row = conn.execute(
                "SELECT entry, entry_rev, updated_by, updated_at FROM kb_draft_entries WHERE kb = %s AND faq_id = %s",
                [kb, faq_id],
            ).fetchone()
        if row is None:
            return None
        return DraftEntry(
            entry_from_content(row["entry"]), row["entry_rev"], row["updated_by"], iso(row["updated_at"]) or ""
        )

    def unique_id(self, kb: str, question: str) -> str:
        base = slugify(question)
        with self.store.tx() as conn:
            taken = {r["faq_id"] for r in conn.execute("SELECT faq_id FROM kb_draft_entries WHERE kb = %s", [kb])}
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def create_entry(self, kb: str, entry: FaqEntry, *, actor: str) -> FaqEntry:
        """Add a new entry (its id made from the question when empty); raises when invalid or the id is taken."""
        if not entry.id.strip() and entry.question.strip():
            entry = replace(entry, id=self.unique_id(kb, entry.question))
        entry = FaqStore.validate(entry)
        with self.store.tx() as conn:
            self._touch(conn, kb, actor)
            taken = conn.execute(
                "SELECT 1 FROM kb_draft_entries WHERE kb = %s AND faq_id = %s", [kb, entry.id]
            ).fetchone()
            if taken:
                raise DraftConflictError(
                    f"an entry with id {entry.id!r} already exists", hint="choose another id or leave it empty"
                )
            self._write_entries(conn, kb, [entry], actor)
            self.store._audit(conn, actor, "draft-entry-create", f"{kb}/{entry.id}")
        return entry

    def save_entry(self, kb: str, entry: FaqEntry, *, actor: str, loaded_rev: int | None) -> FaqEntry:
        """Replace an existing entry; ``loaded_rev`` (the revision the form showed) must still be current."""
        entry = FaqStore.validate(entry)
        with self.store.tx() as conn:
            row = conn.execute(
                "SELECT entry_rev, updated_by FROM kb_draft_entries WHERE kb = %s AND faq_id = %s FOR UPDATE",
                [kb, entry.id],
            ).fetchone()
            if row is None:
                raise DraftMissingError(f"no entry {entry.id!r} in the draft of {kb}", code="fleet-entry-missing")
            if loaded_rev is not None and loaded_rev != row["entry_rev"]:
                raise DraftConflictError(
                    f"{row['updated_by'] or 'another editor'} changed this entry while you were editing it "
                    f"(now revision {row['entry_rev']})",
                    hint="reload the entry, then make your change again",
                )
            self._touch(conn, kb, actor)
            self._write_entries(conn, kb, [entry], actor)
            self.store._audit(conn, actor, "draft-entry-update", f"{kb}/{entry.id}")
        return entry

    def delete_entry(self, kb: str, faq_id: str, *, actor: str) -> None:
        with self.store.tx() as conn:
            self._touch(conn, kb, actor)
            gone = conn.execute("DELETE FROM kb_draft_entries WHERE kb = %s AND faq_id = %s", [kb, faq_id])
            if gone.rowcount == 0:
                raise DraftMissingError(f"no entry {faq_id!r} in the draft of {kb}", code="fleet-entry-missing")
            self.store._audit(conn, actor, "draft-entry-delete", f"{kb}/{faq_id}")

    def add_alternate(self, kb: str, faq_id: str, text: str, *, actor: str, why: str = "") -> FaqEntry:
        """Append ``text`` as another way to ask entry ``faq_id`` (a duplicate phrasing changes nothing)."""
        found = self.entry(kb, faq_id)
        if found is None:
            raise DraftMissingError(f"no entry {faq_id!r} in the draft of {kb}", code="fleet-entry-missing")
        entry = FaqStore.validate(replace(found.entry, alternates=(*found.entry.alternates, text)))
        self.save_entry(kb, entry, actor=actor, loaded_rev=found.rev)
        with self.store.tx() as conn:
            self.store._audit(conn, actor, "draft-alternate-add", f"{kb}/{faq_id}", (why + text)[:300])
        return entry

    def phrasings(self, kb: str) -> list[str]:
        """Every question and alternate of the draft (to leave out what it already answers)."""
        out: list[str] = []
        for item in self.entries(kb):
            out.extend(item.entry.phrasings)
        return out

    # -- imports ----------------------------------------------------------
    def stage_import(
        self, kb: str, entries: list[FaqEntry], *, actor: str, filename: str, replace_existing: bool
    ) -> str:
        """Keep a parsed, clean file for its uploader to confirm; the token to confirm it with."""
        token = secrets.token_urlsafe(24)
        with self.store.tx() as conn:
            conn.execute("DELETE FROM kb_draft_imports WHERE created_at < now() - %s", [PENDING_IMPORT_TTL])
            conn.execute(
                """INSERT INTO kb_draft_imports (token_hash, kb, username, filename, replace_existing, entries)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                [
                    secret_hash(token),
                    kb,
                    actor,
                    filename[:120],
                    replace_existing,
                    Jsonb([e.content() for e in entries]),
                ],
            )
        return token

    def commit_import(self, kb: str, token: str, *, actor: str) -> tuple[int, int]:
        """Write a staged file into the draft in one transaction: (entries written, entries removed)."""
        with self.store.tx() as conn:
            row = conn.execute(
                """DELETE FROM kb_draft_imports WHERE token_hash = %s AND kb = %s AND username = %s
                       AND created_at >= now() - %s RETURNING filename, replace_existing, entries""",
                [secret_hash(token), kb, actor, PENDING_IMPORT_TTL],
            ).fetchone()
            if row is None:
                raise DraftMissingError(
                    "this import preview has expired or was already imported", code="fleet-import-expired",
                    hint="upload the file again",
                )  # fmt: skip
            entries = [FaqStore.validate(entry_from_content(e)) for e in row["entries"]]
            self._touch(conn, kb, actor)
            removed = 0
            if row["replace_existing"]:
                removed = conn.execute(
                    "DELETE FROM kb_draft_entries WHERE kb = %s AND NOT (faq_id = ANY(%s))",
                    [kb, [e.id for e in entries]],
                ).rowcount
            self._write_entries(conn, kb, entries, actor)
            detail = f"{row['filename']}: {len(entries)} entries" + (f", {removed} removed" if removed else "")
            self.store._audit(conn, actor, "draft-import", kb, detail)
        return len(entries), removed

    # -- publishing -------------------------------------------------------
    def publish(
        self,
        kb: str,
        *,
        site: str | None,
        actor: str,
        expected_revision: int | None = None,
        group: str | None = None,
    ) -> int:
        """Publish the draft (entries and documents) as the next version of ``kb`` for ``site`` or ``group``
        (neither: every site); the version."""
        draft = self.require(kb)
        if expected_revision is not None and expected_revision != draft.revision:
            raise DraftConflictError(
                f"the draft changed while you were looking at it (now revision {draft.revision}, "
                f"by {draft.updated_by or 'another editor'})",
                hint="look at it again, then publish",
            )
        entries = [item.entry.content() for item in self.entries(kb)]
        documents = [{k: d[k] for k in ("id", "title", "body", "language")} for d in self.documents(kb)]
        return self.store.publish(
            kb,
            entries,
            documents=documents,  # the draft is the whole knowledge base: its documents exactly
            site=site,
            group=group,
            title=draft.title,
            source=f"draft revision {draft.revision}",
            actor=actor,
        )

    def rollback(self, kb: str, version: int, *, site: str | None, actor: str, group: str | None = None) -> int:
        """Publish the entries (and documents) of earlier ``version`` again as a new version: kiosks move forward."""
        new = self.store.rollback("kb", kb, version, site=site, group=group, actor=actor)
        with self.store.tx() as conn:
            self.store._audit(
                conn, actor, "rollback", f"{kb} v{new}", f"entries of v{version} for {target_label(site, group)}"
            )
        return new

    # -- documents --------------------------------------------------------
    def documents(self, kb: str) -> list[dict[str, Any]]:
        """The draft's documents in the order they were added: ``id``, ``title``, ``body``, ``language``, ..."""
        with self.store.tx() as conn:
            rows = conn.execute(
                """SELECT doc_id AS id, title, body, language, updated_by, updated_at FROM kb_draft_documents
                   WHERE kb = %s ORDER BY seq""",
                [kb],
            ).fetchall()
        return [{**r, "chars": len(r["body"]), "updated_at": iso(r["updated_at"]) or ""} for r in rows]

    @staticmethod
    def _insert_document(conn: psycopg.Connection, kb: str, doc: dict[str, Any], actor: str) -> None:
        conn.execute(
            """INSERT INTO kb_draft_documents (kb, doc_id, title, body, language, updated_by)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            [kb, doc["id"], doc["title"], doc["body"], doc["language"], actor],
        )

    def add_document(self, kb: str, title: str, body: str, *, actor: str, language: str = "en") -> str:
        """Add a document (its id made from the title) to the draft, checked as a published one is; its id."""
        title = " ".join(title.split())[:200]
        if not title:
            raise FleetInputError("a document needs a title", code="fleet-document-invalid", hint="e.g. Branch guide")
        base = slugify(title)
        with self.store.tx() as conn:
            self._touch(conn, kb, actor)
            taken = {r["doc_id"] for r in conn.execute("SELECT doc_id FROM kb_draft_documents WHERE kb = %s", [kb])}
            if len(taken) >= MAX_DOCUMENTS:
                raise FleetInputError(f"the draft holds {len(taken)} documents; at most {MAX_DOCUMENTS}")
            doc_id, n = base, 2
            while doc_id in taken:
                doc_id, n = f"{base}-{n}", n + 1
            (doc,) = check_documents([{"id": doc_id, "title": title, "body": body, "language": language or "en"}])
            self._insert_document(conn, kb, doc, actor)
            self.store._audit(conn, actor, "draft-document-add", f"{kb}/{doc_id}", f"{len(body)} characters")
        return doc_id

    def remove_document(self, kb: str, doc_id: str, *, actor: str) -> None:
        with self.store.tx() as conn:
            self._touch(conn, kb, actor)
            gone = conn.execute("DELETE FROM kb_draft_documents WHERE kb = %s AND doc_id = %s", [kb, doc_id])
            if gone.rowcount == 0:
                raise DraftMissingError(f"no document {doc_id!r} in the draft of {kb}", code="fleet-document-missing")
            self.store._audit(conn, actor, "draft-document-remove", f"{kb}/{doc_id}")
