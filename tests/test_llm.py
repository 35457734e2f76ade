"""LLM engines with the packaged SmolLM2: in process, and over HTTP against llama_cpp.server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from dialog.llm.base import ChatMessage, GenerationLimits, LlmError
from dialog.llm.openai_http import OpenAIHttpEngine
from tests.fakes import CountingLlm

pytestmark = [pytest.mark.models]

MESSAGES = [
    ChatMessage("system", "You are a museum information kiosk. Answer in one short sentence using only the facts."),
    ChatMessage(
        "user", "Facts:\n- The museum cafe is on the ground floor and opens at 10.\n\nQuestion: where is the cafe?"
    ),
]


def test_llama_cpp_streams_a_relevant_answer(services) -> None:
    pieces = list(services.llm.stream(MESSAGES, limits=GenerationLimits(max_tokens=40, temperature=0.0)))
    text = "".join(pieces)
    assert len(pieces) > 1  # streamed, not one blob
    assert "floor" in text.lower() or "cafe" in text.lower(), text


def test_llama_cpp_respects_token_time_and_cancel_limits(services, caplog: pytest.LogCaptureFixture) -> None:
    long_ask = [ChatMessage("user", "Write a very long story about a train journey.")]
    capped = list(services.llm.stream(long_ask, limits=GenerationLimits(max_tokens=8)))
    assert 1 <= len(capped) <= 8
    with caplog.at_level("WARNING"):
        timed = list(services.llm.stream(long_ask, limits=GenerationLimits(max_tokens=1000, timeout_s=0.5)))
    assert len(timed) < 1000
    assert "wall-time cap" in caplog.text
    cancel = threading.Event()
    cancel.set()
    assert list(services.llm.stream(long_ask, limits=GenerationLimits(max_tokens=100), cancel=cancel)) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(services) -> Iterator[str]:
    port = free_port()
    model = str(services.models.require("llm"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            model,
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited early")
            try:
                urllib.request.urlopen(f"{base}/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start within 60 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.network
def test_openai_http_engine_streams_from_llama_cpp_server(llama_server: str) -> None:
    engine = OpenAIHttpEngine(base_url=llama_server, model="smollm2")
    pieces = list(engine.stream(MESSAGES, limits=GenerationLimits(max_tokens=40, temperature=0.0)))
    assert len(pieces) > 1
    assert "".join(pieces).strip()


def _bank_policy(services, llm):
    """The bank demo's answer policy over ``llm``."""
    from dialog.policy import AnswerPolicy

    return AnswerPolicy(
        kb="bank",
        store=services.store,
        retriever=services.retriever,
        dialog=services.settings.dialog,
        llm_settings=services.settings.llm,
        llm=llm,
    )


@pytest.mark.network
def test_policy_generates_through_the_http_engine(services, llama_server: str) -> None:
    policy = _bank_policy(services, (llm := CountingLlm(OpenAIHttpEngine(base_url=llama_server, model="smollm2"))))
    answer = policy.answer("are you open on saturday and sunday?")
    assert llm.calls == 1 and "".join(llm.pieces).strip()  # the server generated the composition
    assert answer.faq_id in ("bank-hours-saturday", "bank-hours-sunday")
    assert answer.sentences
    # spoken as generated, or (the grounding check refused it) each entry in its own words; never anything else
    assert answer.mode == "generated" or (
        answer.mode == "faq" and answer.reason.startswith(("ungrounded", "llm-error"))
    ), answer


def test_unreachable_server_is_a_clear_error() -> None:
    engine = OpenAIHttpEngine(base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(LlmError) as info:
        list(engine.stream(MESSAGES, limits=GenerationLimits(timeout_s=2)))
    assert info.value.code == "llm-unreachable"
    assert "llm.base_url" in str(info.value)


def test_policy_survives_a_dead_llm_server(services) -> None:
    policy = _bank_policy(services, OpenAIHttpEngine(base_url=f"http://127.0.0.1:{free_port()}/v1"))
    answer = policy.answer("are you open on saturday and sunday?")
    # generation failed, so the visitor hears the entries themselves: both days they asked about, in turn
    assert answer.mode == "faq" and answer.reason.startswith("llm-error")
    saturday, sunday = (services.store.get("bank", fid) for fid in ("bank-hours-saturday", "bank-hours-sunday"))
    assert " ".join(answer.sentences) == f"{saturday.speech} {sunday.speech}"
    assert answer.text == f"{saturday.answer} {sunday.answer}"


def test_a_dead_shared_server_is_skipped_then_used_again_when_it_is_back(services, llama_server: str) -> None:
    """Unreachable: the entries answer and the server is left alone for a while; then it is asked again."""
    now = [0.0]
    dead = OpenAIHttpEngine(base_url=f"http://127.0.0.1:{free_port()}/v1", retry_after_s=30.0, clock=lambda: now[0])
    policy = _bank_policy(services, dead)
    question = "are you open on saturday and sunday?"
    first = policy.answer(question)
    assert first.mode == "faq" and first.reason.startswith("llm-error") and dead.attempts == 1
    assert not dead.available
    second = policy.answer(question)  # within the cool-down: not even tried, the entries answer at once
    assert second.mode == "faq" and dead.attempts == 1 and second.sentences == first.sentences
    now[0] += 31.0
    assert dead.available
    dead.base_url = llama_server  # the server is back (here: at the address of a live one)
    third = policy.answer(question)
    assert dead.attempts == 2 and dead.available  # asked again, and it answered
    assert third.mode == "generated" or third.reason.startswith("ungrounded"), third
