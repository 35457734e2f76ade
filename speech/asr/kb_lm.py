"""Knowledge-base bias for pocketsphinx: re-rank the generic model's n-best list with an interpolated model.

A language model built only from the knowledge base's questions is too narrow
(visitors word things their own way; bench/voice.py measured 26.9 % WER
against 18.1 % for the generic model), and an ARPA model mixing the knowledge
base's n-grams with the generic model's frequent words and bigrams was no
better than the generic model on the tune split. What helps is to decode with
the full generic model and re-rank its n-best list with

    P(w | h) = weight * P_kb(w | h) + (1 - weight) * P_generic(w | h)

where ``P_kb`` is an interpolated absolute-discounting trigram model of the
knowledge base's questions, alternates and answers, and ``P_generic`` is the
generic trigram model itself (queried through pocketsphinx's
``NGramModel.prob``, so nothing large is read or written).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

LOG10_BASE = math.log10(1.0001)  # pocketsphinx's log-math base
BOS, EOS = "<s>", "</s>"


class KbTrigrams:
    """Interpolated absolute-discounting trigram model of a small corpus."""

    def __init__(self, sentences: Iterable[list[str]], vocabulary_size: int, discount: float) -> None:
        self.d = discount
        self.vocabulary_size = max(1, vocabulary_size)
        self.counts: list[Counter] = [Counter(), Counter(), Counter()]
        for words in sentences:
            seq = [BOS, *words, EOS]
            for i in range(1, len(seq)):
                self.counts[0][(seq[i],)] += 1
                self.counts[1][tuple(seq[i - 1 : i + 1])] += 1
                if i >= 2:
                    self.counts[2][tuple(seq[i - 2 : i + 1])] += 1
        self.total = sum(self.counts[0].values())
        self.context: list[Counter] = [Counter(), Counter()]  # count of history, and of its distinct followers
        self.followers: list[Counter] = [Counter(), Counter()]
        for order in (1, 2):
            for gram, n in self.counts[order].items():
                self.context[order - 1][gram[:-1]] += n
                self.followers[order - 1][gram[:-1]] += 1

    def prob(self, word: str, history: tuple[str, ...]) -> float:
        p = (max(self.counts[0][(word,)] - self.d, 0) + self.d * len(self.counts[0]) / self.vocabulary_size) / (
            self.total
        )
        for order in (1, 2):
            if len(history) < order:
                break
            h = history[-order:]
            c = self.context[order - 1][h]
            if not c:
                break
            n = self.counts[order][(*h, word)]
            p = (max(n - self.d, 0) + self.d * self.followers[order - 1][h] * p) / c
        return p


LN_BASE = math.log(1.0001)


class KbRescorer:
    """Re-ranks a decoder's n-best list with the generic model interpolated with the knowledge base's trigrams.

    A hypothesis's decoder score holds ``lw`` times its generic language-model
    score; the re-ranking adds ``scale`` times the difference between the
    interpolated and the generic log probability, so phrasing the knowledge
    base uses wins ties that the acoustics leave open, while wording outside
    it keeps the generic model's probability (times ``1 - weight``).
    """

    def __init__(
        self,
        corpus: Iterable[str],
        generic_logprob: Callable[[list[str]], int],
        *,
        weight: float,
        scale: float,
        vocabulary_size: int,
        discount: float = 0.6,
    ) -> None:
        self.kb = KbTrigrams([line.split() for line in corpus if line.split()], vocabulary_size, discount)
        self.generic_logprob = generic_logprob
        self.weight = weight
        self.scale = scale

    def bonus(self, text: str) -> float:
        """Log-probability gain (pocketsphinx log units) of ``text`` under the mixed over the generic model."""
        seq = [BOS, *text.split(), EOS]
        gain = 0.0
        for i in range(1, len(seq)):
            history = tuple(seq[max(0, i - 2) : i])
            g = 10 ** (self.generic_logprob([seq[i], *reversed(history)]) * LOG10_BASE)
            k = self.kb.prob(seq[i], history)
            gain += math.log((self.weight * k + (1 - self.weight) * g) / max(g, 1e-300))
        return gain / LN_BASE

    def best(self, nbest: Iterable[tuple[str, int]]) -> str | None:
        """The hypothesis text with the highest re-ranked score, or None for an empty list."""
        scored = [(score + self.scale * self.bonus(text), text) for text, score in nbest]
        return max(scored)[1] if scored else None
