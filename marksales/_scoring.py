"""Scoring over the portable form: TF-IDF values, every head's decision, calibration, evidence.

Numpy and the standard library only: this module never imports scikit-learn or pickle
(``_export.to_portable`` is the one function that reads a fitted Pipeline). The arithmetic reproduces
scikit-learn's ``TfidfVectorizer`` (sublinear tf, smoothed idf, l2 norm per block), ``FeatureUnion``,
``LogisticRegression.decision_function`` and ``CalibratedClassifierCV(method="sigmoid")``, so
probabilities agree with ``Pipeline.predict_proba`` to rounding error (``tests/test_portable.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ._features import Features, IntArray
from ._format import PortableModel, table_of

FloatArray = npt.NDArray[np.float64]
_ONES = np.ones(4096)
_LOG_TF = np.log(np.maximum(np.arange(4096), 1)) + 1.0  # 1 + log(count) for the counts a text has


def sigmoid_calibrated(a: float, b: float, d: float) -> float:
    """Platt's calibrated probability ``1 / (1 + exp(a * d + b))`` of one decision value ``d``, as
    scikit-learn's sigmoid calibrator computes it (for ``a * d + b`` beyond 700 exp() would overflow, and
    the probability is 0 anyway)."""
    z = a * d + b
    return 1.0 / (1.0 + math.exp(z)) if z < 700.0 else 0.0


def _total(values: FloatArray) -> float:
    """The sum of ``values`` (a dot product with ones for the usual short input: a third of the cost)."""
    n = values.size
    return float(values.dot(_ONES[:n])) if n <= _ONES.size else float(np.add.reduce(values))


class Scorer:
    """Inference over a ``PortableModel``: its ``Features``, then every head's decision and probabilities.

    ``evidence_weights`` (one per feature; the Model decides them) is what each feature's presence adds
    to a text's evidence. Thread-safe, as ``Features`` is.
    """

    def __init__(self, model: PortableModel, evidence_weights: FloatArray | None = None) -> None:
        self.model = model
        self.features = Features(model)
        self.n_features = self.features.n_features
        self._split = self.features.split
        # One row per feature: its idf, then its coefficient in every head (the lean's decision columns, one
        # for two classes as in scikit-learn, then the scope head's when the model has one). A text costs
        # one gather of its rows and, per block of features (words, characters), one dot product of its
        # TF-IDF values before the norm with those rows: every head's share of the decision at once.
        self._table = table_of(model)
        self._intercepts = np.concatenate(
            [model.intercept] + ([[model.scope.intercept]] if model.scope is not None else [])
        )
        self._intercept_list: list[float] = self._intercepts.tolist()
        self.n_lean = model.coef.shape[0]
        self._evidence_w = np.zeros(self.n_features) if evidence_weights is None else np.asarray(evidence_weights,
                                                                                                  float)
        if self._evidence_w.shape != (self.n_features,):
            raise ValueError(f"evidence_weights must have one value per feature ({self.n_features}), "
                             f"not shape {self._evidence_w.shape}")
        # When only the first features carry weight (word features come first), sums stop there.
        weighted = np.flatnonzero(self._evidence_w)
        self._evidence_end: int | None = (
            None if weighted.size and weighted[-1] >= self._split else self._split
        )
        if self._evidence_end is not None:  # keep only the weighted prefix
            self._evidence_w = self._evidence_w[: self._evidence_end].copy()

    # ---------------------------------------------------------------- TF-IDF and decisions

    def _sublinear(self, counts: IntArray, total: int) -> FloatArray:
        """``1 + log(count)`` for each count (a table lookup for the counts a text of ``total`` has)."""
        return _LOG_TF[counts] if total < _LOG_TF.size else np.log(counts) + 1.0

    def tfidf(self, text: str) -> tuple[IntArray, FloatArray]:
        """The text's non-zero TF-IDF features: sorted feature indices and their values (``1 + log(count)``
        times idf, each block divided by its l2 norm)."""
        idx, counts, total = self.features.counts(text)
        v = self._sublinear(counts, total) * self._table[idx, 0]
        k = int(idx.searchsorted(self._split))
        for block in (v[:k], v[k:]):  # views: scaled in place
            if block.size:  # idf and 1 + log(count) are positive, so the norm is too
                block *= 1.0 / math.sqrt(block.dot(block))
        return idx, v

    def decisions(self, text: str) -> tuple[list[float], float]:
        """Every head's decision value for ``text`` (the lean's columns, then the scope head's), and its evidence.

        The one scoring path: ``Model.classify``, ``predict_proba`` and ``relevance`` all come through here.
        Per block, ``coef . u / norm(u)`` of the values ``u = (1 + log(count)) * idf`` is ``coef . tfidf``
        of ``tfidf`` (the explanation's values), to rounding.
        """
        idx, counts, total = self.features.counts(text)
        d = self._intercept_list
        if total == 0:
            return list(d), 0.0
        rows = self._table.take(idx, axis=0)  # a fresh array
        u = rows[:, 0]
        np.multiply(self._sublinear(counts, total), u, out=u)  # the idf column becomes the TF-IDF values u
        k = int(idx.searchsorted(self._split))
        for lo, hi in ((0, k), (k, idx.size)):
            if lo < hi:
                # [u . u, u . coef of head 0, of head 1, ...]; idf and 1 + log(count) are positive: so is u . u
                sums = u[lo:hi].dot(rows[lo:hi]).tolist()
                scale = 1.0 / math.sqrt(sums[0])
                d = [x + s * scale for x, s in zip(d, sums[1:])]
        return d, self.evidence_of(idx, k)

    def evidence_of(self, idx: IntArray, split: int | None = None) -> float:
        """The summed evidence weights of the distinct features ``idx`` (sorted), 0.0 for none; ``split``,
        when given, is where the character features start in ``idx``."""
        if self._evidence_end is not None:  # only word features weigh: the prefix of idx that falls among them
            idx = idx[: int(idx.searchsorted(self._evidence_end)) if split is None else split]
        return _total(self._evidence_w.take(idx))

    # ---------------------------------------------------------------- calibration

    def proba_from_decision(self, d: FloatArray) -> FloatArray:
        """Calibrated class probabilities from the lean's decision values, shape (n, n_classes)."""
        d = np.atleast_2d(d)
        p = 1.0 / (1.0 + np.exp(self.model.calib_a * d + self.model.calib_b))
        if len(self.model.classes) == 2:
            out = np.empty((d.shape[0], 2))
            out[:, 1] = p[:, 0]
            out[:, 0] = 1.0 - p[:, 0]
        else:
            denom = p.sum(axis=1, keepdims=True)
            out = np.divide(p, denom, out=np.full_like(p, 1.0 / p.shape[1]), where=denom != 0)
        out[(out > 1.0) & (out <= 1.0 + 1e-5)] = 1.0
        return out

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """Probabilities for many texts, shape (len(texts), n_classes), classes as in ``model.classes``."""
        d = np.empty((len(texts), self.n_lean))
        self.features.prepare(texts)
        for k, text in enumerate(texts):
            d[k] = self.decisions(text)[0][: self.n_lean]
        return self.proba_from_decision(d)

    def relevance_from_decision(self, s: float) -> float:
        """The scope head's calibrated probability that the text is in scope, from its decision value."""
        scope = self.model.scope
        assert scope is not None
        return sigmoid_calibrated(scope.calib_a, scope.calib_b, s)

    # ---------------------------------------------------------------- explanation

    def contributions(self, text: str) -> tuple[IntArray, FloatArray]:
        """Per-feature contribution to each class: indices and an array (n_features_present, n_classes [+ 1]).

        For two classes the single decision column counts for the second class and against the first;
        for more, each class's row is centred on the mean of all rows, so a positive value pushes
        toward that class relative to the others. A model with a scope head gets one more column: the
        feature's push toward in scope (positive) or out of scope (negative).
        """
        idx, values = self.tfidf(text)
        coef = self.model.coef[:, idx] * values  # (n_rows, n_present)
        if coef.shape[0] == 1:
            per_class = np.vstack([-coef[0], coef[0]])
        else:
            per_class = coef - coef.mean(axis=0, keepdims=True)
        if self.model.scope is not None:
            per_class = np.vstack([per_class, self.model.scope.coef[idx] * values])
        return idx, per_class.T
