"""``train``: a labelled corpus in, a ``Model`` out, with its cross-validation and dev reports.

The public face of retraining. The fitting is ``_fit.fit_model``'s; this module wraps the result in a
``Model`` (inference) and measures it on the dev files (``_evaluation``), so it comes after both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from ._corpus import read_labelled, shipped_corpus_files
from ._errors import type_error
from ._evaluation import evaluate_examples
from ._fit import SEARCH_GRID, Params, fit_model, short_name
from ._model import Model

__all__ = ["SEARCH_GRID", "Params", "train"]


def train(
    corpus: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    labels: Sequence[str] | None = None,
    params: Params | None = None,
    search: bool = False,
    grid: dict[str, list[Any]] | None = None,
    dev: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    n_splits: int = 5,
    progress: Callable[[str], None] | None = None,
    other_label: str = "other",
    on_conflict: str = "majority",
) -> Model:
    """Train a model on labelled files and report on it; returns a ``Model`` ready to ``save``.

    Parameters
    ----------
    corpus : path or sequence of paths, optional
        CSV / TSV / JSONL files with a text and a label column. Default: the shipped corpus.
    text_column, label_column : str
        Column (or JSON key) names.
    labels : sequence of str, optional
        The allowed labels; a label outside them is an error with the nearest one suggested.
        Default: whatever labels the corpus has (two or more).
    params : Params, optional
        Feature and classifier settings; default ``Params()``.
    search : bool
        Grid-search the settings by grouped cross-validation (``grid``, default ``SEARCH_GRID``) and
        keep the best; the grid and every result are recorded in the metadata.
    grid : dict, optional
        The grid to search (implies ``search``).
    dev : path or sequence of paths, optional
        A labelled dev set evaluated separately (never trained on).
    n_splits : int
        Cross-validation folds, 2 to 20; folds keep near-duplicate texts together.
    other_label : str
        The label of out-of-scope texts (neither marketing nor sales, or whatever the corpus's labels
        are). When the corpus has such rows the model gets a scope head (``Prediction.relevance`` and
        ``in_scope``), and the lean is learnt from the other labels' texts only; otherwise it trains as a
        plain classifier of the corpus's labels.
    on_conflict : {"majority", "drop", "error"}
        A text that carries two or more labels: keep the label most of its rows carry (a tie drops the
        text), drop the text, or refuse the corpus naming each one. What was done is logged and stored
        in ``metadata["corpus"]["conflicts"]``.

    Returns
    -------
    Model
        With ``metadata`` holding the report (cross-validation, optional dev), settings and hashes.

    Raises
    ------
    CorpusError
        Before any training, for every problem in the corpus (file and line named).
    """
    files = _paths(corpus, "corpus") if corpus is not None else [str(p) for p in shipped_corpus_files()]
    dev_files = _paths(dev, "dev") if dev is not None else []
    fitted = fit_model(files, text_column=text_column, label_column=label_column, labels=labels, params=params,
                       grid=grid if grid is not None else (SEARCH_GRID if search else None), n_splits=n_splits,
                       progress=progress, other_label=other_label, on_conflict=on_conflict)
    meta = dict(fitted.metadata)
    model = Model(fitted.portable, meta, None, fitted.pipeline, scope_pipeline=fitted.scope_pipeline)
    if dev_files:
        dev_examples = read_labelled(dev_files, text_column=text_column, label_column=label_column)
        meta["dev"], _ = evaluate_examples(model, dev_examples)
        meta["dev"]["files"] = [short_name(p) for p in dev_files]
        # The dev probabilities as trained, of every dev row: a later install (other numpy, other
        # scikit-learn) must reproduce them.
        dev_texts = [e.text for e in dev_examples]
        meta["reference_probabilities"] = model.predict_proba(dev_texts).tolist()
        if model.has_scope:
            meta["reference_relevance"] = model.relevance(dev_texts).tolist()
    return Model(fitted.portable, meta, None, fitted.pipeline, scope_pipeline=fitted.scope_pipeline)


def _paths(value: Any, name: str) -> list[str]:
    """One path or a sequence of paths as a list of str (a bare str is one path, not its characters)."""
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in value):
        return [os.fspath(p) for p in value]
    raise type_error(name, "a path or a sequence of paths", value,
                     "Pass file names, e.g. train(['postings.csv']); to train on a DataFrame, write it to a "
                     "CSV first.")



