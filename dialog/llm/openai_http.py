"""OpenAI-compatible HTTP engine, for a shared model server (llama_cpp.server, vLLM, ...)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence

from dialog.llm.base import ChatMessage, GenerationLimits, LlmEngine, LlmError

_LOGGER = logging.getLogger(__name__)


class OpenAIHttpEngine(LlmEngine):
    name = "openai_http"

    def __init__(self, *, base_url: str, model: str = "local", api_key: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        limits: GenerationLimits,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        body = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": limits.max_tokens,
            "temperature": limits.temperature,
            "stream": True,
        }
        if limits.stop:
            body["stop"] = list(limits.stop)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        deadline = time.monotonic() + limits.timeout_s
        try:
            with urllib.request.urlopen(request, timeout=limits.timeout_s) as response:
                for raw in response:
                    if cancel is not None and cancel.is_set():
                        return
                    if time.monotonic() > deadline:
                        _LOGGER.warning("generation stopped at the %.1f s wall-time cap", limits.timeout_s)
                        return
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except json.JSONDecodeError:
                        _LOGGER.debug("ignoring malformed event %r", data[:80])
                        continue
                    choices = event.get("choices") or [{}]
                    piece = (choices[0].get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except urllib.error.HTTPError as exc:
            raise LlmError(f"LLM server {self.base_url} answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LlmError(
                f"cannot reach the LLM server at {self.base_url}: {reason}",
                code="llm-unreachable",
                hint="check llm.base_url, or use llm.engine = llama_cpp",
            ) from exc
