"""``train``: a labelled corpus in, a ``Model`` out, with its cross-validation and dev reports.

The public face of retraining. The fitting is ``_fit.fit_model``'s; this module wraps the result in a
``Model`` (inference) and measures it on the dev files (``_evaluation``), so it comes after both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._corpus import Example, checked, labelled_example, read_labelled, shipped_corpus_files
from ._errors import CorpusError, CorpusProblem, type_error
from ._evaluation import evaluate_examples
from ._fit import SEARCH_GRID, Params, fit_model, grid_settings, short_name
from ._model import Model

__all__ = ["SEARCH_GRID", "Params", "train"]


def train(
    corpus: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Any = None,
    *,
    texts: Iterable[str] | None = None,
    labels: Iterable[str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    allowed_labels: Sequence[str] | None = None,
    params: Params | None = None,
    search: bool = False,
    grid: dict[str, list[Any]] | None = None,
    dev: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    n_splits: int = 5,
    progress: Callable[[str], None] | None = None,
    other_label: str = "other",
    on_conflict: str = "majority",
) -> Model:
    """Train a model on labelled files or in-memory data and report on it; returns a ``Model`` ready to ``save``.

    Parameters
    ----------
    corpus : path, sequence of paths or pandas DataFrame, optional
        CSV / TSV / JSONL files with a text and a label column, or a DataFrame with those columns (and
        an optional ``form`` column). Default: the shipped corpus (unless ``texts`` are given).
    texts, labels : iterables of str, optional
        In-memory data instead of ``corpus``: the texts and their labels, of equal length. Problems name
        the source ``<texts>`` and the 1-based row.
    text_column, label_column : str
        Column (or JSON key) names of files and DataFrames.
    allowed_labels : sequence of str, optional
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
        Before any training, for every problem in the corpus (file and line named); its ``problems``
        hold them as ``CorpusProblem`` records (kind, message, source, line, text).

    Examples
    --------
    >>> from marksales import train
    >>> marketing = ["Brand campaign manager", "Brand campaign lead", "Campaign and brand planner",
    ...              "Brand PR campaign officer", "Brand content and campaign writer"]
    >>> sales = ["Account sales executive", "Sales account rep", "Inside sales account closer",
    ...          "Key account sales manager", "Field sales account executive"]
    >>> model = train(texts=marketing + sales, labels=["marketing"] * 5 + ["sales"] * 5, n_splits=2)
    >>> model.classes
    ('marketing', 'sales')
    """
    read = None
    if texts is not None or labels is not None:
        if corpus is not None and texts is None:
            raise TypeError("labels= is the labels of texts= (since 0.3); for the set of allowed labels of a "
                            "corpus, pass allowed_labels=.")
        if corpus is not None:
            raise TypeError("pass either corpus (files or a DataFrame) or texts= and labels=, not both.")
        files, read = ["<texts>"], _in_memory(texts, labels)
    elif _is_frame(corpus):
        files, read = ["<DataFrame>"], _from_frame(corpus, text_column, label_column)
    else:
        files = _paths(corpus, "corpus") if corpus is not None else [str(p) for p in shipped_corpus_files()]
    grid = grid if grid is not None else (SEARCH_GRID if search else None)
    if grid is not None:  # every setting of the grid is checked now, not after the text is analysed
        grid_settings(params or Params(), grid)
    dev_files = _paths(dev, "dev") if dev is not None else []
    # read before training, so a dev file without the columns fails in a second, not after the folds
    dev_examples = read_labelled(dev_files, text_column=text_column, label_column=label_column) if dev_files else []
    fitted = fit_model(files, read=read, text_column=text_column, label_column=label_column,
                       labels=allowed_labels, params=params,
                       grid=grid, n_splits=n_splits,
                       progress=progress, other_label=other_label, on_conflict=on_conflict)
    meta = dict(fitted.metadata)
    model = Model(fitted.portable, meta, None, fitted.pipeline, scope_pipeline=fitted.scope_pipeline)
    if dev_files:
        meta["dev"], _ = evaluate_examples(model, dev_examples)
        meta["dev"]["files"] = [short_name(p) for p in dev_files]
        # The dev probabilities as trained, of every dev row: a later install (other numpy, other
        # scikit-learn) must reproduce them.
        dev_texts = [e.text for e in dev_examples]
        meta["reference_probabilities"] = model.predict_proba(dev_texts).tolist()
        if model.has_scope:
            meta["reference_relevance"] = model.relevance(dev_texts).tolist()
    return Model(fitted.portable, meta, None, fitted.pipeline, scope_pipeline=fitted.scope_pipeline)


def _is_frame(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "iloc") and not isinstance(value, (str, os.PathLike))


def _in_memory(texts: Iterable[str] | None, labels: Iterable[str] | None) -> Callable[[], list[Example]]:
    if texts is None or labels is None:
        raise TypeError("texts= and labels= go together: pass both, of equal length (for the set of allowed "
                        "labels, use allowed_labels=).")
    for name, value in (("texts", texts), ("labels", labels)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise type_error(name, "an iterable of str", value, f"Pass a list, e.g. {name}=[...].")
    text_list, label_list = list(texts), list(labels)
    if len(text_list) != len(label_list):
        raise ValueError(f"texts and labels must have the same length, not {len(text_list)} and "
                         f"{len(label_list)}. Pass one label per text.")

    return _reader(lambda: zip(text_list, label_list, [None] * len(text_list)), "<texts>")


def _from_frame(frame: Any, text_column: str, label_column: str) -> Callable[[], list[Example]]:
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        message = (f"the DataFrame has no column {', '.join(map(repr, missing))} (its columns are "
                   f"{', '.join(map(repr, map(str, frame.columns)))}); pass text_column= / label_column=.")
        raise CorpusError(message, [CorpusProblem("missing_column", message, "<DataFrame>")])
    forms = frame["form"].tolist() if "form" in frame.columns else [None] * len(frame)
    # NaN cells are floats: labelled_example reports them as empty or not a string, by row
    return _reader(lambda: zip(frame[text_column].tolist(), frame[label_column].tolist(), forms), "<DataFrame>")


def _reader(rows: Callable[[], Iterable[tuple[Any, Any, Any]]], source: str) -> Callable[[], list[Example]]:
    """What reads in-memory (text, label, form) rows as a file's rows are read: every problem by 1-based row."""

    def read() -> list[Example]:
        problems: list[CorpusProblem] = []
        examples = [labelled_example(t, y, f, source, i, problems) for i, (t, y, f) in enumerate(rows(), start=1)]
        return checked([e for e in examples if e is not None], problems, source)

    return read


def _paths(value: Any, name: str) -> list[str]:
    """One path or a sequence of paths as a list of str (a bare str is one path, not its characters)."""
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in value):
        return [os.fspath(p) for p in value]
    raise type_error(name, "a path, a sequence of paths or a DataFrame", value,
                     "Pass file names, e.g. train(['postings.csv']), a DataFrame, or texts=[...], labels=[...].")



