"""Typed results: what ``classify`` and ``explain`` return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
        True when ``evidence`` is below the model's threshold (empty text, "The cat sat on the mat",
        lorem ipsum, another language). Then ``probabilities`` are uniform, ``score`` is
        ``1 / n_classes`` and ``label`` is only the model's best guess: treat it as "unknown".
    """

    label: str
    score: float
    probabilities: Mapping[str, float]
    evidence: float
    no_signal: bool

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict: label, score, probabilities, evidence, no_signal."""
        return {
            "label": self.label,
            "score": self.score,
            "probabilities": dict(self.probabilities),
            "evidence": self.evidence,
            "no_signal": self.no_signal,
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
    """

    prediction: Prediction
    terms: Mapping[str, tuple[TermWeight, ...]]
    sentences: tuple[SentenceScore, ...]

    def most(self, label: str, n: int = 3) -> tuple[SentenceScore, ...]:
        """The ``n`` sentences with the highest probability of ``label``, strongest first."""
        ranked = sorted(self.sentences, key=lambda s: -s.prediction.probabilities[label])
        return tuple(ranked[:n])

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict of the whole explanation."""
        return {
            "prediction": self.prediction.to_dict(),
            "terms": {label: [[t.term, t.weight] for t in ts] for label, ts in self.terms.items()},
            "sentences": [{"text": s.text, **s.prediction.to_dict()} for s in self.sentences],
        }
