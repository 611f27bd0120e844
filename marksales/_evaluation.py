"""Evaluating a model on labelled files: the lean on the lean's labels, the scope head on the rest.

A file may hold rows of the model's classes (scored for the lean), rows of the model's out-of-scope label
(``other``: scored for scope only) and rows of any other label, such as realdev's ``mixed`` (in scope, both
sides at once: scored for scope only). Reads the files with the corpus reader, so the same formats and
the same errors apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._corpus import Example, read_labelled
from ._model import Model
from ._report import evaluate_predictions


def evaluate_files(model: Model, paths: Sequence[str | Path], *, text_column: str = "text",
                   label_column: str = "label", other_label: str | None = None) -> dict[str, Any]:
    """Evaluate ``model`` on labelled files; see ``evaluate_examples``."""
    examples = read_labelled(list(paths), text_column=text_column, label_column=label_column)
    report, _ = evaluate_examples(model, examples, other_label=other_label)
    report["files"] = [short_name(str(p)) for p in paths]
    return report


def evaluate_examples(model: Model, examples: Sequence[Example], *, other_label: str | None = None
                      ) -> tuple[dict[str, Any], np.ndarray]:
    """The lean's report on the rows labelled with one of the model's classes (top-level keys, as
    ``evaluate_predictions`` gives them, plus ``by_form`` when the rows carry forms and ``confident``:
    accuracy and share of the rows scored 0.9 and 0.95 or more), and, for a model with a scope head,
    ``scope``: how many out-of-scope rows (``other_label``, default the model's) and in-scope rows (every
    other label) it flags, with the calibration of ``relevance``. Returns the report and the lean rows'
    probabilities."""
    classes = list(model.classes)
    lean = [e for e in examples if e.label in classes]
    texts = [e.text for e in lean]
    proba = model.predict_proba(texts) if lean else np.zeros((0, len(classes)))
    ys = [e.label for e in lean]
    report: dict[str, Any] = evaluate_predictions(ys, proba, classes) if lean else {"n": 0}
    report["n_rows"] = len(examples)
    if lean:
        forms = [e.form for e in lean]
        if all(forms):
            by_form = {}
            for form in sorted(set(forms)):  # type: ignore[type-var]
                keep = [i for i, f in enumerate(forms) if f == form]
                r = evaluate_predictions([ys[i] for i in keep], proba[keep], classes)
                by_form[str(form)] = {"n": r["n"], "accuracy": r["accuracy"], "macro_f1": r["macro_f1"]}
            report["by_form"] = by_form
        report["confident"] = confident_accuracy(ys, proba, classes)
    if model.has_scope:
        report["scope"] = scope_report(model, examples, other_label)
    return report, proba


def confident_accuracy(ys: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """For cuts 0.9 and 0.95 of the top probability: the share of rows at or above it and their accuracy."""
    top = proba.max(axis=1)
    right = np.array([classes[i] == y for i, y in zip(proba.argmax(axis=1), ys)])
    out = {}
    for cut in (0.9, 0.95):
        keep = top >= cut
        out[f"{cut:g}"] = {"share": float(keep.mean()) if len(keep) else float("nan"),
                           "accuracy": float(right[keep].mean()) if keep.any() else float("nan")}
    return out


def scope_report(model: Model, examples: Sequence[Example], other_label: str | None = None) -> dict[str, Any]:
    """Scope figures: the share of out-of-scope rows flagged (``in_scope`` False) and of in-scope rows
    flagged, per label, with Brier score and expected calibration error of ``relevance``."""
    other = other_label or model.portable.scope.other_label  # type: ignore[union-attr]
    predictions = model.classify([e.text for e in examples])
    inside = np.array([e.label != other for e in examples])
    flagged = np.array([p.in_scope is False for p in predictions])
    relevance = np.array([p.relevance for p in predictions], dtype=float)
    by_label = {}
    for label in sorted({e.label for e in examples}):
        keep = np.array([e.label == label for e in examples])
        by_label[label] = {"n": int(keep.sum()), "flagged_out_of_scope": float(flagged[keep].mean())}
    out: dict[str, Any] = {"other_label": other, "threshold": model.scope_threshold, "by_label": by_label}
    if (~inside).any():
        out["out_of_scope_flagged"] = float(flagged[~inside].mean())
        out["n_out_of_scope"] = int((~inside).sum())
    if inside.any():
        out["in_scope_flagged"] = float(flagged[inside].mean())
        out["n_in_scope"] = int(inside.sum())
    if len(examples):
        target = inside.astype(float)
        out["brier"] = float(np.mean((relevance - target) ** 2))
        out["ece"] = _ece(relevance, target)
    return out


def _ece(p: np.ndarray, target: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of a binary probability ``p`` of ``target`` = 1."""
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    return float(sum(abs(target[bins == b].mean() - p[bins == b].mean()) * (bins == b).mean()
                     for b in range(n_bins) if (bins == b).any()))


def format_scope(scope: dict[str, Any]) -> str:
    """A plain-text rendering of ``scope_report``."""
    lines = [f"scope (in scope when relevance >= {scope['threshold']:.2f}; out-of-scope label "
             f"{scope['other_label']!r}):"]
    if "out_of_scope_flagged" in scope:
        lines.append(f"  out-of-scope rows flagged: {scope['out_of_scope_flagged']:.1%} of {scope['n_out_of_scope']}")
    if "in_scope_flagged" in scope:
        lines.append(f"  in-scope rows flagged:     {scope['in_scope_flagged']:.1%} of {scope['n_in_scope']}")
    if "brier" in scope:
        lines.append(f"  relevance Brier {scope['brier']:.4f}, ECE {scope['ece']:.3f}")
    for label, m in scope["by_label"].items():
        lines.append(f"  {label}: {m['flagged_out_of_scope']:.1%} flagged out of scope (n={m['n']})")
    return "\n".join(lines)


def short_name(path: str) -> str:
    """``folder/file`` of a path, for reports that must not depend on where a clone lives."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name
