"""The real-text yardstick: a model on ESCO occupation titles and descriptions (``../shared/realdev/``).

Prints, per file: the lean's macro-F1, ECE, Brier and accuracy among texts scored 0.9 / 0.95 or more on the
``marketing`` / ``sales`` rows; the scope figures (share of ``other`` rows flagged out of scope, share of
in-scope rows flagged, per label); then per ISCO unit group of the in-scope rows (lean accuracy, flagged)
and per ISCO major group of the out-of-scope rows (flagged). Never train on these files.

    python benchmarks/realdev.py                 # the shipped model
    python benchmarks/realdev.py --model my-model/
"""

from __future__ import annotations

import argparse
import collections
import csv
from pathlib import Path

import numpy as np

from marksales import load_model
from marksales._report import evaluate_predictions

REALDEV = Path(__file__).resolve().parents[1].parent / "shared" / "realdev"
MAJOR = {"0": "armed forces", "1": "managers", "2": "professionals", "3": "technicians, associate professionals",
         "4": "clerical support", "5": "service and sales", "6": "agriculture, forestry, fishery",
         "7": "craft and trades", "8": "plant and machine operators", "9": "elementary occupations"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory or .npz (default: the shipped model)")
    parser.add_argument("--realdev", default=str(REALDEV), help=f"folder of the TSV files (default: {REALDEV})")
    parser.add_argument("--groups", action="store_true", help="also print the per-ISCO-group tables")
    args = parser.parse_args()
    model = load_model(args.model) if args.model else load_model()
    print(f"model: {model.path}  scope threshold: {model.scope_threshold}")
    for stem in ("esco_titles", "esco_descriptions"):
        with open(Path(args.realdev) / f"{stem}.tsv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        report(model, stem, rows, args.groups)


def report(model, stem: str, rows: list[dict[str, str]], groups: bool) -> None:
    preds = model.classify([r["text"] for r in rows])
    lean = [i for i, r in enumerate(rows) if r["label"] in model.classes]
    ys = [rows[i]["label"] for i in lean]
    # the raw calibrated lean (as predict_proba gives it): no-signal rows keep their probabilities
    proba = model.predict_proba([rows[i]["text"] for i in lean])
    r = evaluate_predictions(ys, proba, model.classes)
    top = proba.max(axis=1)
    right = np.array([model.classes[k] == y for k, y in zip(proba.argmax(axis=1), ys)])
    print(f"\n## {stem} ({len(rows)} rows)")
    print(f"lean (marketing / sales rows, n={r['n']}): macro-F1 {r['macro_f1']:.3f}  accuracy {r['accuracy']:.3f}  "
          f"ECE {r['ece']:.3f}  Brier {r['brier']:.4f}")
    for cut in (0.9, 0.95):
        keep = top >= cut
        print(f"  score >= {cut}: {keep.mean():.1%} of rows, accuracy {right[keep].mean():.3f}")
    flagged = np.array([p.in_scope is False for p in preds])
    labels = np.array([r["label"] for r in rows])
    other = labels == "other"
    if model.has_scope:
        print(f"scope: other flagged {flagged[other].mean():.1%} (n={other.sum()}), in-scope flagged "
              f"{flagged[~other].mean():.1%} (n={(~other).sum()}); " + ", ".join(
                  f"{lab} {flagged[labels == lab].mean():.1%}" for lab in ("marketing", "sales", "mixed")))
    else:
        print("scope: this model has no scope head (flagged: 0% below)")
    if not groups:
        return
    print("\nin-scope rows by ISCO unit group: n, lean accuracy (marketing/sales rows), flagged out of scope")
    by_group = collections.defaultdict(list)
    for i, row in enumerate(rows):
        if row["label"] != "other":
            by_group[row["isco"]].append(i)
    for g, idx in sorted(by_group.items()):
        lab = rows[idx[0]]["label"]
        acc = np.mean([preds[i].label == rows[i]["label"] for i in idx]) if lab != "mixed" else float("nan")
        print(f"  {g} {lab:<9} n={len(idx):4d}  lean {acc:.3f}  flagged {flagged[idx].mean():.1%}")
    print("\nout-of-scope rows by ISCO major group: n, flagged out of scope")
    majors = collections.defaultdict(list)
    for i, row in enumerate(rows):
        if row["label"] == "other":
            majors[row["isco"][:1]].append(i)
    for g, idx in sorted(majors.items()):
        print(f"  {g} {MAJOR.get(g, ''):<38} n={len(idx):5d}  flagged {flagged[idx].mean():.1%}")


if __name__ == "__main__":
    main()
