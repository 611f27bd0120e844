"""Typed results: what ``classify`` and ``explain`` return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Texts per chunk of batch scoring and classify_iter: ~1 MB of 2 KB postings per chunk in flight.
DEFAULT_CHUNK_SIZE = 500


@dataclass(frozen=True)
class Prediction:
    """The classification of one text.

    Attributes
    ----------
    label : str
        The most probable class (``"marketing"`` or ``"sales"`` for the shipped model).
    score : float
        The calibrated probability of ``label``, in [0, 1].
    probabilities : Mapping[str, float]
        The calibrated probability of every class, in the model's class order; they sum to 1.
    evidence : float
        How much the text says about the task: the summed absolute weight of the model's known
        content words that occur in it (stop words excluded). 0.0 when no known word occurs.
    no_signal : bool
        True when ``evidence`` is below the model's threshold (empty text, lorem ipsum, a short title
        of rare words). Then ``probabilities`` are uniform, ``score`` is ``1 / n_classes`` and ``label``
        is only the model's best guess: treat the lean as "unknown".
    relevance : float or None
        The calibrated probability that the text describes marketing or sales work at all (the scope
        head). ``None`` when the model has no scope head (a model trained without out-of-scope texts,
        or a format-1 file): then scope is unknown.
    in_scope : bool or None
        The one field to filter on: True when the text is marketing or sales work, that is
        ``relevance >= `` the model's scope threshold, for a text with at least one known content word
        (``evidence > 0``; a ``no_signal`` text can be in scope). ``None`` when the model has no scope head.

    Notes
    -----
    The three questions read independently. ``label``/``score``/``probabilities`` are the
    marketing-vs-sales lean, reported for every text, in scope or not (how sales-like an engineering
    posting reads); ``in_scope`` says whether that lean describes marketing or sales work at all;
    ``no_signal`` says the text carries too little known vocabulary for the lean.
    """

    label: str
    score: float
    probabilities: Mapping[str, float]
    evidence: float
    no_signal: bool
    relevance: float | None = None
    in_scope: bool | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict: label, score, probabilities, evidence, no_signal, relevance, in_scope."""
        return {
            "label": self.label,
            "score": self.score,
            "probabilities": dict(self.probabilities),
            "evidence": self.evidence,
            "no_signal": self.no_signal,
            "relevance": self.relevance,
            "in_scope": self.in_scope,
        }


@dataclass(frozen=True)
class TermWeight:
    """A term of the text and how far it pushed the decision toward one class (a positive weight)."""

    term: str
    weight: float


@dataclass(frozen=True)
class SentenceScore:
    """One sentence of a longer text and its own classification."""

    text: str
    prediction: Prediction


@dataclass(frozen=True)
class Explanation:
    """Why a text got its label.

    Attributes
    ----------
    prediction : Prediction
        The classification of the whole text.
    terms : Mapping[str, tuple[TermWeight, ...]]
        For every class, the words and word pairs of the text that pushed toward it, strongest first.
        Character n-gram weights are credited to the words they come from. Weights are in
        decision-function units (log-odds before calibration).
    sentences : tuple[SentenceScore, ...]
        For a text of two or more sentences, every sentence with its own prediction, in text order;
        empty for a single sentence. ``most(label)`` picks the strongest ones.
    scope_terms : Mapping[str, tuple[TermWeight, ...]]
        For a model with a scope head: ``"in_scope"``, the terms that pushed the text toward marketing
        or sales work, and ``"out_of_scope"``, those that pulled it out; empty otherwise.
    """

    prediction: Prediction
    terms: Mapping[str, tuple[TermWeight, ...]]
    sentences: tuple[SentenceScore, ...]
    scope_terms: Mapping[str, tuple[TermWeight, ...]] = field(default_factory=dict)

    def most(self, label: str, n: int = 3) -> tuple[SentenceScore, ...]:
        """The ``n`` sentences with the highest probability of ``label``, strongest first."""
        ranked = sorted(self.sentences, key=lambda s: -s.prediction.probabilities[label])
        return tuple(ranked[:n])

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict of the whole explanation."""
        return {
            "prediction": self.prediction.to_dict(),
            "terms": {label: [[t.term, t.weight] for t in ts] for label, ts in self.terms.items()},
            "scope_terms": {k: [[t.term, t.weight] for t in ts] for k, ts in self.scope_terms.items()},
            "sentences": [{"text": s.text, **s.prediction.to_dict()} for s in self.sentences],
        }
