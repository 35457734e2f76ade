"""The alternates classifier and its calibrator: what a knowledge base learns, and the scores it gives."""

from __future__ import annotations

import numpy as np

from core.settings import DialogSection
from knowledge.classifier import (
    DEFAULT_CALIBRATION,
    OOS_PRIOR,
    IntentClassifier,
    calibrated,
    calibration_samples,
    candidate_features,
    fit_calibration,
)

ENTRIES = {
    "hours": ["when are you open", "what are your opening hours", "what time do you close", "are you open today"],
    "card": ["I lost my card", "my card was stolen", "block my bank card", "report a lost card"],
    "cash": ["where is the cash machine", "where can I withdraw money", "is there an ATM", "nearest cash point"],
    "fees": ["how much does a transfer cost", "what are your fees", "is there a charge", "transfer fee"],
    "loan": ["can I get a loan", "apply for a mortgage", "personal loan rates", "borrow money"],
    "wifi": ["is there wifi", "wifi password", "can I use the internet", "free wireless access"],
    "toilet": ["where are the toilets", "is there a restroom", "where is the bathroom", "toilets please"],
    "park": ["where can I park", "is there parking", "car park", "parking for visitors"],
}


def _data():
    texts = [t for phrasings in ENTRIES.values() for t in phrasings]
    labels = np.array([k for k, phrasings in ENTRIES.items() for _ in phrasings], dtype=object)
    # Deterministic stand-in embeddings: one direction per entry plus per-phrasing noise.
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(len(ENTRIES), 16))
    index = {k: i for i, k in enumerate(ENTRIES)}
    vectors = np.array([centres[index[label]] + 0.6 * rng.normal(size=16) for label in labels])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, labels, vectors.astype(np.float32)


def _log_loss(calibration, features: np.ndarray, correct: np.ndarray, is_oos: np.ndarray) -> float:
    """What the calibrator minimizes: log loss, the out-of-scope rows weighing OOS_PRIOR in all."""
    p = np.clip(calibrated(features, calibration), 1e-12, 1 - 1e-12)
    loss = -np.where(correct, np.log(p), np.log(1 - p))
    return float(OOS_PRIOR * loss[is_oos].mean() + (1 - OOS_PRIOR) * loss[~is_oos].mean())


def test_fitting_on_a_knowledge_base_separates_right_answers_from_out_of_scope_questions() -> None:
    features, correct, is_oos = calibration_samples(*_data())
    assert len(features) and is_oos.any() and correct.any()
    calibration = fit_calibration(features, correct, is_oos)
    assert calibration is not None
    assert calibration[0] > 0  # a more probable entry is more likely the right one
    # The fit is worth it: on this knowledge base it beats the calibration shipped for small ones.
    assert _log_loss(calibration, features, correct, is_oos) < _log_loss(DEFAULT_CALIBRATION, features, correct, is_oos)
    # At the policy's default thresholds, held-out phrasings get their right entry, while the phrasings of
    # left-out entries (out of scope) and the wrong entries of in-scope phrasings fall back.
    dialog = DialogSection()
    scores = calibrated(features, calibration)
    assert (scores[correct] >= dialog.faq_threshold).mean() >= 0.9
    assert (scores[is_oos] < dialog.clarify_threshold).mean() >= 0.85
    assert (scores[~correct & ~is_oos] < dialog.clarify_threshold).mean() >= 0.9


def test_calibrated_score_rises_with_probability_and_similarity() -> None:
    features, correct, is_oos = calibration_samples(*_data())
    calibration = fit_calibration(features, correct, is_oos)
    sure = candidate_features(np.log(np.array([0.9, 0.05, 0.05])), np.array([0.9, 0.3, 0.2]))
    unsure = candidate_features(np.log(np.array([0.4, 0.35, 0.25])), np.array([0.4, 0.35, 0.3]))
    far = candidate_features(np.log(np.array([0.9, 0.05, 0.05])), np.array([0.2, 0.1, 0.1]))
    s_sure, s_unsure, s_far = (float(calibrated(f, calibration)[0]) for f in (sure, unsure, far))
    assert 0.0 <= s_unsure < s_sure <= 1.0
    # A question far from every phrasing is not trusted just because one entry wins the classifier.
    assert s_far < s_sure


def test_no_calibration_without_out_of_scope_examples() -> None:
    features = np.array([[0.0, 1.0, 0.9], [-2.0, -1.0, 0.4]])
    assert fit_calibration(features, np.array([True, False]), np.array([False, False])) is None


def test_a_two_entry_knowledge_base_gets_real_probabilities() -> None:
    """scikit-learn fits two classes as one logit; the model must still give each entry its own probability."""
    texts, labels, vectors = _data()
    keep = np.isin(labels, ["hours", "toilet"])
    model = IntentClassifier.train(list(labels[keep]), vectors[keep], list(np.array(texts)[keep]))
    assert model is not None and model.classes == ["hours", "toilet"]
    hours = model.probabilities(vectors[0], "when do you open")
    toilet = model.probabilities(vectors[keep][-1], "where is the bathroom")
    assert abs(sum(hours.values()) - 1) < 1e-6 and abs(sum(toilet.values()) - 1) < 1e-6
    assert hours["hours"] > 0.8 and toilet["toilet"] > 0.8


def test_a_knowledge_base_without_alternates_gets_the_sparse_calibration() -> None:
    """One phrasing per entry (a FAQ list as imported) leaves nothing to hold out: the calibration fitted for
    that case is used, not the per-knowledge-base fit (nothing to fit) nor the default for small ones."""
    from knowledge.classifier import sparse_calibration

    texts, labels, vectors = _data()
    first = np.array([list(labels).index(k) for k in ENTRIES])
    model = IntentClassifier.train(list(labels[first]), vectors[first], list(np.array(texts)[first]))
    assert model is not None and model.calibration == sparse_calibration(len(ENTRIES))
    full = IntentClassifier.train(list(labels), vectors, texts)
    assert full is not None and full.calibration != sparse_calibration(len(ENTRIES))
    # the same question as sure of its entry among 8 as among 800 (log p measured from the uniform 1 / N)
    sure8 = calibrated(np.array([[np.log(0.5), 1.0, 0.8]]), sparse_calibration(8))
    sure800 = calibrated(np.array([[np.log(0.5) + np.log(8 / 800), 1.0, 0.8]]), sparse_calibration(800))
    assert abs(float(sure8[0]) - float(sure800[0])) < 1e-3
