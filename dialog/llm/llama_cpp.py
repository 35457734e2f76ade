"""In-process llama.cpp engine (llama-cpp-python); default model: the packaged SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dialog.llm.base import ChatMessage, GenerationLimits, LlmEngine, LlmError

_LOGGER = logging.getLogger(__name__)


class LlamaCppEngine(LlmEngine):
    name = "llama_cpp"

    def __init__(self, *, model_path: Path | str, context_tokens: int = 2048, threads: int = 0) -> None:
        self.model_path = Path(model_path)
        self.context_tokens = context_tokens
        self.threads = threads or (os.cpu_count() or 2)
        self._llm = None
        self._lock = threading.Lock()  # one generation at a time per model

    def _load(self):
        if self._llm is None:
            if not self.model_path.is_file():
                raise LlmError(f"GGUF model not found: {self.model_path}", code="model-not-found")
            try:
                from llama_cpp import Llama

                start = time.perf_counter()
                self._llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.context_tokens,
                    n_threads=self.threads,
                    verbose=False,
                )
            except Exception as exc:
                raise LlmError(f"cannot load {self.model_path.name}: {exc}") from exc
            _LOGGER.info("loaded %s in %.2f s", self.model_path.name, time.perf_counter() - start)
        return self._llm

    def warm(self) -> None:
        with self._lock:
            self._load()

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        limits: GenerationLimits,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        with self._lock:
            llm = self._load()
            deadline = time.monotonic() + limits.timeout_s
            try:
                chunks = llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    max_tokens=limits.max_tokens,
                    temperature=limits.temperature,
                    stop=list(limits.stop) or None,
                    seed=limits.seed,
                    stream=True,
                )
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        _LOGGER.debug("generation cancelled")
                        return
                    piece = chunk["choices"][0].get("delta", {}).get("content")
                    if piece:
                        yield piece
                    if time.monotonic() > deadline:
                        _LOGGER.warning("generation stopped at the %.1f s wall-time cap", limits.timeout_s)
                        return
            except LlmError:
                raise
            except Exception as exc:
                raise LlmError(f"generation failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None
