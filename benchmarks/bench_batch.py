"""Batch scoring: throughput and memory of ``marksales score`` against the stock path, in one run.

    python benchmarks/bench_batch.py [--rows 20000] [--memory-rows 100000 1000000] [--dask] [--parquet]

Generates synthetic postings (~2 KB each, no external data) into benchmarks/data/, then measures:
- throughput file to file: the stock single-process path (``joblib.load`` of the shipped Pipeline, the csv
  module reading chunks, ``predict_proba``, csv writing) vs ``marksales score --jobs 2``; ratio;
- peak RSS of the whole process tree (main process and workers, sampled every 50 ms) scoring files of
  each --memory-rows size, to show memory flat in file size;
- with --dask, the same scoring on a ``dask.distributed.LocalCluster`` with two workers, rows/s;
- with --parquet (pyarrow), the --memory-rows files as Parquet scored to Parquet: peak tree RSS beside
  the CSV figure (issue 14: Parquet within the CSV figure).
Targets (issue 3): throughput >= 1.8x stock on this 2-core machine; peak RSS <= 300 MiB, flat in file size.
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import time
from pathlib import Path

import marksales
from marksales._corpus import read_labelled, shipped_corpus_files

DATA = Path(__file__).resolve().parent / "data"


def make_postings(path: Path, rows: int, seed: int = 0) -> Path:
    """``rows`` postings of about 2 KB stitched from corpus sentences, with an id and a title column."""
    if path.exists() and path.stat().st_size > 0 and path.with_suffix(".rows").read_text() == str(rows):
        return path
    rng = random.Random(seed)
    sentences = [e.text.replace("\n", " ") for e in read_labelled(shipped_corpus_files()) if len(e.text) < 400]
    titles = [s for s in sentences if len(s) < 40]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "text"])
        for i in range(rows):
            body = []
            size = 0
            while size < 2000:
                s = rng.choice(sentences)
                body.append(s)
                size += len(s) + 1
            w.writerow([i, rng.choice(titles), " ".join(body)])
    path.with_suffix(".rows").write_text(str(rows))
    return path


STOCK = """
import csv, sys, joblib
heads = joblib.load(sys.argv[1])
pipe, scope = (heads["lean"], heads["scope"]) if isinstance(heads, dict) else (heads, None)
csv.field_size_limit(2**31 - 1)
fin = open(sys.argv[2], newline="", encoding="utf-8")
fout = open(sys.argv[3], "w", newline="", encoding="utf-8")
with fin, fout:
    reader, writer = csv.reader(fin), csv.writer(fout)
    header = next(reader)
    writer.writerow(header + ["label"] + ["p_" + c for c in pipe.classes_] + (["relevance"] if scope else []))
    chunk = []
    def flush():
        texts = [r[2] for r in chunk]
        proba = pipe.predict_proba(texts)
        rel = scope.predict_proba(texts)[:, 1] if scope is not None else [None] * len(chunk)
        for r, p, q in zip(chunk, proba, rel):
            writer.writerow(r + [pipe.classes_[p.argmax()]] + list(p) + ([q] if scope is not None else []))
        chunk.clear()
    for row in reader:
        chunk.append(row)
        if len(chunk) == 2000:
            flush()
    if chunk:
        flush()
"""


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, MiB."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for t in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (t / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak tree RSS (MiB) of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mib(proc.pid))
        time.sleep(0.05)
    if proc.returncode:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    return time.perf_counter() - start, peak


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def machine_parallel_speedup(n: int = 10_000_000) -> float:
    """How much faster two CPU-bound processes finish than one doing both jobs: the ceiling for --jobs 2."""
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    _burn(n)
    _burn(n)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(2) as pool:
        start = time.perf_counter()
        list(pool.map(_burn, [n, n]))
        parallel = time.perf_counter() - start
    return serial / parallel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows for the throughput comparison")
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--dask", action="store_true", help="also score on a two-worker Dask LocalCluster")
    parser.add_argument("--parquet", action="store_true", help="also score the memory files as Parquet")
    args = parser.parse_args()

    print(f"this machine runs two CPU-bound processes {machine_parallel_speedup():.2f}x faster than one", flush=True)
    pickle_path = str(Path(marksales.load_model().path).with_name("model.joblib"))
    src = make_postings(DATA / f"postings-{args.rows}.csv", args.rows)
    out = DATA / "out.csv"
    stock_s, stock_rss = run([sys.executable, "-c", STOCK, pickle_path, str(src), str(out)])
    ours_s, ours_rss = run([sys.executable, "-m", "marksales", "score", str(src), "-o", str(out), "--jobs", "2",
                            "--quiet", "--force"])
    print(f"throughput, {args.rows} rows of ~2 KB: stock {args.rows / stock_s:8.0f} rows/s ({stock_rss:.0f} MiB), "
          f"marksales --jobs 2 {args.rows / ours_s:8.0f} rows/s ({ours_rss:.0f} MiB), ratio {stock_s / ours_s:.2f}x",
          flush=True)
    ours1_s, _ = run([sys.executable, "-m", "marksales", "score", str(src), "-o", str(out), "--jobs", "1", "--quiet",
                      "--force"])
    print(f"  marksales --jobs 1: {args.rows / ours1_s:8.0f} rows/s, ratio {stock_s / ours1_s:.2f}x", flush=True)

    if args.dask:
        code = (
            "import sys, time\n"
            "from distributed import Client, LocalCluster\n"
            "from joblib import parallel_config\n"
            "from marksales import score_file\n"
            "with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c, Client(c), "
            "parallel_config(backend='dask'):\n"
            "    t = time.perf_counter(); s = score_file(sys.argv[1], sys.argv[2], jobs=2, force=True)\n"
            "    print(s.rows / (time.perf_counter() - t))\n"
        )
        res = subprocess.run([sys.executable, "-c", code, str(src), str(out)], capture_output=True, text=True,
                             check=True)
        print(f"dask LocalCluster (2 workers): {float(res.stdout.split()[-1]):8.0f} rows/s "
              f"(joblib --jobs 2: {args.rows / ours_s:.0f} rows/s)", flush=True)

    for rows in args.memory_rows:
        path = make_postings(DATA / f"postings-{rows}.csv", rows, seed=1)
        seconds, peak = run([sys.executable, "-m", "marksales", "score", str(path), "-o", str(out), "--jobs", "2",
                             "--quiet", "--force"])
        print(f"memory, {rows:>8} rows ({path.stat().st_size / 2**20:,.0f} MiB file): peak tree RSS {peak:6.1f} MiB, "
              f"{rows / seconds:,.0f} rows/s", flush=True)
        if args.parquet:
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            pq_in, pq_out = path.with_suffix(".parquet"), DATA / "out.parquet"
            if not pq_in.exists():
                pq.write_table(pacsv.read_csv(path), pq_in, row_group_size=10_000)
            seconds, peak = run([sys.executable, "-m", "marksales", "score", str(pq_in), "-o", str(pq_out), "--jobs",
                                 "2", "--quiet", "--force"])
            size = pq_in.stat().st_size / 2**20
            print(f"  the same as Parquet ({size:,.0f} MiB file): peak tree RSS {peak:6.1f} MiB, "
                  f"{rows / seconds:,.0f} rows/s", flush=True)
            pq_out.unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
