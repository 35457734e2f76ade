"""The question decided once, while the visitor pauses: off the audio thread, reused by the answer.

When the listener reaches the short silence it hands the words so far to the turn
loop, which passes them here: :meth:`PauseDecisions.decide` runs the answer policy's
``decide`` on the ``kiosk-decide`` worker (inline in the simulator, for repeatable
runs) and returns a future the listener polls with each block; whether that decision
is a confident entry tells the listener to end the turn early. If the final
transcript is the same text, in the same turn, :meth:`take` hands the decision to
the answer, so the question is not decided twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from dialog.events import AnswerMode
from dialog.policy import AnswerPolicy, Conversation, Decision


@dataclass(frozen=True)
class _Decided:
    text: str
    turn: int
    decision: Decision


class PauseDecisions:
    def __init__(self, policy: AnswerPolicy, *, inline: bool, confident_score: float) -> None:
        self._policy = policy
        self._inline = inline
        self.confident_score = confident_score
        self._worker: ThreadPoolExecutor | None = None
        self._decided: _Decided | None = None
        self._lock = threading.Lock()

    def decide(self, text: str, turn: int, conversation: Conversation, current: Callable[[int], bool]) -> Future[bool]:
        """Decide ``text`` for ``turn``; the future says whether it is a confident entry (``current(turn)`` tells
        whether the turn is still the same when the decision is ready)."""
        verdict: Future[bool] = Future()
        if not self._policy.ready():  # matching would be slow now: wait for the full silence instead
            verdict.set_result(False)
            return verdict
        if self._inline:
            verdict.set_result(self._decide(text, turn, conversation, current))
            return verdict
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-decide")
        return self._worker.submit(self._decide, text, turn, conversation, current)

    def _decide(self, text: str, turn: int, conversation: Conversation, current: Callable[[int], bool]) -> bool:
        decision = self._policy.decide(text, conversation)
        with self._lock:
            if current(turn):
                self._decided = _Decided(text, turn, decision)
        return decision.mode == AnswerMode.FAQ and (decision.score or 0.0) >= self.confident_score

    def take(self, text: str, turn: int) -> Decision | None:
        """The decision made on ``text`` in ``turn``, once; None if there is none for it."""
        with self._lock:
            found, self._decided = self._decided, None
        if found is not None and found.text == text and found.turn == turn:
            return found.decision
        return None

    def drop(self) -> None:
        """The turn was interrupted: forget what was decided."""
        with self._lock:
            self._decided = None

    def barrier(self) -> None:
        """Wait until every decision asked for so far is made (tests)."""
        if self._worker is not None:
            self._worker.submit(lambda: None).result()

    def shutdown(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
