"""From a fitted scikit-learn Pipeline to the portable form, and what both sides need of the model's arrays.

Below training and inference alike: training exports what it fits, and loading a trusted ``.joblib``
exports it again. scikit-learn is imported inside the functions that read a Pipeline, never at import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._format import PortableModel, ScopeHead, VectorizerSpec, as_terms, layout_problem


def to_portable(pipeline: Any, extra: dict[str, Any] | None = None, *, scope: Any = None,
                scope_threshold: float = 0.5, other_label: str = "other") -> PortableModel:
    """The portable form of a fitted Pipeline from ``build_pipeline``, with the scope head's Pipeline
    (same fitted features, a calibrated classifier of 0 = out of scope, 1 = in scope) when given."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    features = pipeline.named_steps["features"]
    clf = pipeline.named_steps["clf"]
    head = None
    if scope is not None:
        if scope.named_steps["features"] is not features:
            raise ValueError("the scope head must share the lean Pipeline's fitted features")
        lr_s, a_s, b_s, calibrated = _regression_and_calibration(scope.named_steps["clf"])
        if not calibrated or list(lr_s.classes_) != [0, 1]:
            raise ValueError("the scope head must be a sigmoid-calibrated regression of classes [0, 1]")
        head = ScopeHead(np.asarray(lr_s.coef_[0], dtype=np.float64), float(lr_s.intercept_[0]), float(a_s[0]),
                         float(b_s[0]), float(scope_threshold), other_label)
    specs, vocabs, idfs = [], [], []
    for name, vec in features.transformer_list:
        if not isinstance(vec, TfidfVectorizer) or vec.analyzer not in ("word", "char_wb"):
            raise ValueError(f"this Pipeline cannot be exported: feature step {name!r} is not a word or char_wb "
                             f"TfidfVectorizer")
        if vec.preprocessor is not None or vec.tokenizer is not None or callable(vec.analyzer):
            raise ValueError(f"feature step {name!r} uses custom callables, which cannot be exported")
        stop = vec.get_stop_words()
        specs.append(VectorizerSpec(
            name=name, analyzer=vec.analyzer, ngram_range=tuple(vec.ngram_range), lowercase=vec.lowercase,
            strip_accents=vec.strip_accents, token_pattern=vec.token_pattern if vec.analyzer == "word" else None,
            stop_words=None if stop is None or vec.analyzer != "word" else tuple(sorted(stop)),
            sublinear_tf=vec.sublinear_tf, use_idf=vec.use_idf, norm=vec.norm, binary=vec.binary,
        ))
        vocab = [""] * len(vec.vocabulary_)
        for term, j in vec.vocabulary_.items():
            vocab[j] = term
        vocabs.append(tuple(vocab))
        idfs.append(np.asarray(vec.idf_, dtype=np.float64) if vec.use_idf else np.ones(len(vocab)))
    lr, calib_a, calib_b, calibrated = _regression_and_calibration(clf)
    calibration = "sigmoid" if calibrated else None
    problem = layout_problem(specs, calibration, vocabs)
    if problem:
        raise ValueError(f"this Pipeline cannot be exported: {problem}; marksales exports the Pipelines its "
                         f"trainer makes (marksales.train).")
    return PortableModel(
        classes=tuple(str(c) for c in lr.classes_),
        vectorizers=tuple(specs),
        vocabularies=tuple(vocabs),
        idfs=tuple(idfs),
        coef=np.asarray(lr.coef_, dtype=np.float64),
        intercept=np.asarray(lr.intercept_, dtype=np.float64),
        calibration=calibration,
        calib_a=calib_a,
        calib_b=calib_b,
        extra=dict(extra or {}),
        scope=head,
    )


def _regression_and_calibration(clf: Any) -> tuple[Any, np.ndarray, np.ndarray, bool]:
    """The logistic regression of a classifier step and its sigmoid calibrators (empty when uncalibrated)."""
    if not hasattr(clf, "calibrated_classifiers_"):
        return clf, np.zeros(0), np.zeros(0), False
    if len(clf.calibrated_classifiers_) != 1 or clf.method != "sigmoid":
        raise ValueError("only CalibratedClassifierCV(method='sigmoid', ensemble=False) can be exported")
    cal = clf.calibrated_classifiers_[0]
    lr = cal.estimator
    if list(lr.classes_) != list(clf.classes_):
        raise ValueError("the calibrated classifier's classes differ from its estimator's")
    return (lr, np.array([c.a_ for c in cal.calibrators], dtype=np.float64),
            np.array([c.b_ for c in cal.calibrators], dtype=np.float64), True)


def english_stop_words() -> list[str]:
    """scikit-learn's English stop-word list, frozen into a model for the evidence measure."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS)



def evidence_weights(portable: PortableModel) -> np.ndarray:
    """Per feature, what its presence adds to a text's evidence (see ``Prediction.evidence``).

    The largest |coefficient| over the lean's classes for single content words (not stop words, not
    bigrams, not character n-grams); zero for every other feature. The scope head does not count: "no
    signal" means the text says too little for the lean, and it keeps that meaning with a scope head.
    """
    stop = frozenset(portable.extra.get("evidence_stop_words", ()))
    weights = np.zeros(portable.coef.shape[1])
    strength = np.abs(portable.coef).max(axis=0)
    offset = 0
    for spec, vocab in zip(portable.vectorizers, portable.vocabularies):
        if spec.analyzer == "word":
            # a few thousand terms at a time: a vocabulary read from a file is never made strings all at once
            terms = as_terms(vocab)
            content = np.zeros(len(terms), dtype=bool)
            for first, _, chunk in terms.chunks():
                flags = [" " not in term and term not in stop for term in chunk.split("\n")]
                content[first : first + len(flags)] = flags
            cols = np.flatnonzero(content) + offset
            weights[cols] = strength[cols]
        offset += len(vocab)
    return weights
