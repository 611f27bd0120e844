"""The Model object, loading (portable by default, pickles only when trusted), classify and explain.

All inference goes through ``Scorer`` from ``_scoring``: numpy and the standard library only. The
scikit-learn pickle is read only on request (``Model.pipeline``, or a ``.joblib`` path): the installed
package's own, or another file when the caller passes ``trusted=True`` for that load.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, overload

import numpy as np

from ._artifacts import METADATA_NAME, PICKLE_NAME, PORTABLE_NAME, sha256_bytes, sha256_file, write_model
from ._errors import ModelFileError, UntrustedModelError, describe, type_error
from ._export import evidence_weights
from ._format import PortableModel, check_no_signal_threshold, read_file, read_header
from ._scoring import Scorer, sigmoid_calibrated
from ._types import Explanation, Prediction, SentenceScore, TermWeight

MAX_METADATA_BYTES = 1 << 26

# classify_iter reads this many texts ahead, so that their new words are analysed together.
_PREPARE_BATCH = 256
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)|[\r\n]+|\s*[\u2022\u25cf\u25aa\u00b7]\s*|\s+[-*]\s+(?=[A-Z])")
_EDGE_PUNCT = re.compile(r"^\W+|\W+$")
logger = logging.getLogger(__name__)


class Model:
    """A loaded marksales model: classification, explanation and metadata.

    Build one with :func:`load_model`; nothing changes it after construction (``save`` returns a new
    Model), and it is safe to share between threads.

    Parameters
    ----------
    portable : PortableModel
        The model's arrays (see ``marksales._format``).
    metadata : Mapping
        What training recorded: labels, versions, corpus hash, metrics, file checksums.
    path : Path or None
        Where the model was loaded from (``None`` for an in-memory model).
    """

    def __init__(self, portable: PortableModel, metadata: Mapping[str, Any] | None = None,
                 path: Path | None = None, pipeline: Any = None, *, trusted: bool = False,
                 scope_pipeline: Any = None) -> None:
        self._trusted = trusted
        self._scope_pipeline = scope_pipeline
        self._scorer = Scorer(portable, evidence_weights(portable))
        self.metadata: Mapping[str, Any] = dict(metadata or {})
        self.path = path
        self._pipeline = pipeline
        self.classes: tuple[str, ...] = portable.classes
        self._uniform = {c: 1.0 / len(self.classes) for c in self.classes}
        extra = portable.extra
        self._stop_words = frozenset(extra.get("evidence_stop_words", ()))
        self.no_signal_threshold = float(extra.get("no_signal_threshold", 0.0))
        self._binary = len(self.classes) == 2
        if self._binary:
            self._a = float(portable.calib_a[0])
            self._b = float(portable.calib_b[0])
        self.has_scope = portable.scope is not None
        #: Relevance at or above this is in scope (``None`` without a scope head); chosen at training.
        self.scope_threshold: float | None = portable.scope.threshold if portable.scope is not None else None

    def __repr__(self) -> str:
        where = f" from {str(self.path)!r}" if self.path else ""
        return f"<marksales.Model classes={list(self.classes)}{where}>"

    # ---------------------------------------------------------------- classification

    @overload
    def classify(self, texts: str) -> Prediction: ...  # type: ignore[overload-overlap]

    @overload
    def classify(self, texts: Iterable[str]) -> list[Prediction]: ...

    def classify(self, texts: str | Iterable[str]) -> Prediction | list[Prediction]:
        """Classify one text, or each of many.

        Parameters
        ----------
        texts : str or iterable of str
            One text (title, sentence or whole posting), or an iterable of texts.

        Returns
        -------
        Prediction or list of Prediction
            One ``Prediction`` for a string; for an iterable, a list in the same order and of the same
            length.

        Raises
        ------
        TypeError
            For anything but a string or an iterable of strings; the message gives the index of the
            first non-string item.

        Examples
        --------
        >>> from marksales import load_model
        >>> model = load_model()
        >>> model.classify("Cold call prospects and close deals against a monthly quota").label
        'sales'
        >>> [p.label for p in model.classify(["Brand Manager", "Inside Sales Representative"])]
        ['marketing', 'sales']
        """
        if isinstance(texts, str):
            return self._one(texts)
        checked = _checked_texts(texts, "texts")
        self._scorer.features.prepare(checked)  # the texts' new words, analysed together
        return [self._one(t) for t in checked]

    def _one(self, text: str) -> Prediction:
        d, evidence = self._scorer.decisions(text)
        if self._binary:
            p1 = sigmoid_calibrated(self._a, self._b, d[0])
            c0, c1 = self.classes
            probs = {c0: 1.0 - p1, c1: p1}
            label = c1 if p1 > 0.5 else c0  # a tie goes to the first class, as max() does below
        else:
            row = self._scorer.proba_from_decision(np.array([d[: self._scorer.n_lean]]))[0]
            probs = dict(zip(self.classes, row.tolist()))
            label = max(probs, key=probs.__getitem__)
        no_signal = evidence < self.no_signal_threshold
        relevance = in_scope = None
        if self.scope_threshold is not None:
            relevance = self._scorer.relevance_from_decision(d[-1])
            # the scope head decides; a text with no known content word at all is never in scope
            in_scope = relevance >= self.scope_threshold and evidence > 0.0
        if no_signal:
            return Prediction(label, 1.0 / len(self.classes), dict(self._uniform), evidence, True, relevance, in_scope)
        return Prediction(label, probs[label], probs, evidence, False, relevance, in_scope)

    def classify_iter(self, texts: Iterable[str]) -> Iterator[Prediction]:
        """Classify an iterable of texts lazily, in order: memory stays flat for any length.

        Works on any iterable of strings, a pandas Series included (pandas is not needed).

        Raises
        ------
        TypeError
            When ``texts`` is a string, or when an item is not a string (with its index).
        """
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
            raise type_error("texts", "an iterable of str", texts,
                             "To classify one text, call classify(text).")
        items = iter(texts)
        for start in itertools.count(0, _PREPARE_BATCH):
            batch = list(itertools.islice(items, _PREPARE_BATCH))
            if not batch:
                return
            self._scorer.features.prepare([t for t in batch if isinstance(t, str)])
            for i, text in enumerate(batch, start):
                if not isinstance(text, str):
                    raise type_error(f"texts[{i}]", "a str", text, "Convert or drop the item first.")
                yield self._one(text)

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """Raw calibrated probabilities, shape (n_texts, n_classes), columns in ``self.classes`` order.

        These equal the scikit-learn Pipeline's ``predict_proba`` (to rounding error); unlike
        ``classify`` they do not apply the no-signal rule.
        """
        return self._scorer.predict_proba(_checked_texts(texts, "texts"))

    def relevance(self, texts: Iterable[str]) -> np.ndarray:
        """The scope head's calibrated probabilities that each text is marketing or sales work, shape (n,).

        Raw, like ``predict_proba``: ``in_scope``'s rule (no known content word, never in scope) is not
        applied. ``ModelFileError`` for a model without a scope head.
        """
        if not self.has_scope:
            raise ModelFileError("this model has no scope head (it was trained without out-of-scope texts); "
                                 "retrain with out-of-scope rows labelled `other` to get one.")
        checked = _checked_texts(texts, "texts")
        self._scorer.features.prepare(checked)
        return np.array([self._scorer.relevance_from_decision(float(self._scorer.decisions(t)[0][-1]))
                         for t in checked])

    def evidence(self, text: str) -> float:
        """The evidence measure of ``text`` (see ``Prediction.evidence``)."""
        if not isinstance(text, str):
            raise type_error("text", "a str", text, "Pass the text itself.")
        return self._scorer.evidence_of(self._scorer.features.counts(text)[0])

    # ---------------------------------------------------------------- explanation

    def explain(self, text: str, *, top: int = 10) -> Explanation:
        """Which terms pushed the decision each way, and for a longer text which sentences.

        Parameters
        ----------
        text : str
            The text to explain.
        top : int, default=10
            How many terms to keep per class.

        Returns
        -------
        Explanation
            ``terms[label]``: the strongest terms toward each label; ``sentences``: every sentence
            of a multi-sentence text with its own prediction (``most(label)`` ranks them). Stop words
            ("and", "will", "a": the list ``evidence`` ignores) are left out of the terms, though their
            features count in the decision as every feature does.

        Examples
        --------
        >>> from marksales import explain
        >>> e = explain("Own a quota and close new business. Report weekly pipeline to the VP of Sales.")
        >>> e.prediction.label
        'sales'
        >>> len(e.sentences)
        2
        """
        if not isinstance(text, str):
            raise type_error("text", "a str", text, "Pass the text itself.")
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise ValueError(f"top must be a positive int, not {describe(top)}.")
        prediction = self._one(text)
        idx, contrib = self._scorer.contributions(text)
        words = self._scorer.features.words(text)
        totals: dict[str, np.ndarray] = {}
        k = contrib.shape[1]  # one column per class, then the scope head's when there is one
        for j, row in zip(idx.tolist(), contrib):
            _, term = self._scorer.features.feature_name(j)
            if self._scorer.features.is_word(j):
                key = term
                totals[key] = totals.get(key, np.zeros(k)) + row
                continue
            # Credit a character n-gram to the words it occurs in, in proportion to its occurrences.
            hits = [(w, (" " + w + " ").count(term)) for w in set(words)]
            hits = [(w, c) for w, c in hits if c]
            n_hits = sum(c for _, c in hits)
            for w, c in hits:
                key = _EDGE_PUNCT.sub("", w) or w
                totals[key] = totals.get(key, np.zeros(k)) + row * (c / n_hits)
        for word in self._stop_words.intersection(totals):
            del totals[word]
        terms = {}
        for ci, label in enumerate(self.classes):
            ranked = sorted(((t, float(v[ci])) for t, v in totals.items() if v[ci] > 0), key=lambda x: -x[1])
            terms[label] = tuple(TermWeight(t, w) for t, w in ranked[:top])
        scope_terms: dict[str, tuple[TermWeight, ...]] = {}
        if self.has_scope:
            scope = {t: float(v[-1]) for t, v in totals.items()}  # the last column: the scope head
            for name, sign in (("in_scope", 1.0), ("out_of_scope", -1.0)):
                ranked = sorted(((t, sign * w) for t, w in scope.items() if sign * w > 0), key=lambda x: -x[1])
                scope_terms[name] = tuple(TermWeight(t, w) for t, w in ranked[:top])
        pieces = sentences_of(text)
        sentences: tuple[SentenceScore, ...] = ()
        if len(pieces) >= 2:
            sentences = tuple(SentenceScore(s, self._one(s)) for s in pieces if re.search(r"\w", s))
        return Explanation(prediction, terms, sentences, scope_terms)

    # ---------------------------------------------------------------- the scikit-learn object

    @property
    def pipeline(self) -> Any:
        """The fitted scikit-learn Pipeline, read from the joblib file beside the portable model.

        Unpickling runs code from the file, so it is read only for the model installed with marksales,
        or when this model was loaded with ``load_model(path, trusted=True)``; otherwise
        ``UntrustedModelError``. Nothing else needs the pickle: inference uses the portable form.
        """
        if self._pipeline is None:
            self._read_pipelines()
        return self._pipeline

    @property
    def scope_pipeline(self) -> Any:
        """The scope head's fitted Pipeline (same features as ``pipeline``; classes 0 = out of scope,
        1 = in scope), read from the pickle as ``pipeline`` is; ``None`` for a model without a scope head."""
        if not self.has_scope:
            return None
        if self._scope_pipeline is None:
            self._read_pipelines()
        return self._scope_pipeline

    def _read_pipelines(self) -> None:
        if self.path is None:
            raise ModelFileError("this model was not loaded from a file, so it has no pickle beside it.")
        self._pipeline, self._scope_pipeline = split_pickled(
            _load_pickle(self.path.with_name(PICKLE_NAME), self.metadata, trusted=self._trusted),
            self.path.with_name(PICKLE_NAME))

    def fitted_pipelines(self) -> Any:
        """What ``model.joblib`` holds for this model, when it is in memory (after ``train``): the lean
        Pipeline, or ``{"lean": ..., "scope": ...}`` with a scope head; ``None`` when not loaded."""
        if self._pipeline is None:
            return None
        if self._scope_pipeline is None:
            return self._pipeline
        return {"lean": self._pipeline, "scope": self._scope_pipeline}

    @property
    def portable(self) -> PortableModel:
        """The model's arrays (the portable form that ``model.npz`` holds)."""
        return self._scorer.model

    def save(self, directory: str | Path, *, force: bool = False) -> Model:
        """Write the model (model.npz, model.joblib, model.json, model.md) into ``directory``, atomically.

        Returns the saved model: the same arrays, with the metadata as written (file checksums,
        creation date, fingerprint) and its path. This model is not changed. Raises
        ``FileExistsError`` if a model is already there and ``force`` is False.
        """
        meta = write_model(self.portable, self.fitted_pipelines(), self.metadata, directory, force=force)
        saved = copy.copy(self)  # shares the scorer (its tables are not built again) and the pipelines
        saved.metadata = meta
        saved.path = Path(directory) / PORTABLE_NAME
        return saved


def split_pickled(obj: Any, path: Path) -> tuple[Any, Any]:
    """The lean and scope Pipelines of an unpickled ``model.joblib``: a Pipeline (a model without a scope
    head) or ``{"lean": Pipeline, "scope": Pipeline}``."""
    if isinstance(obj, dict) and set(obj) == {"lean", "scope"}:
        return obj["lean"], obj["scope"]
    if hasattr(obj, "named_steps"):
        return obj, None
    raise ModelFileError(f"{str(path)!r} holds a {type(obj).__qualname__}, not a marksales Pipeline.")


def _checked_texts(texts: Any, name: str) -> list[str]:
    if isinstance(texts, (str, bytes, bytearray)):
        raise type_error(name, "an iterable of str", texts,
                         "Wrap a single text in a list, or call classify(text) for one text.")
    if texts is None or not isinstance(texts, Iterable):
        raise type_error(name, "a str or an iterable of str", texts, "Pass text, e.g. classify('Brand Manager').")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise type_error(f"{name}[{i}]", "a str", t, "Convert the item to str or drop it first.")
    return out


# -------------------------------------------------------------------- loading


def _read_metadata(path: Path) -> dict[str, Any]:
    """The ``model.json`` beside a model file, checked for the fields inference reads; {} when absent."""
    meta_path = path.with_name(METADATA_NAME)
    if not os.path.lexists(meta_path):
        return {}
    data = read_file(meta_path, max_bytes=MAX_METADATA_BYTES)
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"the metadata {str(meta_path)!r} is unreadable: {str(exc)[:200]}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"the metadata {str(meta_path)!r} is not a JSON object")
    files = meta.get("files", {})
    if not (isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
        raise ModelFileError(f"the metadata {str(meta_path)!r}: 'files' must map file names to sha256 strings, "
                             f"not {describe(files)}")
    check_no_signal_threshold(meta, f"the metadata {str(meta_path)!r}")
    return meta


def _load_portable(path: Path, *, trusted: bool = False) -> Model:
    data = read_file(path)
    meta = _read_metadata(path)
    expected = meta.get("files", {}).get(path.name)
    if expected is not None and sha256_bytes(data) != expected:
        raise ModelFileError(
            f"{str(path)!r} does not match the sha256 in {METADATA_NAME} beside it: the file was changed "
            f"or truncated after training. Re-copy it, or retrain with `marksales train`."
        )
    portable = PortableModel.from_bytes(data, source=str(path))
    del data  # 3 MB of packed file, not needed while the lookups are built
    return Model(portable, meta, path, trusted=trusted)


def _shipped_dir() -> Path:
    """The folder of the model that ships inside the installed package."""
    return Path(str(resources.files("marksales.models")))


def is_shipped(path: Path) -> bool:
    """Whether ``path`` is a file of the model installed with the package (the one pickle trusted by default)."""
    try:
        return path.resolve().parent == _shipped_dir().resolve()
    except OSError:
        return False


def _load_pickle(path: Path, meta: Mapping[str, Any], *, trusted: bool) -> Any:
    """Unpickle a Pipeline: the installed package's own, or any other file when the caller trusts it.

    A checksum in a ``model.json`` beside the pickle is no reason to trust it: whoever can write the one
    can write the other. So outside the installed package nothing is unpickled without ``trusted=True``.
    """
    shipped = is_shipped(path)
    if not trusted and not shipped:
        npz = path.with_name(PORTABLE_NAME)
        instead = (f"Load {str(npz)!r} (or its folder) instead: the portable form runs no code. "
                   if npz.is_file() else
                   "This folder has no portable model.npz; retrain with `marksales train` to get one. ")
        raise UntrustedModelError(
            f"refusing to unpickle {str(path)!r}: it is not the model installed with marksales, and unpickling "
            f"runs whatever code the file contains. {instead}If you made this pickle yourself, pass "
            f"trusted=True (or --trusted on the command line)."
        )
    if not path.is_file():
        raise ModelFileError(f"no pickle at {str(path)!r}")
    if shipped:
        expected = meta.get("files", {}).get(path.name)
        if expected is not None and sha256_file(path) != expected:
            raise ModelFileError(
                f"{str(path)!r} does not match the sha256 in {METADATA_NAME} beside it: the installed "
                f"package is damaged. Reinstall marksales."
            )
    try:
        from sklearn.exceptions import InconsistentVersionWarning
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise ModelFileError("reading a pickled Pipeline needs scikit-learn installed") from exc
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            return joblib.load(path)
        except InconsistentVersionWarning as w:
            raise ModelFileError(
                f"{str(path)!r} was pickled with scikit-learn {w.original_sklearn_version} and this is "
                f"scikit-learn {w.current_sklearn_version}; a pickle is not safe across versions. "
                f"Use the portable model.npz beside it (load_model() does by default), or retrain with "
                f"`marksales train`."
            ) from None


def load_model(path: str | Path | None = None, *, trusted: bool = False) -> Model:
    """Load a model: the shipped default when ``path`` is None, cached after the first call.

    Parameters
    ----------
    path : str, Path or None
        A model directory (holding ``model.npz``), a portable ``.npz`` file, or a scikit-learn
        ``.joblib`` pickle. None: the model that ships inside the package.
    trusted : bool, default=False
        Allow unpickling for this load: a ``.joblib`` path, or ``Model.pipeline`` of a model directory.
        Unpickling runs code from the file; pass True only for files you made. Without it, only the
        model installed with marksales is ever unpickled; every other model is read from its portable
        ``model.npz``, which is data and cannot run code.

    Returns
    -------
    Model

    Raises
    ------
    ModelFileError
        The file is missing, corrupt, truncated, of another format version or inconsistent.
    UntrustedModelError
        A pickle from outside the installed package, and ``trusted`` is False.
    """
    if path is None:
        return _default_model()
    if not isinstance(path, (str, Path)):
        raise type_error("path", "a str or pathlib.Path", path, "Pass the model file or directory.")
    p = Path(path)
    if p.is_dir():
        if not (p / PORTABLE_NAME).exists() and (p / PICKLE_NAME).exists():
            raise UntrustedModelError(
                f"{str(p)!r} holds only a pickle ({PICKLE_NAME}), no portable {PORTABLE_NAME}; marksales never "
                f"unpickles a file unless told to. If you made it, load {str(p / PICKLE_NAME)!r} with "
                f"trusted=True (--trusted); otherwise retrain with `marksales train` to get a {PORTABLE_NAME}."
            )
        p = p / PORTABLE_NAME
    if not p.exists():
        raise ModelFileError(f"no model at {str(p)!r}; pass a model directory, a .npz or a .joblib file.")
    if p.suffix in (".joblib", ".pkl", ".pickle"):
        meta = _read_metadata(p)
        pipeline, scope = split_pickled(_load_pickle(p, meta, trusted=trusted), p)
        from ._export import to_portable

        extra = _extra_from_metadata(meta, p)
        scope_meta = meta.get("scope") or {}
        try:
            portable = to_portable(pipeline, extra, scope=scope,
                                   scope_threshold=float(scope_meta.get("threshold", 0.5)),
                                   other_label=str(scope_meta.get("other_label", "other")))
        except ValueError as exc:  # a Pipeline outside the layout the trainer makes
            raise ModelFileError(f"{str(p)!r}: {exc} Retrain with `marksales train`.") from None
        return Model(portable, meta, p, pipeline, trusted=trusted, scope_pipeline=scope)
    return _load_portable(p, trusted=trusted)


def _extra_from_metadata(meta: Mapping[str, Any], path: Path) -> dict[str, Any]:
    from ._export import english_stop_words

    if "no_signal_threshold" not in meta:
        logger.warning("%s has no model.json beside it with the no-signal threshold: no text will be marked "
                       "no_signal. Load the model's whole folder, or keep model.json with the pickle.", path)
    return {"no_signal_threshold": float(meta.get("no_signal_threshold", 0.0)),
            "evidence_stop_words": english_stop_words()}


@functools.cache
def _default_model() -> Model:
    root = resources.files("marksales.models")
    path = Path(str(root / PORTABLE_NAME))
    return _load_portable(path)


def read_model_header(path: str | Path | None) -> tuple[tuple[str, ...], bool]:
    """A model's classes and whether it has a scope head, from its portable header alone (cheap)."""
    if path is None:
        p = Path(str(resources.files("marksales.models") / PORTABLE_NAME))
    else:
        p = Path(path)
        p = p / PORTABLE_NAME if p.is_dir() else p
    if p.suffix != ".npz":
        model = load_model(p)
        return model.classes, model.has_scope
    header = read_header(read_file(p), source=str(p))
    return tuple(header["classes"]), header.get("scope") is not None


def default_model() -> Model:
    """The shipped model (loaded on first use, then cached)."""
    return _default_model()


def sentences_of(text: str) -> list[str]:
    """Split a posting into sentences and bullets the way ``explain`` does."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]
