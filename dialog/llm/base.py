"""The interface every LLM engine implements: stream text for chat messages, within limits."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from core.errors import DialogError


class LlmError(DialogError):
    code = "llm-failed"


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class GenerationLimits:
    max_tokens: int = 96
    timeout_s: float = 8.0
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    seed: int | None = 0  # a fixed seed: one question, one wording (reproducible for operators); None: random


class LlmEngine(ABC):
    """Streams the assistant's reply as text pieces.

    Implementations stop on their own at ``limits.max_tokens`` and
    ``limits.timeout_s`` (wall time from the call), and as soon as ``cancel`` is
    set (barge-in), and raise :class:`LlmError` for failures.
    """

    name = "llm"

    @property
    def available(self) -> bool:
        """Is asking now worth it? (A shared server that just failed says no for a while.)"""
        return True

    @abstractmethod
    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        limits: GenerationLimits,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]: ...

    def warm(self) -> None:
        """Load whatever is slow to load, so the first visitor does not wait."""

    def close(self) -> None:
        """Release the model."""
