"""marksales: is a job title, duty sentence or posting marketing-like or sales-like?

>>> from marksales import classify
>>> classify("Senior Brand Manager").label
'marketing'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import overload

from ._batch import ScoreSummary, classify_chunks, score_file
from ._errors import CorpusError, InputFileError, MarksalesError, ModelFileError, UntrustedModelError
from ._model import Model, default_model, load_model
from ._train import Params, train
from ._types import Explanation, Prediction, SentenceScore, TermWeight

__version__ = "0.1.0"


@overload
def classify(texts: str) -> Prediction: ...  # type: ignore[overload-overlap]


@overload
def classify(texts: Iterable[str]) -> list[Prediction]: ...


def classify(texts: str | Iterable[str]) -> Prediction | list[Prediction]:
    """Classify one text or each of many with the shipped model; see :meth:`Model.classify`.

    Examples
    --------
    >>> classify("Prospect, pitch and close new accounts").label
    'sales'
    >>> len(classify(["SEO Specialist", "SDR", "Media Buyer"]))
    3
    """
    return default_model().classify(texts)


def explain(text: str, *, top: int = 10) -> Explanation:
    """Explain the shipped model's decision on ``text``; see :meth:`Model.explain`."""
    return default_model().explain(text, top=top)


def classify_iter(texts: Iterable[str], *, chunk_size: int = 2000, jobs: int = 1) -> Iterator[Prediction]:
    """Classify any iterable of texts lazily and in order, over ``jobs`` processes; see ``classify_chunks``.

    Examples
    --------
    >>> [p.label for p in classify_iter(iter(["SDR", "SEO Specialist"]))]
    ['sales', 'marketing']
    """
    return classify_chunks(texts, chunk_size=chunk_size, jobs=jobs)


__all__ = [
    "CorpusError",
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
    "train",
]
