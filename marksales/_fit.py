"""Fitting: the scikit-learn Pipeline, grouped cross-validation, the search, the two heads, and
``fit_model``, which turns a labelled corpus into a portable model with its metadata.

scikit-learn is imported inside the functions that need it (inference never does).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ._corpus import Example, near_duplicate_groups
from ._export import english_stop_words, evidence_weights, to_portable
from ._format import PortableModel
from ._report import evaluate_predictions

logger = logging.getLogger(__name__)

SEED = 20121304  # the article's date; any fixed number makes folds and solvers repeatable


@dataclass(frozen=True)
class Params:
    """Feature and classifier settings of a model; the search varies them.

    ``word_ngram`` is (1, 1) or (1, 2); ``char_ngram`` of ``None`` leaves character n-grams out. Term
    frequency is always sublinear (1 + log(count)), with idf and l2 norm: the one layout the scorer reads.
    The defaults are the shipped model's settings (README, "Accuracy", says how they were chosen).
    """

    word_ngram: tuple[int, int] = (1, 2)
    char_ngram: tuple[int, int] | None = (2, 5)
    word_min_df: int = 2
    char_min_df: int = 2
    C: float = 32.0
    class_weight: str | None = "balanced"
    strip_accents: str | None = "unicode"

    def __post_init__(self) -> None:
        # Lists (as JSON gives them) are taken as tuples, which scikit-learn requires.
        if isinstance(self.word_ngram, list):
            object.__setattr__(self, "word_ngram", tuple(self.word_ngram))
        if isinstance(self.char_ngram, list):
            object.__setattr__(self, "char_ngram", tuple(self.char_ngram))
        if tuple(self.word_ngram) not in ((1, 1), (1, 2)):
            raise ValueError(f"word_ngram must be (1, 1) or (1, 2), not {self.word_ngram!r}.")
        c = self.char_ngram
        if c is not None and not (len(c) == 2 and 1 <= c[0] <= c[1] <= 8):
            raise ValueError(f"char_ngram must be None or (min, max) with 1 <= min <= max <= 8, not {c!r}.")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["word_ngram"] = list(self.word_ngram)
        d["char_ngram"] = None if self.char_ngram is None else list(self.char_ngram)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Params:
        d = dict(d)
        if d.pop("sublinear_tf", True) is not True:  # models before 0.3 recorded it; it was always on
            raise ValueError("sublinear_tf must be true: marksales models use 1 + log(count) term frequency.")
        d["word_ngram"] = tuple(d["word_ngram"])
        d["char_ngram"] = None if d.get("char_ngram") is None else tuple(d["char_ngram"])
        return cls(**d)


SEARCH_GRID: dict[str, list[Any]] = {
    "word_ngram": [(1, 1), (1, 2)],
    "char_ngram": [None, (2, 4), (2, 5), (3, 5)],
    "C": [2.0, 8.0, 32.0, 128.0],
}


# Macro-F1 differences below this count as ties in the search (0.001 is 7 of the shipped corpus's 6,928 texts).
SEARCH_TIE = 0.001

CALIBRATION_FOLDS = 3  # out-of-fold decisions for the sigmoid: two parameters need little data


def build_pipeline(params: Params, *, calibrate: bool = True, n_splits: int = CALIBRATION_FOLDS) -> Any:
    """The scikit-learn Pipeline for ``params``: TF-IDF features, then (calibrated) logistic regression."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import FeatureUnion, Pipeline

    common = {"lowercase": True, "strip_accents": params.strip_accents, "sublinear_tf": True,
              "dtype": np.float64}
    parts = [("word", TfidfVectorizer(analyzer="word", ngram_range=params.word_ngram, min_df=params.word_min_df,
                                      **common))]
    if params.char_ngram is not None:
        parts.append(("char", TfidfVectorizer(analyzer="char_wb", ngram_range=params.char_ngram,
                                              min_df=params.char_min_df, **common)))
    lr = LogisticRegression(C=params.C, class_weight=params.class_weight, max_iter=5000)
    clf: Any = lr
    if calibrate:
        # ensemble=False: one regression fitted on all data, one sigmoid fitted on out-of-fold decisions;
        # its arithmetic is what the portable form reproduces.
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=SEED)
        clf = CalibratedClassifierCV(lr, method="sigmoid", cv=folds, ensemble=False)
    return Pipeline([("features", FeatureUnion(parts)), ("clf", clf)])


def _n_splits(labels: Sequence[str], wanted: int) -> int:
    smallest = min(np.unique(np.asarray(labels), return_counts=True)[1])
    return max(2, min(wanted, int(smallest)))


def _count_one(vec: Any, texts: Sequence[str]) -> tuple[dict[str, int], Any]:
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(analyzer=vec.analyzer, ngram_range=vec.ngram_range, lowercase=vec.lowercase,
                              strip_accents=vec.strip_accents, token_pattern=vec.token_pattern,
                              stop_words=vec.stop_words, dtype=vec.dtype)
    counts = counter.fit_transform(texts).tocsr()
    # Sorted once, here, before anything else reads them: some scipy operations sort an unsorted matrix in
    # place (a comparison such as ``counts > 0`` does), and the folds and the final fit read these
    # matrices at once, in two threads. With the flags set now, reading them changes nothing.
    counts.sum_duplicates()
    return counter.vocabulary_, counts


@dataclass(frozen=True)
class Analysis:
    """The term counts of every text, per feature block, from the Pipeline's own analyzers.

    ``blocks`` holds (count matrix, min_df) per block, what the folds need; ``vocabularies`` maps each
    block's terms to its columns. Every term is kept (min_df=1) and sorted as scikit-learn sorts
    them, so a fold's or the final model's vocabulary is a subset in the same column order.
    """

    texts: Sequence[str]
    blocks: list[tuple[Any, int]]
    vocabularies: list[dict[str, int]]


def _count_blocks(texts: Sequence[str], params: Params) -> Analysis:
    """Analyse ``texts`` once for every feature block of ``params``."""
    vecs = [vec for _, vec in build_pipeline(params, calibrate=False).named_steps["features"].transformer_list]
    counted = [_count_one(vec, texts) for vec in vecs]
    return Analysis(texts, [(counts, vec.min_df) for vec, (_, counts) in zip(vecs, counted)],
                    [vocab for vocab, _ in counted])


def _block_tfidf(counts: Any, min_df: int) -> tuple[np.ndarray, Any, Any]:
    """What a TfidfVectorizer of one block fitted on the rows of ``counts`` keeps and learns: the columns
    whose document frequency is at least ``min_df`` (its pruning, in column order), those columns of
    ``counts``, and a ``TfidfTransformer`` fitted on them (None when no column is kept).

    A count matrix stores each (text, term) once and no zeros, so a column's stored entries are its
    document frequency; counting them reads the matrix only (``counts > 0`` would sort an unsorted one
    in place).
    """
    from sklearn.feature_extraction.text import TfidfTransformer

    keep = np.flatnonzero(np.bincount(counts.indices, minlength=counts.shape[1]) >= min_df)
    kept = counts[:, keep]
    return keep, kept, TfidfTransformer(sublinear_tf=True).fit(kept) if keep.size else None


def _fold_features(blocks: list[tuple[Any, int]], train_idx: np.ndarray,
                   test_idx: np.ndarray) -> tuple[Any, Any]:
    """What the Pipeline's TfidfVectorizers fitted on ``train_idx`` would produce for both sides.

    Per block: the terms with document frequency >= min_df among the training rows (the vectorizer's
    pruning), then scikit-learn's ``TfidfTransformer`` with the vectorizer's settings, fitted on the
    training rows' counts. Same numbers as fitting ``TfidfVectorizer`` on the fold (a test checks),
    without analysing the text again.
    """
    import scipy.sparse as sp

    train_parts: list[Any] = []
    test_parts: list[Any] = []
    for counts, min_df in blocks:
        keep, kept, tfidf = _block_tfidf(counts[train_idx], min_df)
        if tfidf is None:  # no term of this block in min_df of the fold's texts (a tiny corpus): no columns
            train_parts.append(sp.csr_matrix((len(train_idx), 0)))
            test_parts.append(sp.csr_matrix((len(test_idx), 0)))
            continue
        train_parts.append(tfidf.transform(kept))
        test_parts.append(tfidf.transform(counts[test_idx][:, keep]))
    return sp.hstack(train_parts, format="csr"), sp.hstack(test_parts, format="csr")


def fitted_features(analysis: Analysis, params: Params) -> tuple[Any, Any]:
    """The Pipeline's feature step fitted on every analysed text, and their TF-IDF matrix, from the
    analysis instead of reading the texts again.

    Per block: the terms with document frequency >= min_df (columns of the analysis are in the sorted
    order scikit-learn gives its vocabulary, so the kept ones are too) become the vectorizer's
    ``vocabulary_``; a ``TfidfTransformer`` fitted on their counts gives its ``idf_`` (the vectorizer's
    own setter) and the matrix. The same vectorizers and numbers as ``FeatureUnion.fit_transform``
    (``tests/test_train_shortcuts.py`` checks both).
    """
    import scipy.sparse as sp

    union = build_pipeline(params, calibrate=False).named_steps["features"]
    parts = []
    blocks = zip(union.transformer_list, analysis.blocks, analysis.vocabularies, strict=True)
    for (_, vec), (shared, min_df), columns in blocks:
        if min_df != vec.min_df:
            raise ValueError(f"the analysis was made for other settings (min_df {min_df}, not {vec.min_df})")
        # A matrix object of its own over the same (sorted, never written) arrays: scipy caches flags as
        # attributes of the object it reads, and the folds may be pickling the analysis's own matrices
        # in another thread meanwhile.
        counts = sp.csr_matrix((shared.data, shared.indices, shared.indptr), shape=shared.shape, copy=False)
        keep, kept, tfidf = _block_tfidf(counts, min_df)
        if tfidf is None:
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        terms = np.empty(len(columns), dtype=object)
        terms[list(columns.values())] = list(columns)
        vec.vocabulary_ = dict(zip(terms[keep].tolist(), range(keep.size)))
        vec.idf_ = tfidf.idf_
        parts.append(tfidf.transform(kept))
    return union, sp.hstack(parts, format="csr")


def _fold(blocks: list[tuple[Any, int]], params: Params, y: np.ndarray, classes: list[str],
          train_idx: np.ndarray, test_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One cross-validation fold: features and the regression from the training rows only.

    Returns the test rows and their decision values, one column per class (for two classes the
    single decision column counts for the second class and, negated, for the first).
    """
    from ._io import exit_with_parent

    exit_with_parent()
    x_train, x_test = _fold_features(blocks, train_idx, test_idx)
    lr = build_pipeline(params, calibrate=False).named_steps["clf"]
    lr.fit(x_train, y[train_idx])
    d = lr.decision_function(x_test)
    scores = np.zeros((len(test_idx), len(classes)))
    cols = [classes.index(c) for c in lr.classes_]
    if d.ndim == 1:
        scores[:, cols[1]] = d
        scores[:, cols[0]] = -d
    else:
        scores[:, cols] = d
    return test_idx, scores


def grouped_folds(labels: Sequence[str] | np.ndarray, groups: Sequence[int], k: int,
                  seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train rows, test rows) splits; each group's rows in one test fold, labels spread evenly.

    Groups are dealt one at a time, largest first (equal sizes in an order shuffled by ``seed``), each
    to the fold where its labels are scarcest relative to their totals (ties: the smaller fold, then
    the first). A corpus of singletons comes out as evenly stratified as it can be. What
    scikit-learn's StratifiedGroupKFold aims at, in a pass that costs milliseconds rather than a
    second per 10,000 texts.
    """
    y = np.asarray(labels)
    _, y_idx = np.unique(y, return_inverse=True)
    _, g_idx = np.unique(np.asarray(groups), return_inverse=True)
    n_classes = int(y_idx.max()) + 1 if len(y_idx) else 0
    per_group = np.zeros((int(g_idx.max()) + 1 if len(g_idx) else 0, n_classes), dtype=np.int64)
    np.add.at(per_group, (g_idx, y_idx), 1)
    sizes = per_group.sum(axis=1)
    order = np.random.RandomState(seed).permutation(len(per_group))
    order = order[np.argsort(-sizes[order], kind="stable")]
    totals = [float(t) for t in per_group.sum(axis=0)]
    counts = [[0] * n_classes for _ in range(k)]
    fold_sizes = [0] * k
    fold_of = np.empty(len(per_group), dtype=np.int64)
    for g in order.tolist():
        row = per_group[g]
        present = [(c, int(row[c])) for c in np.flatnonzero(row).tolist()]
        best = min(range(k), key=lambda f: (max((counts[f][c] + n) / totals[c] for c, n in present),
                                            fold_sizes[f], f))
        for c, n in present:
            counts[best][c] += n
        fold_sizes[best] += int(sizes[g])
        fold_of[g] = best
    row_fold = fold_of[g_idx]
    return [(np.flatnonzero(row_fold != f), np.flatnonzero(row_fold == f)) for f in range(k)]


def calibrate(scores: np.ndarray, y: np.ndarray, classes: list[str]) -> np.ndarray:
    """Sigmoid-calibrated probabilities from out-of-fold decision values (one column per class, in
    ``classes`` order), by the calibrator the shipped model uses.

    The final model's ``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` fits Platt's
    sigmoid (with his smoothed targets) on out-of-fold decisions of its training data; here the same
    class fits it on the cross-validation's out-of-fold decisions, two parameters per class on all texts.
    """
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV

    class Decisions(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
        """A classifier whose decision values are its input, so the calibrator can be fitted on them."""

        # The argument is named X, as scikit-learn names it: its 1.3 calibrator passes it by keyword.
        def fit(self, X: np.ndarray, y: np.ndarray) -> Decisions:  # noqa: N803
            self.classes_ = np.unique(y)
            return self

        def decision_function(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
            return X[:, 1] if X.shape[1] == 2 else X  # for two classes scikit-learn wants the second's column

        def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
            return np.asarray(self.classes_[np.argmax(X, axis=1)])

    # The decisions do not depend on the folds the calibrator makes (its classifier learns nothing),
    # so any two folds serve.
    calibrated = CalibratedClassifierCV(Decisions(), method="sigmoid", cv=2, ensemble=False)
    calibrated.fit(scores, y)
    order = [list(calibrated.classes_).index(c) for c in classes]
    return np.asarray(calibrated.predict_proba(scores)[:, order], dtype=np.float64)


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    params: Params,
    *,
    n_splits: int = 5,
    progress: Callable[[str], None] | None = None,
    analysis: Analysis | None = None,
    n_jobs: int = -1,
) -> dict[str, Any]:
    """Out-of-fold evaluation of ``params`` with folds that keep near-duplicate texts together.

    Each fold fits the features and the regression on its training rows only; the out-of-fold
    decisions are then calibrated by ``calibrate``, as the final model's are. The text is
    analysed once (``_count_blocks``); ``analysis`` may pass that analysis in when it is shared.
    Folds run in ``n_jobs`` worker processes.
    """
    report, _, _ = _cross_validate(texts, labels, params, n_splits=n_splits, progress=progress, analysis=analysis,
                                   n_jobs=n_jobs)
    return report


def _cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    params: Params,
    *,
    n_splits: int,
    progress: Callable[[str], None] | None,
    analysis: Analysis | None,
    n_jobs: int,
    meanwhile: Callable[[], Any] | None = None,
) -> tuple[dict[str, Any], Any, np.ndarray]:
    """``cross_validate``, running ``meanwhile()`` in this process while the folds run in the workers.

    Returns the report, what ``meanwhile`` returned, and the out-of-fold calibrated probabilities
    (columns in sorted label order).
    """
    from joblib import Parallel, delayed

    texts = list(texts)
    y = np.asarray(labels)
    classes = sorted(set(labels))
    groups = near_duplicate_groups(texts)
    # Folds split groups of near-duplicates, so each label needs as many distinct groups as folds.
    distinct = {c: len({g for g, lab in zip(groups, labels) if lab == c}) for c in classes}
    scarce = min(distinct, key=distinct.__getitem__)
    if distinct[scarce] < n_splits:
        from ._errors import CorpusError, CorpusProblem

        message = (
            f"cannot make {n_splits} cross-validation folds: label {scarce!r} has {distinct[scarce]} text(s) that "
            f"are not near-duplicates of each other (same words once case, punctuation and digits are ignored), "
            f"and every fold needs one. Add more varied texts, or ask for fewer folds (--folds)."
        )
        raise CorpusError(message, [CorpusProblem("too_few_groups", message)])
    k = n_splits
    blocks = (analysis or _count_blocks(texts, params)).blocks
    tasks = [delayed(_fold)(blocks, params, y, classes, tr, te) for tr, te in grouped_folds(y, groups, k)]
    scores = np.zeros((len(texts), len(classes)))
    # Processes: the solvers hold the GIL for much of their time. Results do not depend on the order
    # the folds finish in.
    # The folds are dispatched when Parallel is called; ``meanwhile`` then keeps this process busy.
    running = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    extra = None
    if meanwhile is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # the workers have the cores; more threads here would only wait
            extra = meanwhile()
    for n, (test_idx, got) in enumerate(running, start=1):
        scores[test_idx] = got
        if progress:
            progress(f"fold {n}/{k} done")
    proba = calibrate(scores, y, classes)
    report = evaluate_predictions(list(y), proba, classes)
    report["n_splits"] = k
    return report, extra, proba


def _analysis_key(params: Params) -> str:
    """The settings an analysis of the text depends on (all but the classifier's)."""
    return json.dumps({k: v for k, v in params.to_json().items() if k not in ("C", "class_weight")}, sort_keys=True)


def grid_settings(base: Params, grid: dict[str, list[Any]]) -> list[Params]:
    """Every setting of ``grid`` (keys in sorted order, the last varying fastest), each checked by ``Params``."""
    keys = sorted(grid)
    return [replace(base, **dict(zip(keys, values))) for values in itertools.product(*(grid[k] for k in keys))]


def search(
    texts: Sequence[str],
    labels: Sequence[str],
    base: Params,
    grid: dict[str, list[Any]] | None = None,
    *,
    n_splits: int = 5,
    progress: Callable[[str], None] | None = None,
    analysed: dict[str, Analysis] | None = None,
) -> tuple[Params, list[dict[str, Any]]]:
    """Grid search by grouped cross-validated macro-F1; returns the chosen settings and every row.

    Settings within ``SEARCH_TIE`` of the best macro-F1 count as tied, and the tie goes to the lowest
    Brier score (then the earliest in the grid): a macro-F1 difference of a few texts is noise, while
    the Brier score weighs every probability. Settings that differ only in ``C`` share one analysis of
    the text, kept in ``analysed`` (by ``_analysis_key``) when the caller passes a dict to reuse them.
    """
    results = []
    tried: list[tuple[float, float, Params]] = []
    analysed = {} if analysed is None else analysed
    for params in grid_settings(base, grid or SEARCH_GRID):
        start = time.perf_counter()
        key = _analysis_key(params)
        if key not in analysed:
            analysed[key] = _count_blocks(texts, params)
        report = cross_validate(texts, labels, params, n_splits=n_splits, analysis=analysed[key])
        row = {"params": params.to_json(), "macro_f1": report["macro_f1"], "brier": report["brier"],
               "seconds": round(time.perf_counter() - start, 2)}
        results.append(row)
        if progress:
            progress(f"search {len(results)}: {row}")
        tried.append((report["macro_f1"], report["brier"], params))
    top = max(f1 for f1, _, _ in tried)
    chosen = min((t for t in tried if t[0] >= top - SEARCH_TIE), key=lambda t: t[1])  # min keeps the first tie
    return chosen[2], results


def fit(texts: Sequence[str], labels: Sequence[str], params: Params, analysis: Analysis | None = None) -> Any:
    """Fit the calibrated pipeline on all texts: the features from their analysis (``fitted_features``,
    made here when not passed), then scikit-learn's own fit of the calibrated regression."""
    from sklearn.pipeline import Pipeline

    union, x = fitted_features(analysis or _count_blocks(texts, params), params)
    clf = build_pipeline(params, n_splits=_n_splits(labels, CALIBRATION_FOLDS)).named_steps["clf"]
    clf.fit(x, np.asarray(labels))
    return Pipeline([("features", union), ("clf", clf)])


def fit_heads(texts: Sequence[str], labels: Sequence[str], params: Params,
              other_label: str, analysis: Analysis | None = None) -> tuple[Any, Any]:
    """Fit the features on every text (from their analysis, as ``fit`` does), then the two heads on them:
    the lean (a calibrated regression of the in-scope labels, on the in-scope texts) and the scope head
    (in scope = 1 against ``other_label`` = 0, on every text). Returns the two Pipelines; they share one
    fitted feature step."""
    from sklearn.pipeline import Pipeline

    y = np.asarray(labels)
    inside = y != other_label
    union, x = fitted_features(analysis or _count_blocks(texts, params), params)
    lean = build_pipeline(params, n_splits=_n_splits(list(y[inside]), CALIBRATION_FOLDS)).named_steps["clf"]
    lean.fit(x[np.flatnonzero(inside)], y[inside])
    y_scope = inside.astype(int)
    scope = build_pipeline(params, n_splits=_n_splits(list(y_scope), CALIBRATION_FOLDS)).named_steps["clf"]
    scope.fit(x, y_scope)
    return Pipeline([("features", union), ("clf", lean)]), Pipeline([("features", union), ("clf", scope)])


# The scope threshold weighs an in-scope text flagged out twice as much as an out-of-scope text let in: the
# bars users hold the scope to (at most 5-10% of marketing and sales texts lost, at least 85-90% of the rest
# caught) allow half the error on the in-scope side. A filter on ``in_scope`` that drops real marketing
# and sales work costs its user more than one that keeps a few neighbours.
SCOPE_MISS_COST = 2.0


def scope_threshold(relevance: np.ndarray, inside: np.ndarray, miss_cost: float = SCOPE_MISS_COST) -> float:
    """The relevance cut with the lowest ``miss_cost * (in-scope share flagged) + (out-of-scope share kept)``
    on the cross-validation's out-of-fold relevance (cuts 0.05 to 0.95 by 0.01; the lowest of ties)."""
    best, best_cost = 0.5, float("inf")
    for t in np.round(np.arange(0.05, 0.951, 0.01), 2):
        cost = miss_cost * float(np.mean(relevance[inside] < t)) + float(np.mean(relevance[~inside] >= t))
        if cost < best_cost - 1e-12:
            best, best_cost = float(t), cost
    return best


def examples_xy(examples: Sequence[Example]) -> tuple[list[str], list[str]]:
    return [e.text for e in examples], [e.label for e in examples]


# -------------------------------------------------------------------- the whole training run


def _training_evidence(portable: PortableModel, analysis: Analysis) -> np.ndarray:
    """``Model.evidence`` of every analysed text, from the analysis instead of reading the texts again.

    A text's evidence is the sum of ``evidence_weights`` over the distinct features it has, and only
    word features weigh anything, so it is the presence matrix of the word block times those weights
    moved to the analysis's columns.
    """
    weights = evidence_weights(portable)
    offset = 0
    for i, (spec, vocab) in enumerate(zip(portable.vectorizers, portable.vocabularies)):
        if spec.analyzer == "word":
            counts, _ = analysis.blocks[i]
            columns = analysis.vocabularies[i]
            moved = np.zeros(counts.shape[1])
            for j, term in enumerate(vocab):
                moved[columns[term]] = weights[offset + j]
            present = counts.copy()
            present.data = (present.data != 0).astype(np.float64)
            return np.asarray(present @ moved, dtype=np.float64).ravel()
        offset += len(vocab)
    return np.zeros(len(analysis.texts))  # no word vectorizer: no text has evidence


def _warm_worker() -> None:
    """Import in a worker what a fold needs, so the first fold does not wait for it; and leave with the parent."""
    from ._io import exit_with_parent

    exit_with_parent()
    import scipy.sparse  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401


def _start_workers() -> threading.Thread | None:
    """Start the worker processes of the cross-validation in the background; join before the folds.

    Only for joblib's default process backend (under another backend, such as Dask, the folds go
    where it sends them). The processes stay for the folds: joblib reuses them.
    """
    from joblib import Parallel, delayed
    from joblib.parallel import LokyBackend, get_active_backend

    backend, _ = get_active_backend()
    n = backend.effective_n_jobs(-1) if isinstance(backend, LokyBackend) else 1
    if n < 2:
        return None

    def start() -> None:
        try:
            Parallel(n_jobs=-1)(delayed(_warm_worker)() for _ in range(n))
        except Exception as exc:  # the folds will start their workers themselves
            logger.debug("could not start the workers ahead of the folds: %s", exc)

    thread = threading.Thread(target=start, name="marksales-start-workers", daemon=True)
    thread.start()
    return thread


def no_signal_threshold(evidence: Sequence[float] | np.ndarray) -> float:
    """The evidence below which a text counts as having no marketing or sales signal.

    Half the 1st percentile of the training texts' own evidence: all but the weakest percent of the
    texts the model learnt from carry at least twice as much, while text that shares no content word
    with the corpus (empty, lorem ipsum, another language) has next to none.
    """
    return float(np.percentile(np.asarray(evidence, dtype=float), 1) / 2) if len(evidence) else 0.0


@dataclass(frozen=True)
class Fitted:
    """What ``fit_model`` made: the portable model, its metadata, and the fitted Pipelines (the scope
    head's is None without out-of-scope rows)."""

    portable: PortableModel
    metadata: dict[str, Any]
    pipeline: Any
    scope_pipeline: Any


def fit_model(
    files: Sequence[str],
    *,
    read: Callable[[], list[Example]] | None = None,
    text_column: str,
    label_column: str,
    labels: Sequence[str] | None,
    params: Params | None,
    grid: dict[str, list[Any]] | None,
    n_splits: int,
    progress: Callable[[str], None] | None,
    other_label: str,
    on_conflict: str = "majority",
) -> Fitted:
    """Read, validate and fit a labelled corpus: the lean, and the scope head when the corpus has rows of
    ``other_label``; cross-validation reports for both. See ``marksales.train`` for the parameters
    (``grid`` None: no search). ``read`` gives the examples of in-memory data instead of reading ``files``
    (which then only name the sources in the metadata)."""
    import platform

    import joblib
    import sklearn

    from ._corpus import corpus_sha256, deduplicate, read_labelled, resolve_conflicts, validate
    from ._errors import CorpusError, CorpusProblem
    from ._version import __version__

    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or not 2 <= n_splits <= 20:
        raise ValueError(f"n_splits must be an int from 2 to 20 (cross-validation needs two folds at least), "
                         f"not {n_splits!r}.")
    workers = _start_workers()  # starting them takes a second; meanwhile this process reads and analyses
    say = progress or (lambda msg: None)
    try:
        examples = read() if read is not None else read_labelled(files, text_column=text_column,
                                                                label_column=label_column)
        examples, conflicts = resolve_conflicts(examples, on_conflict)
        validate(examples, labels=labels)
    except BaseException:
        if workers is not None:  # let the starting workers settle, so nothing is left to shout on stderr
            workers.join()
        raise
    if conflicts["rows_dropped"]:
        logger.warning("%d text(s) carried two or more labels; --on-conflict %s dropped %d row(s)",
                       conflicts["texts"], on_conflict, conflicts["rows_dropped"])
    unique = deduplicate(examples)
    texts, ys = examples_xy(unique)
    say(f"read {len(examples)} texts ({len(examples) - len(unique)} duplicates dropped) from "
        f"{len(files)} {'source' if read is not None else 'file'}(s)")
    params = params or Params()
    other = other_label if other_label in set(ys) else None
    lean_rows = [i for i, y in enumerate(ys) if y != other]
    lean_texts, lean_ys = [texts[i] for i in lean_rows], [ys[i] for i in lean_rows]
    if other is not None and len(set(lean_ys)) < 2:
        message = (f"besides {other!r} (out of scope) a corpus needs two or more labels to learn the lean "
                   f"between; it has {sorted(set(lean_ys))}.")
        raise CorpusError(message, [CorpusProblem("too_few_labels", message)])
    search_rows = None
    analysed: dict[str, Analysis] = {}
    if grid is not None:
        params, search_rows = search(lean_texts, lean_ys, params, grid, n_splits=n_splits, progress=say,
                                     analysed=analysed)
        say(f"search chose {params.to_json()}")
    start = time.perf_counter()
    analysis = (analysed.get(_analysis_key(params)) if other is None else None) or _count_blocks(texts, params)
    analysed.clear()  # the other settings' analyses are no longer needed
    say("analysed the text")
    if workers is not None:
        workers.join()
    # The final model is fitted in this process while the folds run in the workers (in a worker its
    # pickle bytes varied from run to run).
    scope_meta: dict[str, Any] | None = None
    if other is None:
        cv, pipeline, _ = _cross_validate(texts, ys, params, n_splits=n_splits, progress=say, analysis=analysis,
                                          n_jobs=-1, meanwhile=functools.partial(fit, texts, ys, params, analysis))
        scope_pipeline = None
    else:
        # The lean's folds see the in-scope rows only: the rows of the one analysis of every text.
        rows = np.asarray(lean_rows)
        lean_analysis = Analysis(lean_texts, [(counts[rows], min_df) for counts, min_df in analysis.blocks],
                                 analysis.vocabularies)
        cv, (pipeline, scope_pipeline), _ = _cross_validate(
            lean_texts, lean_ys, params, n_splits=n_splits, progress=say, analysis=lean_analysis, n_jobs=-1,
            meanwhile=functools.partial(fit_heads, texts, ys, params, other, analysis))
        del lean_analysis
        inside = np.asarray(ys) != other
        scope_labels = np.where(inside, "in_scope", "out_of_scope")
        scope_cv, _, scope_proba = _cross_validate(texts, list(scope_labels), params, n_splits=n_splits,
                                                   progress=say, analysis=analysis, n_jobs=-1)
        relevance = scope_proba[:, 0]  # columns in sorted order: in_scope, out_of_scope
        threshold_in = scope_threshold(relevance, inside)
        scope_meta = {"other_label": other, "threshold": threshold_in,
                      "threshold_rule": f"lowest {SCOPE_MISS_COST:g} x in-scope flagged + out-of-scope kept, on the "
                                        f"scope cross-validation's out-of-fold relevance",
                      "cv": scope_cv,
                      "cv_at_threshold": {"in_scope_kept": float(np.mean(relevance[inside] >= threshold_in)),
                                          "out_of_scope_flagged": float(np.mean(relevance[~inside] < threshold_in))}}
    cv_seconds = time.perf_counter() - start
    portable = to_portable(pipeline, {"evidence_stop_words": english_stop_words()}, scope=scope_pipeline,
                           scope_threshold=scope_meta["threshold"] if scope_meta else 0.5, other_label=other_label)
    # from the lean's own texts: out-of-scope texts carry little lean evidence by design
    threshold = no_signal_threshold(_training_evidence(portable, analysis)[lean_rows])
    del analysis
    portable = replace(portable, extra={**portable.extra, "no_signal_threshold": threshold})
    counts = {c: ys.count(c) for c in sorted(set(ys))}
    meta: dict[str, Any] = {
        "marksales_version": __version__,
        "labels": list(portable.classes),
        "label_counts": counts,
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "joblib": joblib.__version__},
        "corpus": {"files": [short_name(f) for f in files], "sha256": corpus_sha256(unique), "n_texts": len(unique),
                   "duplicates_dropped": len(examples) - len(unique),
                   "conflicts": {"policy": on_conflict, **conflicts},
                   "text_column": text_column, "label_column": label_column},
        "params": params.to_json(),
        "search": search_rows,
        "cv": cv,
        "scope": scope_meta,
        "no_signal_threshold": threshold,
        # Timings vary run to run; the fingerprint leaves them out.
        "timings": {"cv_seconds": round(cv_seconds, 2),
                    "search_seconds": [row.pop("seconds") for row in search_rows or []]},
    }
    return Fitted(portable, meta, pipeline, scope_pipeline)


def short_name(path: str) -> str:
    """``folder/file`` of a path, for metadata that must not depend on where a clone lives."""
    from pathlib import Path

    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name
