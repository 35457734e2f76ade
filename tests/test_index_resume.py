"""An index build killed half-way resumes where it stopped, and the kiosk answers from the lexical index meanwhile.

A knowledge base of a few hundred generated entries is indexed in a separate process (real Chroma, the
packaged MiniLM), which is sent SIGKILL once the progress file says some batches are stored. The next sync
must embed only the records the index lacks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.heartbeat import INDEX_STATUS_FILE, read_index_status

REPO = Path(__file__).resolve().parent.parent
KB = "depot"
BATCH = 40  # the killed build's batch size
STORED = 3  # batches stored when the build is killed
COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "silver", "golden", "black", "white", "pink", "teal"]
THINGS = [
    "lantern", "umbrella", "suitcase", "bicycle", "guitar", "backpack", "kettle", "scooter", "telescope", "violin",
    "blanket", "camera", "helmet", "notebook", "trumpet", "wallet", "compass", "hammock", "typewriter", "skateboard",
]  # fmt: skip

CHILD = r"""
import json, sys, threading
from pathlib import Path
from core.home import KioskHome
from core.settings import load_settings
from knowledge.entries import FaqEntry
from runtime.services import KioskServices

home, kb, entries_file, batch, stored = sys.argv[1:6]
services = KioskServices(settings=load_settings(None, env={}), home=KioskHome(Path(home)).ensure())
services.store.create_kb(kb, title="Lost property depot")
entries = [FaqEntry(**row) for row in json.loads(Path(entries_file).read_text())]
services.store.replace_all(kb, entries)
services.index.batch_size = int(batch)
embed, calls = services.embedder.embed, [0]

def embed_then_stall(texts, **kw):
    calls[0] += 1
    if calls[0] > int(stored):  # keeps the build from ending before the test kills it
        threading.Event().wait()
    return embed(texts, **kw)

services.embedder.embed = embed_then_stall
services.retriever.prepare(kb)
"""


def generated_entries() -> list[dict]:
    return [
        {
            "id": f"{color}-{thing}",
            "question": f"Where can I collect the {color} {thing}?",
            "answer": f"The {color} {thing} waits at counter {i % 7 + 1}.",
            "alternates": [f"I lost a {thing}, a {color} one", f"has anyone handed in a {color} {thing}"],
        }
        for i, (color, thing) in enumerate((c, t) for c in COLORS for t in THINGS)
    ]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kiosk home whose index build was killed (SIGKILL) after STORED batches of BATCH records."""
    root = tmp_path_factory.mktemp("interrupted")
    home = root / "home"
    entries_file = root / "entries.json"
    entries_file.write_text(json.dumps(generated_entries()))
    status_file = home / INDEX_STATUS_FILE
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), KB, str(entries_file), str(BATCH), str(STORED)],
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while True:  # until the progress file shows the stored batches (or the build fails)
            try:
                status = json.loads(status_file.read_text())
            except (OSError, ValueError):
                status = {}
            if status.get("state") == "indexing" and status.get("embedded", 0) >= STORED * BATCH:
                break
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the indexing process ended early: {proc.stderr.read().decode()[-2000:]}")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return home


@pytest.fixture
def home(interrupted: Path, tmp_path: Path) -> Path:
    """A copy of the interrupted home, for one test to resume."""
    copy = tmp_path / "home"
    shutil.copytree(interrupted, copy)
    return copy


def total_records() -> int:
    return sum(1 + len(e["alternates"]) for e in generated_entries())


def test_the_progress_file_shows_the_interrupted_build(home: Path) -> None:
    status = read_index_status(home)
    assert status is not None
    assert status["kb"] == KB and status["state"] == "indexing"
    assert status["done"] == STORED * BATCH and status["total"] == total_records()
    assert status["interrupted"] and not status["running"]


def test_a_killed_build_embeds_only_the_rest_and_answers_lexically_meanwhile(home: Path) -> None:
    from core.home import KioskHome
    from core.settings import load_settings
    from knowledge.index import record_id
    from runtime.services import KioskServices

    services = KioskServices(settings=load_settings(None, env={}), home=KioskHome(home).ensure())
    ids, _, _ = services.index.vectors(KB)
    records = {record_id(fid, text): text for fid, _, text in services.store.phrasings(KB)}
    assert len(records) == total_records()
    assert len(ids) == STORED * BATCH and set(ids) <= set(records)  # the stored batches survived the kill
    rest = sorted(text for rid, text in records.items() if rid not in set(ids))
    services.retriever.inline_embed = 100  # a long build for this kiosk: questions must not wait for it

    embedded: list[str] = []
    embed = services.embedder.embed

    def counting_embed(texts, **kw):
        embedded.extend(texts)
        return embed(texts, **kw)

    services.embedder.embed = counting_embed
    policy = services.policy(KB, with_llm=False, log_turns=False)
    answer = policy.answer("I am looking for the teal telescope")
    # answered at once, from the lexical index, while the dense index is being completed
    assert answer.faq_id == "teal-telescope" and str(answer.mode) == "faq"
    assert answer.timings_ms.get("lexical_only") == 1.0
    assert services.retriever.wait(KB)
    assert sorted(embedded) == rest  # only what the killed build had not stored; nothing twice
    status = read_index_status(home)
    assert status is not None and status["state"] == "ready"
    assert (status["kept"], status["embedded"], status["done"]) == (STORED * BATCH, len(rest), len(records))
    assert services.retriever.ready(KB)

    result = services.retriever.match(KB, "my purple kettle went missing, where do I fetch it")
    assert "lexical_only" not in result.timings_ms
    assert result.top is not None and result.top.faq_id == "purple-kettle"
    assert services.index.count(KB) == len(records)
    embedded.clear()
    assert services.retriever.prepare(KB, force=True) is not None and embedded == []  # a complete index: no work


def test_kiosk_ask_resumes_with_progress_on_stderr_and_json_on_stdout(home: Path) -> None:
    ask = ["ask", "where is my golden trumpet", "--kb", KB, "--json", "--no-llm"]
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "--home", str(home), *ask],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=REPO,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)  # stdout is the answer alone
    assert answer["faq_id"] == "golden-trumpet" and "lexical_only" not in answer["timings_ms"]
    assert "indexing" in proc.stderr  # the progress bar
    rest = total_records() - STORED * BATCH
    assert f"resumed, {STORED * BATCH} already indexed, {rest} embedded" in proc.stderr
    status = read_index_status(home)
    assert status is not None and status["state"] == "ready" and status["embedded"] == rest


def test_the_health_page_shows_the_index_progress(home: Path) -> None:
    from tests.test_admin_support import make_app, signed_in

    app = make_app(home)
    viewer = signed_in(app, "viewer")
    html = viewer.client.get("/health").text
    assert "Interrupted (the next start resumes it)" in html
    assert f"{STORED * BATCH} of {total_records()} phrasings" in html
    status = json.loads((home / INDEX_STATUS_FILE).read_text())
    (home / INDEX_STATUS_FILE).write_text(json.dumps({**status, "state": "ready", "done": total_records()}))
    html = viewer.client.get("/health").text
    assert "Ready" in html and f"{total_records()} of {total_records()} phrasings (100 %)" in html
