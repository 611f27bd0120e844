"""Faults: signals, a dying worker, a full disk, concurrent writers. No partial output, ever."""

from __future__ import annotations

import csv
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from marksales._batch import score_file

CLI = [sys.executable, "-m", "marksales"]


def _big_csv(path: Path, rows: int) -> Path:
    line = "Prospect new accounts, run demos, negotiate and close deals against a quarterly quota. " * 6
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        for i in range(rows):
            w.writerow([i, f"{line} {i}"])
    return path


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _wait_for(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "marksales-partial" in p.name]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_score_leaves_no_output(tmp_path, sig):
    src = _big_csv(tmp_path / "in.csv", 60_000)
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([*CLI, "score", str(src), "-o", str(out), "--jobs", "1", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: bool(_partials(tmp_path)))  # it is writing
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert err.strip() == "marksales: interrupted"
    assert not out.exists() and not _partials(tmp_path)


def test_sigterm_during_train_leaves_no_model(tmp_path):
    import random

    rng = random.Random(0)
    words = "brand campaign seo press survey quota prospect close demo deal pipeline renew territory pitch".split()
    corpus = tmp_path / "corpus.csv"
    with open(corpus, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(3000):
            w.writerow([" ".join(rng.choices(words, k=40)), ("sales", "marketing")[i % 2]])
    out = tmp_path / "model"
    proc = subprocess.Popen([*CLI, "train", str(corpus), "-o", str(out), "--folds", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the first progress line comes after main() installed its SIGTERM handler, and before any model is saved
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("marksales: read "):
            break
    assert seen and seen[-1].startswith("marksales: read "), seen
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, err
    assert err.strip().splitlines()[-1] == "marksales: interrupted"
    assert not (out / "model.npz").exists()


def test_a_killed_worker_fails_the_run_cleanly(tmp_path):
    src = _big_csv(tmp_path / "in.csv", 60_000)
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([*CLI, "score", str(src), "-o", str(out), "--jobs", "2", "--chunk-size", "500",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def workers() -> list[int]:
        # loky's worker processes, not its resource tracker
        return [c for c in _children(proc.pid) if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]

    _wait_for(lambda: bool(_partials(tmp_path)) and len(workers()) >= 2)
    os.kill(workers()[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "worker" in err.lower() and err.count("\n") == 1, err
    assert not out.exists() and not _partials(tmp_path)


def test_a_full_disk_leaves_no_output(tmp_path, monkeypatch):
    import marksales._batch as batch

    src = _big_csv(tmp_path / "in.csv", 50)
    out = tmp_path / "out.csv"
    real = batch._Writer.write
    written = {"n": 0}

    def write(self, record, values):
        written["n"] += 1
        if written["n"] > 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, record, values)

    monkeypatch.setattr(batch._Writer, "write", write)
    with pytest.raises(OSError, match="No space left"):
        score_file(src, out)
    assert not out.exists() and not _partials(tmp_path)


def test_output_under_a_file_is_an_error(tmp_path):
    src = _big_csv(tmp_path / "in.csv", 3)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FileNotFoundError, match="output folder"):
        score_file(src, blocker / "out.csv")


def test_processes_writing_different_outputs_in_one_folder(tmp_path):
    src = _big_csv(tmp_path / "in.csv", 3000)
    procs = [subprocess.Popen([*CLI, "score", str(src), "-o", str(tmp_path / f"out{k}.csv"), "--jobs", "1",
                               "--quiet"]) for k in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    contents = {(tmp_path / f"out{k}.csv").read_bytes() for k in range(3)}
    assert len(contents) == 1
    assert not _partials(tmp_path)
