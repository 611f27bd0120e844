"""marksales: is a job title, duty sentence or posting marketing-like or sales-like?

>>> from marksales import classify
>>> classify("Senior Brand Manager").label
'marketing'
"""

# No ``from __future__ import annotations`` and private aliases: ``dir(marksales)`` shows the API only.
from collections.abc import Iterable as _Iterable
from collections.abc import Iterator as _Iterator
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any
from typing import overload as _overload

from ._errors import CorpusError, CorpusProblem, InputFileError, MarksalesError, ModelFileError, UntrustedModelError
from ._model import Model, load_model
from ._model import default_model as _default_model
from ._types import DEFAULT_CHUNK_SIZE as _DEFAULT_CHUNK_SIZE
from ._types import Explanation, Prediction, SentenceScore, TermWeight
from ._version import __version__

if _TYPE_CHECKING:
    from ._batch import ScoreSummary, score_file, score_frame
    from ._train import Params, train

# Training and file scoring load on first use, so that classifying one text imports neither (a new
# process classifies sooner: the benchmarks' cold start).
_LAZY = {"ScoreSummary": "_batch", "score_file": "_batch", "score_frame": "_batch", "Params": "_train",
         "train": "_train"}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


@_overload
def classify(texts: str) -> Prediction: ...  # type: ignore[overload-overlap]


@_overload
def classify(texts: _Iterable[str]) -> list[Prediction]: ...


def classify(texts: str | _Iterable[str]) -> Prediction | list[Prediction]:
    """Classify one text or each of many with the shipped model; see :meth:`Model.classify`.

    Examples
    --------
    >>> classify("Prospect, pitch and close new accounts").label
    'sales'
    >>> len(classify(["SEO Specialist", "SDR", "Media Buyer"]))
    3
    """
    return _default_model().classify(texts)


def explain(text: str, *, top: int = 10) -> Explanation:
    """Explain the shipped model's decision on ``text``; see :meth:`Model.explain`."""
    return _default_model().explain(text, top=top)


def classify_iter(texts: _Iterable[str], *, chunk_size: int = _DEFAULT_CHUNK_SIZE,
                  jobs: int = -1) -> _Iterator[Prediction]:
    """Classify any iterable of texts lazily and in order, over ``jobs`` processes; see ``classify_chunks``.

    Examples
    --------
    >>> [p.label for p in classify_iter(iter(["SDR", "SEO Specialist"]))]
    ['sales', 'marketing']
    """
    from ._batch import classify_chunks

    return classify_chunks(texts, chunk_size=chunk_size, jobs=jobs)


__all__ = [
    "CorpusError",
    "CorpusProblem",
    "Explanation",
    "InputFileError",
    "MarksalesError",
    "Model",
    "ModelFileError",
    "Params",
    "Prediction",
    "ScoreSummary",
    "SentenceScore",
    "TermWeight",
    "UntrustedModelError",
    "__version__",
    "classify",
    "classify_iter",
    "explain",
    "load_model",
    "score_file",
    "score_frame",
    "train",
]
