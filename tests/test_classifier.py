"""The alternates classifier's calibrator: which weights a knowledge base learns and which are fixed."""

from __future__ import annotations

import numpy as np

from knowledge.classifier import (
    COSINE_WEIGHT,
    MARGIN_WEIGHT,
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


def test_knowledge_base_fits_log_probability_weight_and_bias_only() -> None:
    features, correct, is_oos = calibration_samples(*_data())
    assert len(features) and is_oos.any() and correct.any()
    calibration = fit_calibration(features, correct, is_oos)
    assert calibration is not None
    log_p_weight, margin_weight, cosine_weight, bias = calibration
    assert margin_weight == MARGIN_WEIGHT and cosine_weight == COSINE_WEIGHT
    assert log_p_weight > 0  # a more probable entry is more likely the right one
    assert np.isfinite(bias)


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
