"""The overnight fine-tune: real training on a tiny knowledge base, the held-out check deciding, the atomic switch the
kiosk's embedder follows, and the nightly job that a visitor's arrival stops (over the fast fakes)."""

from __future__ import annotations

import json
import os
import random
import threading
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

import numpy as np
import pytest

from core.errors import SettingsError
from core.home import KioskHome
from core.models import ModelManager
from core.settings import DialogSection, LlmSection, load_settings
from dialog.policy import AnswerPolicy
from knowledge.embeddings import POINTER, Embedder, choose_model
from knowledge.entries import FaqEntry
from knowledge.finetune import (
    LAST_RUN,
    FinetuneOptions,
    epoch_batches,
    finetune_kb,
    last_runs,
    split_phrasings,
    switch,
    too_few,
)
from knowledge.store import FaqStore
from runtime.events import TurnState
from runtime.nightly import NightlyFinetune, Schedule, parse_time
from runtime.turn_loop import TurnLoop
from speech.listener import Listener
from tests.fakes import FakeVoice, HeldSink, MarkedWake, ScriptedAsr, ScriptedRetriever, end_of_turn, wait_until

KB = "tiny"
ENTRIES = [
    FaqEntry(
        "hours",
        "What are your opening hours?",
        "We are open from 9 to 5.",
        alternates=("When do you open?", "Are you open on Saturday?", "What time do you close?", "Opening times"),
    ),
    FaqEntry(
        "card",
        "I lost my card",
        "Call 0800 123 456 at once.",
        alternates=("My card was stolen", "How do I block my card?", "Card missing", "Someone took my bank card"),
    ),
    FaqEntry(
        "parking",
        "Is there parking?",
        "Yes, behind the branch.",
        alternates=("Where can I park?", "Car park", "Can I leave my car here?", "Is parking free?"),
    ),
    FaqEntry(
        "wifi",
        "Is there wifi?",
        "Free Wi-Fi in the lobby.",
        alternates=("Wireless internet", "What is the wifi password?", "Can I get online here?", "Internet access"),
    ),
]
QUICK = FinetuneOptions(minutes=5.0, batch_size=4, max_steps=4, threads=1)


def _home(tmp_path: Path, entries: list[FaqEntry] = ENTRIES) -> tuple[KioskHome, FaqStore, Path]:
    home = KioskHome(tmp_path / "home").ensure()
    store = FaqStore.open(home.database)
    store.create_kb(KB, title="Tiny")
    store.replace_all(KB, entries, changed_by="test")
    base = ModelManager(settings=load_settings(None, env={}), home=home).require("embeddings")
    return home, store, base


def _folders(home: KioskHome) -> list[str]:
    return sorted(p.name for p in home.models_dir.glob("embeddings-*"))


def test_too_few_phrasings_is_skipped_with_a_reason(tmp_path: Path) -> None:
    bare = [FaqEntry(e.id, e.question, e.answer) for e in ENTRIES]
    home, store, base = _home(tmp_path, bare)
    report = finetune_kb(store=store, kb=KB, base_model=base, models_dir=home.models_dir, options=QUICK)
    assert report.outcome == "skipped" and "1.0 phrasings per entry" in report.reason
    assert report.steps == 0 and _folders(home) == [] and not (home.models_dir / POINTER).exists()
    assert last_runs(home.models_dir)[KB]["kb_version"] == store.kb_version(KB)  # not retried until it changes
    assert "needs 2 or more" in too_few({"a": ["x", "y", "z"]}, QUICK)
    assert "held out" in too_few({"a": ["x", "y"], "b": ["u", "v"]}, QUICK)


def test_the_held_out_phrasings_are_stable_and_never_a_question() -> None:
    groups = {e.id: [e.question, *e.alternates] for e in ENTRIES} | {"short": ["Only", "Two"]}
    train, held = split_phrasings(groups, QUICK)
    assert (train, held) == split_phrasings(groups, QUICK)  # the same every night
    assert {fid for _, fid in held} == {"hours", "card", "parking", "wifi"}
    for text, fid in held:
        assert text != groups[fid][0] and text not in train[fid] and len(train[fid]) >= 2
    assert train["short"] == ["Only", "Two"]
    batches = epoch_batches(train, 3, random.Random(0))
    assert all(len(b) >= 2 for b in batches)
    for batch in batches:  # no entry twice in a batch: the other pairs are its negatives
        owners = [next(fid for fid, texts in train.items() if anchor in texts) for anchor, _ in batch]
        assert len(set(owners)) == len(owners)
    assert sorted(a for b in batches for a, _ in b) == sorted(t for texts in train.values() for t in texts)


def test_a_model_that_does_not_beat_the_margin_is_not_switched_to(tmp_path: Path) -> None:
    home, store, base = _home(tmp_path)
    options = FinetuneOptions(minutes=5.0, batch_size=4, max_steps=1, threads=1, min_gain=1.0)  # no model gains 100 %
    report = finetune_kb(store=store, kb=KB, base_model=base, models_dir=home.models_dir, options=options)
    assert report.outcome == "kept" and "the current model stays" in report.reason
    assert report.steps == 1 and report.heldout == 4 and report.before_top1 is not None
    assert _folders(home) == [] and not (home.models_dir / POINTER).exists()
    assert choose_model(base, home.models_dir, KB).model_path == base


def test_the_finetune_trains_switches_atomically_and_the_kiosk_loads_it(tmp_path: Path) -> None:
    from runtime.services import KioskServices

    home, store, base = _home(tmp_path)
    kiosk = KioskServices(settings=load_settings(None, env={"KIOSK_DIALOG__KNOWLEDGE_BASE": KB}), home=home)
    assert kiosk.embedding_choice.model_path == base  # a kiosk started before the switch
    options = FinetuneOptions(minutes=5.0, batch_size=4, max_steps=4, threads=1, min_gain=-1.0)
    report = finetune_kb(store=store, kb=KB, base_model=base, models_dir=home.models_dir, options=options)
    assert report.outcome == "switched" and report.steps == 4, report.reason
    folder = home.models_dir / report.model
    assert _folders(home) == [report.model] and (folder / "finetune.json").is_file()
    pointer = json.loads((home.models_dir / POINTER).read_text())
    assert pointer["active"][KB]["folder"] == report.model
    assert not list(home.models_dir.glob(".*.tmp"))

    probe = ["Where do I leave the car?", "I cannot find my card"]
    assert not np.allclose(Embedder(base).embed(probe), Embedder(folder).embed(probe), atol=1e-4)  # it really trained

    # the kiosk answering from this knowledge base embeds with the fine-tuned model, from the index built beside it
    retriever = kiosk.reload_matching(KB)  # what the nightly job hands the running kiosk's policy
    assert kiosk.embedding_choice.finetuned == report.model and kiosk.embedder.model_path == folder
    assert retriever is kiosk.retriever and retriever.embedder.model_path == folder
    assert kiosk.index.path == folder / "chroma" and kiosk.index.count(KB) == report.index_records == 20
    assert retriever.prepare(KB, force=True).kept == 20  # built before the switch: nothing left to embed
    assert retriever.match(KB, "my card was stolen").top.faq_id == "card"
    other = KioskServices(settings=load_settings(None, env={}), home=home)  # another knowledge base: the base model
    assert other.embedder.model_path == base and other.index.path == home.chroma_dir

    # a switch that fails half-way leaves the pointer as it was
    before = (home.models_dir / POINTER).read_bytes()

    def broken(src, dst):
        raise OSError("disk full")

    real = os.replace
    os.replace = broken
    try:
        with pytest.raises(OSError):
            switch(home.models_dir, KB, "embeddings-tiny-other", base)
    finally:
        os.replace = real
    assert (home.models_dir / POINTER).read_bytes() == before


def _loop(tmp_path: Path) -> tuple[TurnLoop, AnswerPolicy]:
    """A live turn loop over the fakes (a microphone, so a tap starts listening), on the attract screen."""
    store = FaqStore.open(tmp_path / "loop.db")
    store.create_kb("bank", title="Bank")
    store.upsert("bank", ENTRIES[0])
    policy = AnswerPolicy(
        kb="bank",
        store=store,
        retriever=ScriptedRetriever({}),
        dialog=DialogSection(knowledge_base="bank", generate=False),
        llm_settings=LlmSection(),
        llm=None,
        turn_log=None,
    )
    listener = Listener(endpoint=end_of_turn(), asr=ScriptedAsr(), wake=MarkedWake(), require_wake=False)
    loop = TurnLoop(policy=policy, tts=FakeVoice(), sink=HeldSink(), listener=listener, emit=lambda e: None)
    loop.start()
    return loop, policy


def test_a_visitor_arriving_stops_the_nightly_finetune(tmp_path: Path) -> None:
    home, store, base = _home(tmp_path)
    loop, _ = _loop(tmp_path)
    started = threading.Event()

    def job(cancel: threading.Event) -> dict:  # the real fine-tune, in this process, told to stop by ``cancel``
        started.set()
        options = FinetuneOptions(minutes=5.0, batch_size=4, max_steps=1000, epochs=100, threads=1)
        return finetune_kb(
            store=store, kb=KB, base_model=base, models_dir=home.models_dir, options=options, should_stop=cancel.is_set
        ).to_dict()

    switched: list[dict] = []
    nightly = NightlyFinetune(
        kb=KB,
        schedule=Schedule(datetime.now().time().replace(second=0, microsecond=0), 3600.0, 0.0),
        state=lambda: loop.state,
        changed=lambda: True,
        job=job,
        on_switched=switched.append,
        poll_s=0.01,
    )
    nightly.start()
    try:
        assert started.wait(30)
        loop.tap()  # a visitor taps the screen
        assert wait_until(lambda: nightly.results)
    finally:
        nightly.stop(30)
    assert loop.state == TurnState.LISTENING
    assert nightly.results[0]["outcome"] == "stopped" and switched == []
    assert _folders(home) == [] and not list(home.models_dir.glob("*.partial"))
    assert not (home.models_dir / POINTER).exists() and not (home.models_dir / LAST_RUN).exists()


def test_the_nightly_job_starts_with_the_live_kiosk_of_its_own_knowledge_base(tmp_path: Path) -> None:
    from runtime.nightly import start_nightly
    from runtime.services import KioskServices

    loop, policy = _loop(tmp_path)
    home = KioskHome(tmp_path / "home").ensure()

    def nightly(**env: str):
        env = {"KIOSK_DIALOG__KNOWLEDGE_BASE": "bank"} | {f"KIOSK_LEARNING__{k.upper()}": v for k, v in env.items()}
        services = KioskServices(settings=load_settings(None, env=env), home=home)
        return start_nightly(services, loop, policy)

    assert nightly(finetune_at="") is None  # turned off
    assert nightly(finetune_at="3 o'clock") is None  # logged as a settings error; the kiosk goes on
    started = nightly(finetune_at="03:00")
    assert started is not None and started.kb == "bank" and started.schedule.at == dtime(3, 0)
    started.stop(5)
    loop.shutdown()


def test_the_nightly_job_runs_once_a_night_when_idle_and_changed() -> None:
    clock = [datetime(2026, 12, 1, 2, 0)]
    state = [TurnState.ATTRACT]
    changed = [True]
    calls: list[int] = []
    switched: list[dict] = []

    def job(cancel: threading.Event) -> dict:
        calls.append(1)
        return {"kb": KB, "outcome": "switched", "model": "embeddings-tiny-x"}

    nightly = NightlyFinetune(
        kb=KB,
        schedule=Schedule(dtime(3, 0), 4 * 3600.0, 0.0),
        state=lambda: state[0],
        changed=lambda: changed[0],
        job=job,
        on_switched=switched.append,
        now=lambda: clock[0],
    )
    assert nightly.check() is None  # 02:00: before the window
    clock[0] = datetime(2026, 12, 1, 3, 30)
    state[0] = TurnState.SPEAKING
    assert nightly.check() is None  # a visitor is there
    state[0] = TurnState.ATTRACT
    assert nightly.check()["outcome"] == "switched" and switched[0]["model"] == "embeddings-tiny-x"
    assert nightly.check() is None and len(calls) == 1  # once a night
    clock[0] = datetime(2026, 12, 2, 3, 5)
    changed[0] = False
    assert nightly.check() is None and len(calls) == 1  # the knowledge base did not change
    clock[0] = datetime(2026, 12, 3, 3, 5)
    changed[0] = True
    assert nightly.check() is not None and len(calls) == 2
    assert Schedule(dtime(23, 30), 3 * 3600.0, 0.0).night(datetime(2026, 12, 4, 1, 0)) == "2026-12-03"


def test_a_bad_nightly_time_is_a_clear_settings_error() -> None:
    assert parse_time("03:00") == dtime(3, 0)
    for bad in ("3am", "25:00", "03"):
        with pytest.raises(SettingsError) as info:
            parse_time(bad)
        assert info.value.code == "settings-invalid" and "learning.finetune_at" in str(info.value)


def test_kb_finetune_cli_reports_a_skipped_knowledge_base(kiosk_cli, kiosk_home: Path) -> None:
    store = FaqStore.open(KioskHome(kiosk_home).ensure().database)
    store.create_kb(KB, title="Tiny")
    store.replace_all(KB, [FaqEntry(e.id, e.question, e.answer) for e in ENTRIES], changed_by="test")
    result = kiosk_cli("kb", "finetune", "--kb", KB, "--json")
    assert result.returncode == 0, result.stderr
    report = result.json()
    assert report["outcome"] == "skipped" and "phrasings per entry" in report["reason"]
