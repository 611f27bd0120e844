"""Evaluation metrics and their text rendering (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def evaluate_predictions(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], *, n_bins: int = 10
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support, confusion matrix and calibration.

    ``proba`` has one column per class in ``classes`` order. Texts whose true label is not a class of the
    model count as errors. Calibration: Brier score (mean squared error of the probability vector,
    summed over classes, halved so that it lies in [0, 1] for two classes as the usual binary Brier),
    log-loss, and expected calibration error of the top probability over ``n_bins`` equal-width bins.
    """
    classes = list(classes)
    n = len(y_true)
    if proba.shape != (n, len(classes)):
        raise ValueError(f"proba must have shape ({n}, {len(classes)}), not {proba.shape}")
    labels = sorted(set(classes) | set(y_true))
    index = {c: i for i, c in enumerate(labels)}
    pred = [classes[i] for i in np.argmax(proba, axis=1)] if n else []
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, pred):
        confusion[index[t], index[p]] += 1
    per_class = {}
    f1s = []
    for c in labels:
        i = index[c]
        tp = int(confusion[i, i])
        support = int(confusion[i].sum())
        predicted = int(confusion[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        if support:
            f1s.append(f1)
    onehot = np.zeros_like(proba)
    known = [k for k, t in enumerate(y_true) if t in classes]
    for k in known:
        onehot[k, classes.index(y_true[k])] = 1.0
    if n:
        brier = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)) / 2.0)
        p_true = np.clip(np.sum(proba * onehot, axis=1), 1e-15, 1.0)
        log_loss = float(-np.mean(np.log(p_true)))
        top = proba.max(axis=1)
        correct = np.array([p == t for p, t in zip(pred, y_true)], dtype=float)
        bins = np.minimum((top * n_bins).astype(int), n_bins - 1)
        ece = 0.0
        for b in range(n_bins):
            mask = bins == b
            if mask.any():
                ece += mask.mean() * abs(correct[mask].mean() - top[mask].mean())
        accuracy = float(correct.mean())
    else:
        brier = log_loss = ece = accuracy = float("nan")
    return {
        "n": n,
        "accuracy": accuracy,
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "per_class": per_class,
        "labels": labels,
        "confusion": confusion.tolist(),
        "brier": brier,
        "log_loss": log_loss,
        "ece": float(ece),
    }


def format_report(report: dict[str, Any], title: str = "") -> str:
    """A plain-text rendering of ``evaluate_predictions`` output."""
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"n={report['n']}  accuracy={report['accuracy']:.3f}  macro-F1={report['macro_f1']:.3f}  "
        f"Brier={report['brier']:.4f}  log-loss={report['log_loss']:.3f}  ECE={report['ece']:.3f}"
    )
    width = max([len(c) for c in report["labels"]] + [5])
    lines.append(f"{'label':<{width}}  precision  recall     F1  support")
    for c in report["labels"]:
        m = report["per_class"][c]
        lines.append(
            f"{c:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}"
        )
    lines.append("confusion (rows true, columns predicted): " + ", ".join(report["labels"]))
    for c, row in zip(report["labels"], report["confusion"]):
        lines.append(f"  {c:<{width}} " + " ".join(f"{v:6d}" for v in row))
    if "by_form" in report:
        lines.append("macro-F1 by form: " + ", ".join(
            f"{form} {m['macro_f1']:.3f} (n={m['n']})" for form, m in report["by_form"].items()
        ))
    return "\n".join(lines)
