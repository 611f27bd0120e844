"""Training's shortcuts give what the plain scikit-learn way gives.

Training analyses the text once and derives from that analysis each fold's features and the training
texts' evidence; it deals the folds itself and calibrates the folds' decisions with the final model's
calibrator. Each shortcut is checked here against the slow way it stands in for.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from marksales._corpus import deduplicate, near_duplicate_groups, read_labelled, shipped_corpus_files
from marksales._export import english_stop_words, to_portable
from marksales._fit import (
    Params,
    _count_blocks,
    _fold_features,
    _training_evidence,
    build_pipeline,
    calibrate,
    fit,
    fitted_features,
    grouped_folds,
)
from marksales._model import Model

SETTINGS = [Params(), Params(word_ngram=(1, 1), char_ngram=None, word_min_df=1), Params(char_ngram=(3, 5))]


@pytest.fixture(scope="module")
def sample() -> tuple[list[str], list[str]]:
    """A spread of the shipped corpus: titles, sentences and postings of both labels."""
    examples = deduplicate(read_labelled(shipped_corpus_files()))
    picked = examples[::12]
    return [e.text for e in picked], [e.label for e in picked]


@pytest.mark.parametrize("params", SETTINGS, ids=["default", "words-only", "char-3-5"])
def test_fold_features_equal_vectorizers_fitted_on_the_fold(sample, params):
    texts, labels = sample
    analysis = _count_blocks(texts, params)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    train_idx, test_idx = np.sort(order[: len(texts) * 4 // 5]), np.sort(order[len(texts) * 4 // 5 :])
    got_train, got_test = _fold_features(analysis.blocks, train_idx, test_idx)
    features = build_pipeline(params, calibrate=False).named_steps["features"]
    want_train = features.fit_transform([texts[i] for i in train_idx])
    want_test = features.transform([texts[i] for i in test_idx])
    for got, want in ((got_train, want_train), (got_test, want_test)):
        assert got.shape == want.shape
        assert abs(got - want).max() <= 1e-12


@pytest.mark.parametrize("params", SETTINGS, ids=["default", "words-only", "char-3-5"])
def test_fitted_features_equal_the_feature_union_fitted_on_the_texts(sample, params):
    """The final model's features come from the analysis: the same vectorizers (vocabulary, idf, params)
    and the same matrix as ``FeatureUnion.fit_transform``, and they transform new text the same."""
    texts, _ = sample
    got_union, got_x = fitted_features(_count_blocks(texts, params), params)
    want_union = build_pipeline(params, calibrate=False).named_steps["features"]
    want_x = want_union.fit_transform(texts)
    assert got_x.shape == want_x.shape and abs(got_x - want_x).max() <= 1e-12
    for (_, got), (_, want) in zip(got_union.transformer_list, want_union.transformer_list):
        assert got.vocabulary_ == want.vocabulary_
        assert np.array_equal(got.idf_, want.idf_)
        assert got.get_params() == want.get_params()  # no fixed vocabulary: refitting it learns a new one
        assert got.fixed_vocabulary_ is False
    unseen = ["Vendedor de seguros puerta a puerta", "Head of Brand, APAC", "", "Quota-carrying AE"]
    assert abs(got_union.transform(unseen) - want_union.transform(unseen)).max() <= 1e-12


def test_using_the_analysis_never_changes_it(sample):
    """The folds (pickled to the workers in another thread) and the final fit read the same count
    matrices at once: slicing them must not sort them in place, as scipy does to unsorted ones."""
    texts, _ = sample
    params = Params()
    analysis = _count_blocks(texts, params)
    before = [(c.data.copy(), c.indices.copy(), c.indptr.copy()) for c, _ in analysis.blocks]
    fitted_features(analysis, params)
    _fold_features(analysis.blocks, np.arange(0, len(texts), 2), np.arange(1, len(texts), 2))
    for (counts, _), arrays in zip(analysis.blocks, before):
        assert all(np.array_equal(a, b) for a, b in zip((counts.data, counts.indices, counts.indptr), arrays))


def test_training_evidence_equals_the_models_own(sample):
    texts, labels = sample
    params = Params()
    analysis = _count_blocks(texts, params)
    portable = to_portable(fit(texts, labels, params),
                           {"evidence_stop_words": english_stop_words()})
    model = Model(portable)
    want = np.array([model.evidence(t) for t in texts])
    assert np.allclose(_training_evidence(portable, analysis), want, rtol=1e-12, atol=1e-12)
    assert (want > 0).mean() > 0.9  # the measure is not trivially zero


@pytest.mark.parametrize("lean_only", [True, False], ids=["two-labels", "three-labels"])
def test_the_cross_validation_calibrates_as_the_final_model_does(sample, lean_only):
    """The CV's probabilities come from the shipped model's own calibrator: the same sigmoids as the final
    CalibratedClassifierCV fits, given the same out-of-fold decisions."""
    from sklearn.model_selection import cross_val_predict

    texts, labels = sample
    if lean_only:
        texts, labels = zip(*[(t, y) for t, y in zip(texts, labels) if y != "other"])
    y = np.asarray(labels)
    classes = sorted(set(labels))
    pipe = fit(texts, labels, Params())
    calibrated = pipe.named_steps["clf"]
    x = pipe.named_steps["features"].transform(list(texts))
    oof = cross_val_predict(calibrated.estimator, x, y, cv=calibrated.cv, method="decision_function")
    sigmoids = calibrated.calibrated_classifiers_[0].calibrators
    if len(classes) == 2:
        p1 = 1.0 / (1.0 + np.exp(sigmoids[0].a_ * oof + sigmoids[0].b_))
        want, scores = np.column_stack([1.0 - p1, p1]), np.column_stack([-oof, oof])
    else:
        raw = np.column_stack([1.0 / (1.0 + np.exp(s.a_ * oof[:, k] + s.b_)) for k, s in enumerate(sigmoids)])
        want, scores = raw / raw.sum(axis=1, keepdims=True), oof
    got = calibrate(scores, y, classes)
    assert len(classes) == (2 if lean_only else 3)
    assert np.allclose(got, want, rtol=1e-6, atol=1e-9)


def test_the_calibration_keeps_off_certainty_on_separable_decisions():
    """Platt's smoothed targets: perfectly separated decisions still give probabilities short of 0 and 1
    (a sigmoid fitted on hard 0/1 targets would drive them to the ends)."""
    d = np.concatenate([np.linspace(-3, -1, 50), np.linspace(1, 3, 50)])
    y = np.array(["a"] * 50 + ["b"] * 50)
    p = calibrate(np.column_stack([-d, d]), y, ["a", "b"])
    assert p[:, 1].min() > 1e-4 and p[:, 1].max() < 1 - 1e-4  # hard targets: about 1e-9 from the ends
    assert np.all(np.diff(p[:, 1]) >= 0)  # monotone in the decision


def _check_folds(labels, groups, k):
    folds = grouped_folds(labels, groups, k)
    assert len(folds) == k
    n = len(labels)
    test_rows = np.concatenate([test for _, test in folds])
    assert sorted(test_rows.tolist()) == list(range(n))  # every row tested exactly once
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == n
        assert len(test) > 0
    fold_of = {int(i): f for f, (_, test) in enumerate(folds) for i in test}
    by_group: dict[int, set[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, set()).add(fold_of[i])
    assert all(len(fs) == 1 for fs in by_group.values())  # a group never straddles folds
    return folds


def test_grouped_folds_keep_groups_together_and_spread_labels():
    examples = deduplicate(read_labelled(shipped_corpus_files()))
    texts, labels = [e.text for e in examples], [e.label for e in examples]
    groups = near_duplicate_groups(texts)
    assert len(set(groups)) < len(texts)  # the corpus does have near-duplicates to keep together
    folds = _check_folds(labels, groups, 5)
    y = np.asarray(labels)
    totals = Counter(labels)
    for _, test in folds:
        for label, total in totals.items():
            share = (y[test] == label).sum() / len(test)
            assert abs(share - total / len(labels)) < 0.02
    assert grouped_folds(labels, groups, 5)[2][1].tolist() == folds[2][1].tolist()  # deterministic


def test_grouped_folds_of_singletons_are_stratified_to_one_text():
    rng = np.random.default_rng(1)
    labels = rng.choice(["a", "b", "c"], size=1003, p=[0.6, 0.3, 0.1]).tolist()
    folds = _check_folds(labels, list(range(len(labels))), 7)
    y = np.asarray(labels)
    for label in "abc":
        per_fold = [(y[test] == label).sum() for _, test in folds]
        assert max(per_fold) - min(per_fold) <= 1


def test_grouped_folds_with_large_groups():
    labels = ["a"] * 30 + ["b"] * 30 + ["a", "b"] * 20
    groups = [0] * 10 + [1] * 10 + [2] * 10 + [3] * 15 + [4] * 15 + list(range(5, 45))
    _check_folds(labels, groups, 3)


def test_workers_start_early_only_under_joblibs_process_backend():
    from joblib import cpu_count, parallel_config

    from marksales._fit import _start_workers

    with parallel_config(backend="threading"):
        assert _start_workers() is None  # the folds go where that backend sends them: nothing to start
    thread = _start_workers()
    if cpu_count() < 2:
        assert thread is None
    else:
        assert thread is not None
        thread.join(timeout=120)
        assert not thread.is_alive()
