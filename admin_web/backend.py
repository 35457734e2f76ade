"""What the admin app needs from the kiosk it administers: one small typed interface.

``runtime.services.KioskServices`` implements it; the admin app never imports the
kiosk's front ends, and a test or a fleet server can hand it anything of this shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dialog.policy import AnswerPolicy
    from knowledge.embeddings import Embedder
    from knowledge.store import FaqStore


class KioskBackend(Protocol):
    @property
    def store(self) -> FaqStore:
        """The FAQ store (SQLite, the source of truth) the app edits."""

    def kb_name(self, kb: str | None = None) -> str:
        """``kb``, else the knowledge base the kiosk answers from (created from its demo if missing)."""

    def policy(self, kb: str | None = None, *, with_llm: bool = True, log_turns: bool = True) -> AnswerPolicy:
        """The answer policy over ``kb`` (the "try a question" page uses it without the LLM or the turn log)."""

    def loaded_embedder(self) -> Embedder | None:
        """The sentence encoder if it is already in memory; None rather than load it for a page."""
