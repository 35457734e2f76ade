"""The classifier fitted in a child process (knowledge/training.py), as the live kiosk does after an FAQ edit."""

from __future__ import annotations

import subprocess

import numpy as np

from knowledge import training
from knowledge.classifier import IntentClassifier
from tests.test_classifier import ENTRIES, _data


def test_a_child_process_trains_the_same_classifier_as_this_process():
    texts, labels, vectors = _data()
    here = IntentClassifier.train(list(labels), vectors, texts)
    child = training.train_in_child(list(labels), vectors, texts)
    assert child is not None and child.classes == here.classes
    np.testing.assert_allclose(child.coef, here.coef, atol=1e-3)
    for vector, text, label in zip(vectors, texts, labels, strict=True):
        probabilities = child.probabilities(vector, text)
        assert max(probabilities, key=probabilities.get) == label
    np.testing.assert_allclose(child.calibration, here.calibration, atol=1e-3)


def test_one_entry_has_nothing_to_train_in_a_child_either():
    texts, labels, vectors = _data()
    keep = labels == next(iter(ENTRIES))
    assert IntentClassifier.train(list(labels[keep]), vectors[keep], list(np.array(texts)[keep])) is None
    assert training.train_in_child(list(labels[keep]), vectors[keep], list(np.array(texts)[keep])) is None


def test_a_failing_child_falls_back_to_training_here(monkeypatch, caplog):
    texts, labels, vectors = _data()

    def crashed(command, **kw):
        return subprocess.CompletedProcess(command, -9, "", "Killed")

    monkeypatch.setattr(training.subprocess, "run", crashed)
    model = training.train_in_child(list(labels), vectors, texts)
    assert model is not None and sorted(model.classes) == sorted(ENTRIES)
    assert "exited with -9" in caplog.text


def test_the_live_kiosk_retrains_in_a_child(tmp_path, monkeypatch):
    from core.home import KioskHome
    from core.settings import load_settings
    from runtime.services import KioskServices

    home = KioskHome(tmp_path / "home").ensure()
    services = KioskServices(settings=load_settings(home.settings_file), home=home)
    services.run_live()
    assert services.retriever.train_in_child
    children = []
    real = training.train_in_child

    def counted(*args):
        children.append(len(args[0]))
        return real(*args)

    monkeypatch.setattr("knowledge.retrieval.train_in_child", counted)
    kb = services.kb_name()
    services.retriever.prepare(kb)
    assert children, "the classifier was not trained in a child process"
    assert services.retriever.match(kb, "I lost my card").top is not None
