"""Training speed: ``marksales.train`` with 5-fold cross-validation on 10,000 and 100,000 generated texts.

    python benchmarks/bench_train.py [--sizes 10000 100000]

The texts are generated (no external data): each is a title, a sentence or a short excerpt stitched from
random spans of the shipped corpus, with the label of the text its first span came from. The shipped
corpus has out-of-scope (``other``) texts, so by default the model gets both heads (two cross-validations);
``--lean-only`` generates from the marketing and sales texts alone (one head, the 0.1 workload). Beside marksales,
the same run times the stock scikit-learn way of getting the same numbers: ``cross_val_predict`` over the
calibrated Pipeline, then a final fit. Target (issue 4): <= 10 s for 10,000 texts with 5-fold CV.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from marksales._corpus import read_labelled, shipped_corpus_files
from marksales._fit import build_pipeline
from marksales._train import Params, train


def generate(n: int, seed: int = 0, lean_only: bool = False) -> list[dict[str, str]]:
    rng = random.Random(seed)
    examples = read_labelled(shipped_corpus_files())
    if lean_only:  # marketing and sales texts only: one head, as a corpus without out-of-scope rows trains
        examples = [e for e in examples if e.label != "other"]
    rows = []
    for i in range(n):
        first = rng.choice(examples)
        pieces = [first.text]
        for _ in range(rng.choice([0, 0, 1, 2])):
            other = rng.choice([e for e in rng.sample(examples, 5) if e.label == first.label] or [first])
            words = other.text.split()
            start = rng.randrange(max(1, len(words) - 8))
            pieces.append(" ".join(words[start : start + rng.randint(4, 30)]))
        text = " ".join(pieces)
        words = text.split()
        if len(words) > 120:
            text = " ".join(words[:120])
        rows.append({"text": f"{text} #{i}", "label": first.label})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stock", action="store_true", help="also time stock cross_val_predict (slow)")
    parser.add_argument("--lean-only", action="store_true", help="marketing and sales texts only (one head)")
    args = parser.parse_args()
    for n in args.sizes:
        rows = generate(n, lean_only=args.lean_only)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "corpus.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            start = time.perf_counter()
            model = train([str(path)], params=Params(), n_splits=5)
            seconds = time.perf_counter() - start
        cv = model.metadata["cv"]
        line = f"{n:>7} texts: marksales.train with 5-fold CV {seconds:7.1f} s (CV macro-F1 {cv['macro_f1']:.3f})"
        if args.stock:
            import numpy as np
            from sklearn.model_selection import StratifiedKFold, cross_val_predict

            texts = [r["text"] for r in rows]
            labels = np.array([r["label"] for r in rows])
            start = time.perf_counter()
            folds = StratifiedKFold(5, shuffle=True, random_state=0)
            cross_val_predict(build_pipeline(Params()), texts, labels, cv=folds, method="predict_proba")
            build_pipeline(Params()).fit(texts, labels)
            stock = time.perf_counter() - start
            line += f"; stock cross_val_predict + fit {stock:7.1f} s; ratio {stock / seconds:.1f}x"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
