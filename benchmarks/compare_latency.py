"""Warm one-text latency of two marksales installs on the same texts, alternating new processes.

    python benchmarks/compare_latency.py OTHER_PYTHON [THIS_PYTHON] [--rounds 9]

Each interpreter (a venv's ``bin/python`` with marksales installed: an older release, another checkout)
classifies the same 2,000 15-word texts (``bench_inference.short_texts``) one at a time, after a first
pass that fills the word cache; a process reports the best of three passes' median per-call time. The
two interpreters take turns, one new process each per round, so a machine that slows down or speeds up
during the run weighs on both alike. Prints every round's figure, each side's median and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_inference import short_texts

ONE_PROCESS = r"""
import json, statistics, sys, time
import marksales
texts = json.load(open(sys.argv[1], encoding="utf-8"))
for t in texts:
    marksales.classify(t)
best = []
for _ in range(3):
    times = []
    for t in texts:
        start = time.perf_counter()
        marksales.classify(t)
        times.append(time.perf_counter() - start)
    best.append(statistics.median(times) * 1e6)
print(min(best))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the other install's python")
    parser.add_argument("this", nargs="?", default=sys.executable, help="this install's python (default: this one)")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.json"
        path.write_text(json.dumps(short_texts(2000)), encoding="utf-8")
        # run from the temporary folder, so neither process imports a checkout's marksales by accident
        figures: dict[str, list[float]] = {args.other: [], args.this: []}
        for _ in range(args.rounds):
            for python, out in figures.items():
                done = subprocess.run([python, "-c", ONE_PROCESS, str(path)], capture_output=True, text=True,
                                      check=True, cwd=tmp)
                out.append(float(done.stdout))
    medians = {python: statistics.median(out) for python, out in figures.items()}
    for python, out in figures.items():
        print(f"{python}: median {medians[python]:.2f} us  (rounds: {', '.join(f'{x:.1f}' for x in out)})")
    print(f"this / other: {medians[args.this] / medians[args.other]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
