"""A classifier learned from the alternates, with calibrated confidences, trained at index time on CPU.

The model is multinomial logistic regression over three views of every phrasing:
its sentence embedding (all-MiniLM-L6-v2, weighted by :data:`DENSE_WEIGHT`),
word 1-2-gram TF-IDF and character 2-5-gram TF-IDF. The alternates an operator
writes are its training examples. The lexical views catch the small wording
differences that separate close entries ("card not arrived" vs "card not
working"), the embedding the paraphrases.

Its probabilities are sharp but not confidences: they sum to one even for a
question no entry covers. So at index time a small calibrator is also learned,
by cross-validation over the alternates themselves: in each of :data:`FOLDS`
folds a third of the entries is left out entirely (their phrasings play
out-of-scope questions) and a third of the remaining phrasings is held out (they
play in-scope questions). The calibrator is a logistic regression from a
candidate's features (log probability, margin to the best other entry, best
cosine similarity over the entry's phrasings) to "this candidate is the right
answer", with out-of-scope questions weighted to :data:`OOS_PRIOR` of the mass; only the
log probability's weight and the bias are learned per knowledge base (see
:func:`fit_calibration`).
Its output is the score the answer policy compares with its thresholds, so one
set of thresholds works for a 50-entry demo and a 150-entry benchmark alike.

A knowledge base whose entries have no alternates (a FAQ list imported from a website) has nothing to
hold out: every entry's one phrasing is all the classifier learns from, and cross-validation would only
ever see entries it never learned. It gets :data:`SPARSE_CALIBRATION`, fitted once for that case on
CLINC150 with one phrasing per intent (``bench/sparse_calibration.py``). Between one and
:data:`SPARSE_PHRASINGS` phrasings per entry (what approving visitors' questions as alternates makes: a
few entries with alternates, most with none) the sparse and the fitted calibrations are blended in
proportion (:func:`choose_calibration`), so each approval moves the scores a little. A calibrator fitted
on a knowledge base that comes out trusting the classifier's probability less than
:data:`MIN_LOG_P_WEIGHT` (seen with one alternate per entry) is not used.

Entries are weighed alike however many phrasings they have (:func:`balanced_weights`), and an entry with
more phrasings than the typical one has its excess pull on the other entries' phrasings taken off its
intercept (:func:`attraction`): otherwise an entry that gains alternates learns their common words and mean
direction and takes the questions of entries that have none (``tests/test_learned_alternates.py``,
``bench/approval.py``). A knowledge base whose entries have as many phrasings each trains as before.

Everything is deterministic (lbfgs, fixed fold assignment from a fixed seed) and
cached on disk as ``.npz`` (no pickle) under a fingerprint of the training set.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)

FORMAT_VERSION = 6  # 3: two-entry models keep a row per entry; 4: sparse calibration; 5, 6: entries weighed alike
C = 10.0  # inverse regularization of the entry classifier
DENSE_WEIGHT = 2.0  # scale of the embedding block next to the (unit-norm) TF-IDF blocks
FOLDS = 3
OOS_PRIOR = 0.3  # share of out-of-scope questions the calibrator assumes
CALIBRATION_TOP = 3  # candidates per held-out question the calibrator learns from
SEED = 0
MIN_CALIBRATION_ENTRIES = 6
MIN_CALIBRATION_PHRASINGS = 30
LOG_FLOOR = -12.0
COSINE_WEIGHT = 5.6  # fitted on CLINC150 train folds (bench/matching.py --split tune)
MARGIN_WEIGHT = 0.2  # chosen on CLINC150 train folds with its out-of-scope training questions (--split tune)
# Used when a knowledge base is too small to calibrate on itself (fitted on Banking77/CLINC150 train folds):
# weights of (log p, margin, cosine) and the bias. Its margin weight predates MARGIN_WEIGHT and is kept: on
# knowledge bases of 2-5 demo entries (bench/matching.py --dataset small) it answers 83-90 % of their
# questions while 97 % of the rest get the hand-off; weights refitted there with the margin at 0.2 answered
# 97 % but handed off only 84 %, and a tiny knowledge base mostly hears questions it does not cover.
DEFAULT_CALIBRATION = (0.82, 0.63, COSINE_WEIGHT, -4.86)
# With a single entry there is no classifier: the score is the cosine similarity, squashed.
SINGLE_ENTRY_CALIBRATION = (0.0, 0.0, 20.0, -11.0)
# Entries with (almost) no alternates leave nothing to hold out: too few phrasings per entry to calibrate
# on itself. Fitted once on CLINC150's tune split with one phrasing per intent (bench/sparse_calibration.py);
# its log-p weight applies to log p + log N (N entries: the probability relative to a uniform guess), so the
# bias a knowledge base gets is SPARSE_CALIBRATION[3] + SPARSE_CALIBRATION[0] * log N.
SPARSE_CALIBRATION = (0.63, 0.63, 5.6, -6.361)
SPARSE_PHRASINGS = 2.0  # phrasings per entry (question + alternates) below which a KB is calibrated as sparse
ATTRACTION = 1.0  # share of an entry's excess pull on other entries' phrasings taken off its intercept
MIN_LOG_P_WEIGHT = 0.1  # a fitted calibrator that trusts the classifier less than this is not used

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)


def fingerprint(record_ids: Sequence[str], params: str = "") -> str:
    digest = hashlib.sha1(
        f"v{FORMAT_VERSION}|C{C}|d{DENSE_WEIGHT}|f{FOLDS}|o{OOS_PRIOR}|w{COSINE_WEIGHT}|m{MARGIN_WEIGHT}|{params}".encode()
    )
    for rid in sorted(record_ids):
        digest.update(rid.encode())
    return digest.hexdigest()[:16]


def _analyzers():
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(ngram_range=WORD_NGRAMS, sublinear_tf=True, dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=2, dtype=np.float32)
    return word, char


@dataclass
class _Lexicon:
    """A fitted TF-IDF view, stored as plain arrays and applied to one query without scikit-learn's fit state."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    analyzer_kind: str  # "word" or "char"
    _analyze: object = field(default=None, repr=False)

    @classmethod
    def from_vectorizer(cls, vectorizer, kind: str) -> _Lexicon:
        vocab = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        return cls(vocab, vectorizer.idf_.astype(np.float32), kind)

    def analyze(self, text: str) -> list[str]:
        if self._analyze is None:
            word, char = _analyzers()
            self._analyze = (word if self.analyzer_kind == "word" else char).build_analyzer()
        return self._analyze(text)  # type: ignore[operator]

    def transform(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, values) of the sublinear, l2-normalized TF-IDF row of ``text``."""
        counts: dict[int, int] = {}
        for gram in self.analyze(text):
            col = self.vocabulary.get(gram)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[cols]
        norm = float(np.linalg.norm(values))
        return cols, (values / norm if norm > 0 else values)

    def names(self) -> np.ndarray:
        out = np.empty(len(self.vocabulary), dtype=object)
        for gram, col in self.vocabulary.items():
            out[col] = gram
        return out.astype(str)


def _features(vectors: np.ndarray, texts: Sequence[str], word, char, *, fit: bool):
    from scipy import sparse

    w = word.fit_transform(texts) if fit else word.transform(texts)
    c = char.fit_transform(texts) if fit else char.transform(texts)
    return sparse.hstack([sparse.csr_matrix(vectors * DENSE_WEIGHT), w, c], format="csr", dtype=np.float32)


def _fit(texts: Sequence[str], labels: np.ndarray, vectors: np.ndarray):
    """The entry classifier, its two analyzers, and what :func:`_pull_offset` takes off its intercepts
    (measured on the training phrasings' own features, built once here)."""
    from sklearn.linear_model import LogisticRegression

    word, char = _analyzers()
    try:
        feats = _features(vectors, texts, word, char, fit=True)
    except ValueError:  # e.g. every phrasing too short for a character n-gram seen twice
        word, char = _analyzers()
        char.set_params(min_df=1)
        feats = _features(vectors, texts, word, char, fit=True)
    model = LogisticRegression(C=C, max_iter=1000, tol=1e-4)
    model.fit(feats, labels, sample_weight=balanced_weights(labels))
    return model, word, char, _pull_offset(model, feats, labels)


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-phrasing weights that give every entry the same total weight (mean weight 1).

    Unweighted, an entry's share of the training phrasings becomes its prior: an entry that gains
    alternates (approved visitor questions) would pull in the questions of entries that have none.
    """
    _, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    return (len(labels) / (len(counts) * counts[inverse])).astype(np.float64)


def _class_max_cosine(query: np.ndarray, vectors: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """(n_queries, n_classes) best cosine over each class's phrasings."""
    sims = query @ vectors.T
    out = np.full((len(query), len(classes)), -1.0, dtype=np.float32)
    for j, cls in enumerate(classes):
        mask = labels == cls
        if mask.any():
            out[:, j] = sims[:, mask].max(axis=1)
    return out


def candidate_features(log_probs: np.ndarray, cosines: np.ndarray) -> np.ndarray:
    """(n, 3) calibrator inputs per entry: log p, margin to the best other entry, best cosine."""
    log_probs = np.maximum(log_probs, LOG_FLOOR)
    if len(log_probs) > 1:
        order = np.argsort(-log_probs)
        best, second = log_probs[order[0]], log_probs[order[1]]
        others = np.where(np.arange(len(log_probs)) == order[0], second, best)
    else:
        others = np.full_like(log_probs, LOG_FLOOR)
    margin = np.clip(log_probs - others, -10.0, 10.0)
    return np.stack([log_probs, margin, cosines], axis=1).astype(np.float64)


def calibrated(features: np.ndarray, calibration: Sequence[float]) -> np.ndarray:
    w = np.asarray(calibration, dtype=np.float64)
    z = features @ w[:3] + w[3]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _fold_assignment(labels: np.ndarray, classes: list[str]) -> tuple[dict[str, int], np.ndarray]:
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(len(classes))
    class_group = {classes[i]: rank % FOLDS for rank, i in enumerate(perm)}
    sample_fold = np.zeros(len(labels), dtype=np.int64)
    for cls in classes:
        idx = np.flatnonzero(labels == cls)
        order = rng.permutation(len(idx))
        sample_fold[idx[order]] = np.arange(len(idx)) % FOLDS
    return class_group, sample_fold


def calibration_samples(
    texts: Sequence[str], labels: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold (features, correct, is_oos) rows: CALIBRATION_TOP candidates per held-out phrasing."""
    classes = sorted(set(labels.tolist()))
    class_group, sample_fold = _fold_assignment(labels, classes)
    groups = np.array([class_group[c] for c in labels])
    feats, targets, oos_flags = [], [], []
    texts_arr = np.array(texts, dtype=object)
    for fold in range(FOLDS):
        train = (groups != fold) & (sample_fold != fold)
        test = (groups == fold) | (sample_fold == fold)
        train_classes = sorted(set(labels[train].tolist()))
        if len(train_classes) < 2:
            continue
        model, word, char, offset = _fit(list(texts_arr[train]), labels[train], vectors[train])
        test_idx = np.flatnonzero(test)
        test_idx = test_idx[np.isin(labels[test_idx], train_classes) | (groups[test_idx] == fold)]
        logits = model.decision_function(_features(vectors[test_idx], list(texts_arr[test_idx]), word, char, fit=False))
        probs = _softmax(_two_class_logits(logits) - offset)
        cos = _class_max_cosine(vectors[test_idx], vectors[train], labels[train], list(model.classes_))
        model_classes = np.array(model.classes_)
        for row, i in enumerate(test_idx):
            f = candidate_features(np.log(np.maximum(probs[row], 1e-30)), cos[row])
            top = np.argsort(-f[:, 0])[:CALIBRATION_TOP]
            is_oos = groups[i] == fold
            feats.append(f[top])
            targets.append((model_classes[top] == labels[i]) & (not is_oos))
            oos_flags.append(np.full(len(top), is_oos))
    if not feats:
        return np.zeros((0, 3)), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    return np.vstack(feats), np.concatenate(targets), np.concatenate(oos_flags)


def fit_calibration(features: np.ndarray, correct: np.ndarray, is_oos: np.ndarray) -> tuple[float, ...] | None:
    """Logistic calibrator weights (log p, margin, cosine, bias); out-of-scope rows weigh OOS_PRIOR in all.

    The cosine and margin weights are fixed (:data:`COSINE_WEIGHT`, :data:`MARGIN_WEIGHT`): what they
    say about a question no entry covers is the same in any knowledge base, while a knowledge base's
    simulated out-of-scope questions (its own left-out entries) are closer to its entries than real ones
    and would teach it to trust the margin too much (on CLINC150 a fitted margin weight of 0.67 answered
    1.5 points fewer in-scope questions at the same out-of-scope recall). The weight of the log
    probability and the bias are fitted per knowledge base.
    """
    if len(features) == 0 or correct.all() or not correct.any() or not is_oos.any() or is_oos.all():
        return None
    from scipy.optimize import minimize

    weights = np.where(is_oos, OOS_PRIOR / is_oos.sum(), (1.0 - OOS_PRIOR) / (~is_oos).sum())
    y = correct.astype(np.float64)
    offset = MARGIN_WEIGHT * features[:, 1] + COSINE_WEIGHT * features[:, 2]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = features[:, 0] * params[0] + params[1] + offset
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        nll = -(weights * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum()
        grad_z = weights * (p - y)
        grad = np.array([grad_z @ features[:, 0] + 2e-3 * params[0], grad_z.sum()])
        return nll + 1e-3 * params[0] ** 2, grad

    start = np.array([DEFAULT_CALIBRATION[0], DEFAULT_CALIBRATION[3]])
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    a, bias = (float(x) for x in result.x)
    return (a, MARGIN_WEIGHT, COSINE_WEIGHT, bias)


def sparse_calibration(entries: int) -> tuple[float, ...]:
    """:data:`SPARSE_CALIBRATION` for a knowledge base of ``entries`` entries (its log p measured from 1/N)."""
    a, margin, cosine, bias = SPARSE_CALIBRATION
    return (a, margin, cosine, round(bias + a * float(np.log(entries)), 4))


def attraction(log_p: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """How much more each entry with more phrasings than the typical entry draws the other entries'
    phrasings than the typical entry does (log ratio; 0 for the others).

    An entry with many phrasings learns their common words and their mean direction ("card" for a lost-card
    entry with seven phrasings) and would win questions that merely share them; its excess pull, measured
    on the knowledge base's own phrasings of other entries, is taken off its intercept. Entries with the
    typical number of phrasings or fewer keep theirs: a knowledge base whose entries have as many phrasings
    each is left as it is.
    """
    classes = np.asarray(classes, dtype=object)
    others = labels[:, None] != classes[None, :]
    probs = np.exp(log_p) * others  # each phrasing's own entry left out: the others' shares of the rest
    probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
    pull = np.log(np.maximum(probs.sum(axis=0) / np.maximum(others.sum(axis=0), 1), 1e-12))
    counts = (~others).sum(axis=0)
    richer = counts > np.median(counts)
    return np.where(richer, np.maximum(pull - np.median(pull), 0.0), 0.0).astype(np.float32)


def _two_class_logits(logits: np.ndarray) -> np.ndarray:
    """scikit-learn's decision values as one logit per class (two classes come as one column)."""
    return np.stack([np.zeros_like(logits), logits], axis=1) if logits.ndim == 1 else logits


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _pull_offset(model, feats, labels: np.ndarray) -> np.ndarray:
    """What :func:`attraction` takes off each entry's intercept (:data:`ATTRACTION` of it)."""
    log_p = np.log(np.maximum(_softmax(_two_class_logits(model.decision_function(feats))), 1e-30))
    return (ATTRACTION * attraction(log_p, labels, model.classes_)).astype(np.float32)


def sparse_share(labels: np.ndarray) -> float:
    """How far a knowledge base is from the sparse regime: 0 at one phrasing per entry, 1 at
    :data:`SPARSE_PHRASINGS` or more (a knowledge base with enough alternates to calibrate on itself)."""
    per_entry = len(labels) / max(1, len(set(labels.tolist())))
    return float(np.clip((per_entry - 1.0) / (SPARSE_PHRASINGS - 1.0), 0.0, 1.0))


def blend(sparse: Sequence[float], fitted: Sequence[float], share: float) -> tuple[float, ...]:
    """The calibrator whose logit is ``share`` of ``fitted``'s plus the rest of ``sparse``'s."""
    return tuple(round((1.0 - share) * a + share * b, 4) for a, b in zip(sparse, fitted, strict=True))


def choose_calibration(texts: Sequence[str], labels: np.ndarray, vectors: np.ndarray) -> tuple[float, ...] | None:
    """The calibration for a knowledge base of these phrasings; ``None`` for :data:`DEFAULT_CALIBRATION`.

    One phrasing per entry gets :func:`sparse_calibration`; :data:`SPARSE_PHRASINGS` or more per entry a
    calibration fitted on the knowledge base itself (when it is big enough and the fit trusts the
    classifier). In between (what approving visitors' questions as alternates makes: a few entries with
    alternates, most with none) the two are blended by :func:`sparse_share`, so that each approval moves the
    scores a little instead of one approval switching every score of the knowledge base to another regime.
    """
    n_entries = len(set(labels.tolist()))
    share = sparse_share(labels)
    fitted = None
    if share > 0 and n_entries >= MIN_CALIBRATION_ENTRIES and len(labels) >= MIN_CALIBRATION_PHRASINGS:
        fitted = fit_calibration(*calibration_samples(texts, labels, vectors))
        if fitted is not None and fitted[0] < MIN_LOG_P_WEIGHT:
            _LOGGER.info("calibration learned a log-p weight of %.3f; not using it", fitted[0])
            fitted = None
    if share >= 1.0:
        return fitted
    sparse = sparse_calibration(n_entries)
    return sparse if fitted is None else blend(sparse, fitted, share)


@dataclass
class IntentClassifier:
    """Softmax model over the knowledge base's entries, plus its calibrator."""

    classes: list[str]
    coef: np.ndarray  # (n_classes, dim + n_word + n_char)
    intercept: np.ndarray  # (n_classes,)
    word: _Lexicon
    char: _Lexicon
    calibration: tuple[float, ...] = DEFAULT_CALIBRATION
    dim: int = 384

    @classmethod
    def train(cls, keys: Sequence[str], vectors: np.ndarray, texts: Sequence[str]) -> IntentClassifier | None:
        labels = np.array(list(keys), dtype=object)
        classes = sorted(set(labels.tolist()))
        if len(classes) < 2:
            return None
        start = time.perf_counter()
        calibration = choose_calibration(texts, labels, vectors)
        cal_seconds = time.perf_counter() - start
        model, word, char, offset = _fit(list(texts), labels, vectors)
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # scikit-learn keeps one row, the logit of the second class: softmax([0, z])
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        intercept = intercept - offset
        _LOGGER.info(
            "classifier trained on %d phrasings, %d entries in %.1f s (calibration %.1f s: %s)",
            len(labels),
            len(classes),
            time.perf_counter() - start,
            cal_seconds,
            "default" if calibration is None else ", ".join(f"{x:.3f}" for x in calibration),
        )
        return cls(
            [str(c) for c in model.classes_],
            coef.astype(np.float32),
            intercept.astype(np.float32),
            _Lexicon.from_vectorizer(word, "word"),
            _Lexicon.from_vectorizer(char, "char"),
            calibration or DEFAULT_CALIBRATION,
            int(vectors.shape[1]),
        )

    def log_probabilities(self, vector: np.ndarray, text: str) -> np.ndarray:
        """Log probabilities over :attr:`classes` for one query."""
        logits = self.coef[:, : self.dim] @ (vector * DENSE_WEIGHT) + self.intercept
        offset = self.dim
        for lexicon in (self.word, self.char):
            cols, values = lexicon.transform(text)
            if len(cols):
                logits = logits + self.coef[:, offset + cols] @ values
            offset += len(lexicon.vocabulary)
        logits = logits - logits.max()
        return logits - np.log(np.exp(logits).sum())

    def probabilities(self, vector: np.ndarray, text: str) -> dict[str, float]:
        return dict(zip(self.classes, np.exp(self.log_probabilities(vector, text)).tolist(), strict=True))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            classes=np.array(self.classes, dtype=str),
            coef=self.coef,
            intercept=self.intercept,
            word_vocab=self.word.names(),
            word_idf=self.word.idf,
            char_vocab=self.char.names(),
            char_idf=self.char.idf,
            calibration=np.array(self.calibration, dtype=np.float64),
            dim=np.array([self.dim]),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentClassifier | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                word = _Lexicon({str(g): i for i, g in enumerate(data["word_vocab"])}, data["word_idf"], "word")
                char = _Lexicon({str(g): i for i, g in enumerate(data["char_vocab"])}, data["char_idf"], "char")
                return cls(
                    [str(c) for c in data["classes"]],
                    data["coef"],
                    data["intercept"],
                    word,
                    char,
                    tuple(float(x) for x in data["calibration"]),
                    int(data["dim"][0]),
                )
        except (OSError, KeyError, ValueError) as exc:
            _LOGGER.warning("ignoring unreadable classifier cache %s: %s", path, exc)
            return None
