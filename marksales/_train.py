"""Training: the scikit-learn Pipeline, cross-validation, the search, and the portable export.

This is the only module that imports scikit-learn; inference never reaches it.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ._corpus import Example, near_duplicate_groups
from ._portable import PortableModel, VectorizerSpec
from ._report import evaluate_predictions

logger = logging.getLogger(__name__)

SEED = 20121304  # the article's date; any fixed number makes folds and solvers repeatable


@dataclass(frozen=True)
class Params:
    """Feature and classifier settings of a model; the search varies them.

    ``char_ngram`` of ``None`` leaves character n-grams out.
    """

    word_ngram: tuple[int, int] = (1, 2)
    char_ngram: tuple[int, int] | None = (2, 5)
    word_min_df: int = 2
    char_min_df: int = 2
    sublinear_tf: bool = True
    C: float = 8.0
    class_weight: str | None = "balanced"
    strip_accents: str | None = "unicode"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["word_ngram"] = list(self.word_ngram)
        d["char_ngram"] = None if self.char_ngram is None else list(self.char_ngram)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Params:
        d = dict(d)
        d["word_ngram"] = tuple(d["word_ngram"])
        d["char_ngram"] = None if d.get("char_ngram") is None else tuple(d["char_ngram"])
        return cls(**d)


SEARCH_GRID: dict[str, list[Any]] = {
    "word_ngram": [(1, 1), (1, 2)],
    "char_ngram": [None, (2, 4), (2, 5), (3, 5)],
    "C": [2.0, 8.0, 32.0, 128.0],
}


CALIBRATION_FOLDS = 3  # out-of-fold decisions for the sigmoid: two parameters need little data


def build_pipeline(params: Params, *, calibrate: bool = True, n_splits: int = CALIBRATION_FOLDS) -> Any:
    """The scikit-learn Pipeline for ``params``: TF-IDF features, then (calibrated) logistic regression."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import FeatureUnion, Pipeline

    common = {"lowercase": True, "strip_accents": params.strip_accents, "sublinear_tf": params.sublinear_tf,
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


def _count_one(vec: Any, texts: Sequence[str]) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(analyzer=vec.analyzer, ngram_range=vec.ngram_range, lowercase=vec.lowercase,
                              strip_accents=vec.strip_accents, token_pattern=vec.token_pattern,
                              stop_words=vec.stop_words, dtype=np.float64)
    return counter.fit_transform(texts).tocsr()


def _count_blocks(texts: Sequence[str], params: Params) -> list[tuple[Any, int]]:
    """Term counts of every text for each feature block, analysed once with the Pipeline's own analyzers.

    Returns (count matrix, min_df) per block. The vocabulary is every term (min_df=1), sorted as
    scikit-learn sorts it, so a fold's vocabulary is a subset in the same column order.
    """
    vecs = [vec for _, vec in build_pipeline(params, calibrate=False).named_steps["features"].transformer_list]
    return [(_count_one(vec, texts), vec.min_df) for vec in vecs]


def _fold_features(blocks: list[tuple[Any, int]], params: Params, train_idx: np.ndarray,
                   test_idx: np.ndarray) -> tuple[Any, Any]:
    """What the Pipeline's TfidfVectorizers fitted on ``train_idx`` would produce for both sides.

    Per block: the terms with document frequency >= min_df among the training rows, smoothed idf
    from those rows, 1 + log(tf) when sublinear, l2 normalisation. Same numbers as fitting
    ``TfidfVectorizer`` on the fold, without analysing the text again.
    """
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    train_parts: list[Any] = []
    test_parts: list[Any] = []
    for counts, min_df in blocks:
        x_train = counts[train_idx]
        df = np.asarray((x_train > 0).sum(axis=0)).ravel()
        keep = np.flatnonzero(df >= min_df)
        n = len(train_idx)
        idf = np.log((1.0 + n) / (1.0 + df[keep])) + 1.0
        for rows, out in ((x_train, train_parts), (counts[test_idx], test_parts)):
            x = sp.csr_matrix(rows[:, keep])
            if params.sublinear_tf:
                np.log(x.data, out=x.data)
                x.data += 1.0
            x = x @ sp.diags(idf)
            out.append(normalize(x, norm="l2", copy=False))
    return sp.hstack(train_parts, format="csr"), sp.hstack(test_parts, format="csr")


def _fold(blocks: list[tuple[Any, int]], params: Params, y: np.ndarray, classes: list[str],
          train_idx: np.ndarray, test_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One cross-validation fold: features and the regression from the training rows only.

    Returns the test rows and their decision values, one column per class (for two classes the
    single decision column counts for the second class and, negated, for the first).
    """
    x_train, x_test = _fold_features(blocks, params, train_idx, test_idx)
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


def _platt(scores: np.ndarray, y: np.ndarray, classes: list[str]) -> np.ndarray:
    """Sigmoid-calibrated probabilities from out-of-fold decision values, as the shipped model does it.

    The final model fits its sigmoid on out-of-fold decisions of its own training data
    (CalibratedClassifierCV, ensemble=False); here one sigmoid per class is fitted on the
    cross-validation's out-of-fold decisions, two parameters on all texts.
    """
    from sklearn.linear_model import LogisticRegression

    def sigmoid_for(col: int) -> np.ndarray:
        target = (y == classes[col]).astype(int)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(scores[:, [col]], target)
        return np.asarray(platt.predict_proba(scores[:, [col]])[:, 1], dtype=np.float64)

    if len(classes) == 2:
        p1 = sigmoid_for(1)
        return np.column_stack([1.0 - p1, p1])
    p = np.column_stack([sigmoid_for(c) for c in range(len(classes))])
    normalised: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return normalised


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    params: Params,
    *,
    n_splits: int = 5,
    progress: Callable[[str], None] | None = None,
    blocks: list[tuple[Any, int]] | None = None,
    n_jobs: int = -1,
) -> dict[str, Any]:
    """Out-of-fold evaluation of ``params`` with folds that keep near-duplicate texts together.

    Each fold fits the features and the regression on its training rows only; the out-of-fold
    decisions are then calibrated by a sigmoid (``_platt``), as the final model's are. The text is
    analysed once (``_count_blocks``); ``blocks`` may pass that analysis in when it is shared.
    Folds run in ``n_jobs`` worker processes.
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedGroupKFold

    texts = list(texts)
    y = np.asarray(labels)
    classes = sorted(set(labels))
    groups = near_duplicate_groups(texts)
    # Folds split groups of near-duplicates, so each label needs as many distinct groups as folds.
    distinct = min(len({g for g, lab in zip(groups, labels) if lab == c}) for c in classes)
    k = min(_n_splits(labels, n_splits), distinct)
    if k < 2:
        from ._errors import CorpusError

        raise CorpusError(
            f"cross-validation needs at least two texts per label that are not near-duplicates of each other "
            f"(same words once case, punctuation and digits are ignored); one label has {distinct}. "
            f"Add more varied texts."
        )
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=SEED)
    blocks = blocks if blocks is not None else _count_blocks(texts, params)
    tasks = [delayed(_fold)(blocks, params, y, classes, tr, te) for tr, te in folds.split(texts, y, groups)]
    scores = np.zeros((len(texts), len(classes)))
    # Processes: the solvers hold the GIL for much of their time. Results do not depend on the order
    # the folds finish in.
    for n, (test_idx, got) in enumerate(Parallel(n_jobs=n_jobs, return_as="generator")(tasks), start=1):
        scores[test_idx] = got
        if progress:
            progress(f"fold {n}/{k} done")
    report = evaluate_predictions(list(y), _platt(scores, y, classes), classes)
    report["n_splits"] = k
    return report


def search(
    texts: Sequence[str],
    labels: Sequence[str],
    base: Params,
    grid: dict[str, list[Any]] | None = None,
    *,
    n_splits: int = 5,
    progress: Callable[[str], None] | None = None,
) -> tuple[Params, list[dict[str, Any]]]:
    """Grid search by grouped cross-validated macro-F1 (ties: lower Brier score); returns the best."""
    grid = grid or SEARCH_GRID
    keys = sorted(grid)
    results = []
    best: tuple[float, float, Params] | None = None
    analysed: dict[str, list[tuple[Any, int]]] = {}  # settings that differ only in C share one analysis
    for values in itertools.product(*(grid[k] for k in keys)):
        params = replace(base, **dict(zip(keys, values)))
        start = time.perf_counter()
        features = {k: v for k, v in params.to_json().items() if k not in ("C", "class_weight")}
        key = json.dumps(features, sort_keys=True)
        if key not in analysed:
            analysed[key] = _count_blocks(texts, params)
        report = cross_validate(texts, labels, params, n_splits=n_splits, blocks=analysed[key])
        row = {"params": params.to_json(), "macro_f1": report["macro_f1"], "brier": report["brier"],
               "seconds": round(time.perf_counter() - start, 2)}
        results.append(row)
        if progress:
            progress(f"search {len(results)}: {row}")
        score = (round(report["macro_f1"], 4), -report["brier"])
        if best is None or score > best[:2]:
            best = (score[0], score[1], params)
    assert best is not None
    return best[2], results


def fit(texts: Sequence[str], labels: Sequence[str], params: Params) -> Any:
    """Fit the calibrated pipeline on all texts."""
    pipe = build_pipeline(params, n_splits=_n_splits(labels, CALIBRATION_FOLDS))
    pipe.fit(list(texts), np.asarray(labels))
    return pipe


def to_portable(pipeline: Any, extra: dict[str, Any] | None = None) -> PortableModel:
    """The portable form of a fitted Pipeline from ``build_pipeline``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    features = pipeline.named_steps["features"]
    clf = pipeline.named_steps["clf"]
    specs, vocabs, idfs = [], [], []
    for name, vec in features.transformer_list:
        if not isinstance(vec, TfidfVectorizer) or vec.analyzer not in ("word", "char_wb"):
            raise ValueError(f"feature step {name!r} is not a word or char_wb TfidfVectorizer")
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
    if hasattr(clf, "calibrated_classifiers_"):
        if len(clf.calibrated_classifiers_) != 1 or clf.method != "sigmoid":
            raise ValueError("only CalibratedClassifierCV(method='sigmoid', ensemble=False) can be exported")
        cal = clf.calibrated_classifiers_[0]
        lr = cal.estimator
        calib_a = np.array([c.a_ for c in cal.calibrators], dtype=np.float64)
        calib_b = np.array([c.b_ for c in cal.calibrators], dtype=np.float64)
        calibration: str | None = "sigmoid"
        if list(lr.classes_) != list(clf.classes_):
            raise ValueError("the calibrated classifier's classes differ from its estimator's")
    else:
        lr = clf
        calib_a = calib_b = np.zeros(0)
        calibration = None
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
    )


def english_stop_words() -> list[str]:
    """scikit-learn's English stop-word list, frozen into a model for the evidence measure."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS)


def examples_xy(examples: Sequence[Example]) -> tuple[list[str], list[str]]:
    return [e.text for e in examples], [e.label for e in examples]


# -------------------------------------------------------------------- the whole training run


def no_signal_threshold(evidence: Sequence[float]) -> float:
    """The evidence below which a text counts as having no marketing or sales signal.

    Half the 1st percentile of the training texts' own evidence: all but the weakest percent of the
    texts the model learnt from carry at least twice as much, while text that shares no content word
    with the corpus (empty, lorem ipsum, another language) has next to none.
    """
    return float(np.percentile(np.asarray(evidence, dtype=float), 1) / 2) if len(evidence) else 0.0


def train(
    corpus: Sequence[str] | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    labels: Sequence[str] | None = None,
    params: Params | None = None,
    search_grid: dict[str, list[Any]] | bool = False,
    dev: Sequence[str] | None = None,
    n_splits: int = 5,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Train a model on labelled files and report on it; returns a ``Model`` ready to ``save``.

    Parameters
    ----------
    corpus : sequence of paths, optional
        CSV / TSV / JSONL files with a text and a label column. Default: the shipped corpus.
    text_column, label_column : str
        Column (or JSON key) names.
    labels : sequence of str, optional
        The allowed labels; a label outside them is an error with the nearest one suggested.
        Default: whatever labels the corpus has (two or more).
    params : Params, optional
        Feature and classifier settings; default ``Params()``.
    search_grid : bool or dict
        True: grid-search ``SEARCH_GRID`` by grouped cross-validation and keep the best settings;
        a dict: search that grid instead.
    dev : sequence of paths, optional
        A labelled dev set evaluated separately (never trained on).
    n_splits : int
        Cross-validation folds; folds keep near-duplicate texts together.

    Returns
    -------
    Model
        With ``metadata`` holding the report (cross-validation, optional dev), settings and hashes.

    Raises
    ------
    CorpusError
        Before any training, for every problem in the corpus (file and line named).
    """
    import platform

    import joblib
    import sklearn

    from . import __version__
    from ._corpus import corpus_sha256, deduplicate, read_labelled, shipped_corpus_files, validate
    from ._model import Model

    say = progress or (lambda msg: None)
    files = [str(p) for p in (corpus or shipped_corpus_files())]
    examples = read_labelled(files, text_column=text_column, label_column=label_column)
    validate(examples, labels=labels)
    unique = deduplicate(examples)
    texts, ys = examples_xy(unique)
    say(f"read {len(examples)} texts ({len(examples) - len(unique)} duplicates dropped) from {len(files)} file(s)")
    params = params or Params()
    search_rows = None
    if search_grid:
        grid = SEARCH_GRID if search_grid is True else search_grid
        params, search_rows = search(texts, ys, params, grid, n_splits=n_splits, progress=say)
        say(f"search chose {params.to_json()}")
    start = time.perf_counter()
    cv = cross_validate(texts, ys, params, n_splits=n_splits, progress=say)
    cv_seconds = time.perf_counter() - start
    # Fitted in this process, after the folds: in a worker its pickle bytes varied from run to run, and
    # beside the folds it only competed with them for the two cores.
    pipeline = fit(texts, ys, params)
    portable = to_portable(pipeline, {"evidence_stop_words": english_stop_words()})
    scratch = Model(portable)
    threshold = no_signal_threshold([scratch.evidence(t) for t in texts])
    portable = replace(portable, extra={**portable.extra, "no_signal_threshold": threshold})
    counts = {c: ys.count(c) for c in sorted(set(ys))}
    meta: dict[str, Any] = {
        "marksales_version": __version__,
        "labels": list(portable.classes),
        "label_counts": counts,
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "joblib": joblib.__version__},
        "corpus": {"files": [_short(f) for f in files], "sha256": corpus_sha256(unique), "n_texts": len(unique),
                   "duplicates_dropped": len(examples) - len(unique),
                   "text_column": text_column, "label_column": label_column},
        "params": params.to_json(),
        "search": search_rows,
        "cv": cv,
        "no_signal_threshold": threshold,
        # Timings vary run to run; the fingerprint leaves them out.
        "timings": {"cv_seconds": round(cv_seconds, 2),
                    "search_seconds": [row.pop("seconds") for row in search_rows or []]},
    }
    model = Model(portable, meta, None, pipeline)
    if dev:
        meta["dev"], dev_proba = _evaluate(model, dev, text_column=text_column, label_column=label_column)
        # The dev probabilities as trained: a later install (other numpy, other scikit-learn) must reproduce them.
        meta["reference_probabilities"] = dev_proba.tolist()
    model.metadata = meta
    return model


def _short(path: str) -> str:
    from pathlib import Path

    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def evaluate_files(model: Any, paths: Sequence[str], *, text_column: str = "text",
                   label_column: str = "label") -> dict[str, Any]:
    """Evaluate ``model`` on labelled files; adds macro-F1 by ``form`` when the files have that column."""
    return _evaluate(model, paths, text_column=text_column, label_column=label_column)[0]


def _evaluate(model: Any, paths: Sequence[str], *, text_column: str, label_column: str
              ) -> tuple[dict[str, Any], np.ndarray]:
    """``evaluate_files``'s report, and the probabilities it was computed from."""
    from ._corpus import read_labelled

    examples = read_labelled(list(paths), text_column=text_column, label_column=label_column)
    texts, ys = examples_xy(examples)
    proba = model.predict_proba(texts)
    report = evaluate_predictions(ys, proba, model.classes)
    report["files"] = [_short(str(p)) for p in paths]
    forms = _forms(paths)
    if forms and len(forms) == len(texts):
        by_form = {}
        for form in sorted(set(forms)):
            keep = [i for i, f in enumerate(forms) if f == form]
            r = evaluate_predictions([ys[i] for i in keep], proba[keep], model.classes)
            by_form[form] = {"n": r["n"], "accuracy": r["accuracy"], "macro_f1": r["macro_f1"]}
        report["by_form"] = by_form
    return report, proba


def _forms(paths: Sequence[str]) -> list[str] | None:
    """The optional ``form`` column of JSONL files (title / sentence / excerpt / posting)."""

    forms: list[str] = []
    for p in paths:
        if not str(p).endswith(".jsonl"):
            return None
        with open(p, encoding="utf-8-sig") as f:
            for line in f:
                if line.strip():
                    form = json.loads(line).get("form")
                    if not isinstance(form, str):
                        return None
                    forms.append(form)
    return forms
