"""OpenAI-compatible HTTP engine, for a shared model server (llama_cpp.server, vLLM, ...).

Kiosks of a site may share one server on the branch's network. It can go away:
connecting gives up after ``connect_timeout_s`` (1 s), so the visitor hears the
entries' own answers at once (the policy speaks them on any :class:`LlmError`),
and after a failure the server is not asked again for ``retry_after_s``: answers
come straight from the entries meanwhile, then the next question tries it again,
so the kiosk uses the server as soon as it is back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import httpx

from dialog.llm.base import ChatMessage, GenerationLimits, LlmEngine, LlmError

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 1.0
RETRY_AFTER_S = 30.0


class OpenAIHttpEngine(LlmEngine):
    name = "openai_http"

    def __init__(
        self,
        *,
        base_url: str,
        model: str = "local",
        api_key: str = "",
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        retry_after_s: float = RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.connect_timeout_s = connect_timeout_s
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down_until = 0.0  # the server failed: not asked again before this time
        self.attempts = 0  # requests sent (a test reads it)

    @property
    def available(self) -> bool:
        """False for ``retry_after_s`` after the server failed (the policy then answers from the entries)."""
        return self._clock() >= self._down_until

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        limits: GenerationLimits,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        if not self.available:
            raise LlmError(
                f"the LLM server at {self.base_url} failed recently; trying it again in "
                f"{self._down_until - self._clock():.0f} s",
                code="llm-unreachable",
                hint="answers come from the entries meanwhile",
            )
        body = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": limits.max_tokens,
            "temperature": limits.temperature,
            "stream": True,
        }
        if limits.stop:
            body["stop"] = list(limits.stop)
        if limits.seed is not None:
            body["seed"] = limits.seed
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        timeout = httpx.Timeout(limits.timeout_s, connect=min(self.connect_timeout_s, limits.timeout_s))
        deadline = self._clock() + limits.timeout_s
        self.attempts += 1
        try:
            with httpx.stream(
                "POST", f"{self.base_url}/chat/completions", json=body, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    self._failed()
                    raise LlmError(f"LLM server {self.base_url} answered HTTP {response.status_code}")
                for line in response.iter_lines():
                    if cancel is not None and cancel.is_set():
                        return
                    if self._clock() > deadline:
                        _LOGGER.warning("generation stopped at the %.1f s wall-time cap", limits.timeout_s)
                        return
                    piece = _piece(line)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except (httpx.TransportError, OSError) as exc:  # refused, unreachable, timed out, cut off
            self._failed()
            raise LlmError(
                f"cannot reach the LLM server at {self.base_url}: {exc or type(exc).__name__}",
                code="llm-unreachable",
                hint="check llm.base_url, or use llm.engine = llama_cpp",
            ) from exc

    def _failed(self) -> None:
        self._down_until = self._clock() + self.retry_after_s
        _LOGGER.warning(
            "LLM server %s failed: answering from the entries for %.0f s", self.base_url, self.retry_after_s
        )


def _piece(line: str) -> str | None:
    """The text of one server-sent event line ("" for none); None at the end of the stream."""
    line = line.strip()
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        _LOGGER.debug("ignoring malformed event %r", data[:80])
        return ""
    choices = event.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""
