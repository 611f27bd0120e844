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
from ._format import PortableModel, joined

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
        self._idf = joined(model.idfs)
        # Every head's coefficients, one contiguous vector each: the lean's decision columns (one for two
        # classes, as in scikit-learn), then the scope head's when the model has one. A text's normalised
        # TF-IDF vector is built once; each head is then one 1-d gather and one dot product (a gather of
        # rows from an (n_features, n_heads) matrix cost more than both).
        rows = [*model.coef] + ([model.scope.coef] if model.scope is not None else [])
        self._heads = tuple(np.ascontiguousarray(r) for r in rows)
        self._intercepts = np.concatenate(
            [model.intercept] + ([[model.scope.intercept]] if model.scope is not None else [])
        )
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

    def _values(self, idx: IntArray, counts: IntArray, total: int) -> FloatArray:
        """TF-IDF values of the distinct features ``idx`` (sorted) occurring ``counts`` times: ``1 +
        log(count)`` times idf, each block divided by its l2 norm, built in place."""
        v = (_LOG_TF[counts] if total < _LOG_TF.size else np.log(counts) + 1.0) * self._idf[idx]
        k = int(idx.searchsorted(self._split))
        if 0 < k < idx.size:
            v1, v2 = v[:k], v[k:]  # views: scaled in place
            v1 *= 1.0 / math.sqrt(v1.dot(v1))
            v2 *= 1.0 / math.sqrt(v2.dot(v2))
        elif idx.size:  # one block present (idf and 1 + log(count) are positive, so the norm is too)
            v *= 1.0 / math.sqrt(v.dot(v))
        return v

    def tfidf(self, text: str) -> tuple[IntArray, FloatArray]:
        """The text's non-zero TF-IDF features: sorted feature indices and their values."""
        idx, counts, total = self.features.counts(text)
        return idx, self._values(idx, counts, total)

    def decisions(self, text: str) -> tuple[FloatArray, float]:
        """Every head's decision value for ``text`` (the lean's columns, then the scope head's), and its evidence.

        The one scoring path: ``Model.classify``, ``predict_proba`` and ``relevance`` all come through here.
        """
        idx, counts, total = self.features.counts(text)
        d = self._intercepts.copy()
        if total == 0:
            return d, 0.0
        v = self._values(idx, counts, total)
        for h, coef in enumerate(self._heads):
            d[h] += coef[idx].dot(v)
        return d, self.evidence_of(idx)

    def evidence_of(self, idx: IntArray) -> float:
        """The summed evidence weights of the distinct features ``idx`` (sorted), 0.0 for none."""
        if self._evidence_end is not None:
            # the weighted features are the first ones: sum over the prefix of idx that falls among them
            idx = idx[: int(idx.searchsorted(self._evidence_end))]
        return _total(self._evidence_w[idx])

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
