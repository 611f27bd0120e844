"""Outputs never corrupt or clobber, inputs cost bounded memory, and odd options are one clear error."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from marksales import CorpusError, InputFileError, score_file
from marksales._cli import main

from .conftest import MARKETING, SALES, write_jsonl


def _csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_a_lone_cr_inside_a_quoted_cell_stays_inside_it(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b'id,text\n1,"Brand Manager\rLondon"\n2,SDR\n')
    score_file(src, tmp_path / "out.csv", jobs=1)
    rows = _csv_rows(tmp_path / "out.csv")
    assert len(rows) == 3 and rows[1][1] == "Brand Manager\rLondon" and rows[2][0] == "2"


@pytest.mark.parametrize("key", ["label", "error", "p_sales", "in_scope"])
def test_jsonl_keys_that_scoring_adds_are_refused_like_csv_columns(tmp_path, key):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}, {"text": "Brand Manager", key: "gold"}])
    with pytest.raises(InputFileError, match=rf"in.jsonl:2: .*'{key}'.*--prefix"):
        score_file(src, tmp_path / "out.jsonl", jobs=1)
    assert not (tmp_path / "out.jsonl").exists()
    score_file(src, tmp_path / "out.jsonl", jobs=1, prefix="pred_")
    assert json.loads((tmp_path / "out.jsonl").read_text().splitlines()[1])[key] == "gold"


@pytest.mark.parametrize("escape", ["\\ud83d", "\\udc80"])
def test_lone_surrogates_are_row_errors_and_the_output_is_valid_utf8(tmp_path, escape):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "SDR"}\n{"text": "Brand ' + escape + '", "note": "x' + escape + '"}\n', encoding="utf-8")
    summary = score_file(src, tmp_path / "out.jsonl", jobs=1)
    raw = (tmp_path / "out.jsonl").read_bytes()
    raw.decode("utf-8")  # strict: raises if a surrogate leaked out as raw bytes
    rows = [json.loads(line) for line in raw.decode().splitlines()]
    assert len(rows) == 2 and summary.errors == 1
    assert "surrogate" in rows[1]["error"] or "not valid" in rows[1]["error"]
    assert rows[1]["note"] == json.loads('"x' + escape + '"')  # passed through, as a JSON escape


def test_a_blank_jsonl_line_comes_back_as_an_error_row(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "SDR"}\n\n{"text": "Brand Manager"}\n', encoding="utf-8")
    score_file(src, tmp_path / "out.jsonl", jobs=1)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and rows[1]["error"] == "blank line"


def test_a_non_regular_target_is_written_through_not_replaced(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in MARKETING[:3]])
    score_file(src, "/dev/null", jobs=1)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen([sys.executable, "-c", f"print(len(open({str(fifo)!r}).read().splitlines()))"],
                              stdout=subprocess.PIPE, text=True)
    score_file(src, fifo, jobs=1, output_format="jsonl")
    assert reader.communicate(timeout=30)[0].strip() == "3"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_equal_to_standard_input_s_file_is_refused(tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}])
    before = src.read_bytes()
    with open(src, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
        with pytest.raises(ValueError, match="standard input reads"):
            score_file("-", src, file_format="jsonl", jobs=1)
    assert src.read_bytes() == before


def test_new_outputs_honour_the_umask_and_existing_ones_keep_their_mode(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}])
    old = os.umask(0o022)
    try:
        score_file(src, tmp_path / "new.jsonl", jobs=1)
        assert stat.S_IMODE(os.stat(tmp_path / "new.jsonl").st_mode) == 0o644
        existing = tmp_path / "old.jsonl"
        existing.write_text("x")
        os.chmod(existing, 0o640)
        score_file(src, existing, jobs=1, force=True)
        assert stat.S_IMODE(os.stat(existing).st_mode) == 0o640
    finally:
        os.umask(old)


def test_an_output_ending_in_a_separator_must_be_a_folder(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}])
    with pytest.raises(ValueError, match="ends with a path separator"):
        score_file(src, str(tmp_path / "newdir") + "/", jobs=1)
    assert not (tmp_path / "newdir").exists()


def test_partial_files_of_dead_writers_are_removed_by_the_next_run(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.jsonl.{int(dead.stdout)}.abc.marksales-partial"
    stale.write_text("half a file")
    alive = tmp_path / f".out.jsonl.{os.getppid()}.xyz.marksales-partial"  # a live writer's is left alone
    alive.write_text("in progress")
    score_file(write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}]), tmp_path / "out.jsonl", jobs=1)
    assert not stale.exists() and alive.exists()


def test_an_over_long_jsonl_record_is_a_row_error_with_flat_memory(tmp_path):
    src = tmp_path / "in.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        f.write('{"text": "SDR"}\n{"text": "' + "a" * 3_000_000 + '"}\n{"text": "Brand Manager"}\n')
    summary = score_file(src, tmp_path / "out.jsonl", jobs=1, max_record_mb=1)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and summary.errors == 1 and "more than the limit" in rows[1]["error"]
    with pytest.raises(InputFileError, match=r"in.jsonl:2: .*more than the limit"):
        score_file(src, tmp_path / "fail.jsonl", jobs=1, max_record_mb=1, on_error="fail")


def test_an_over_long_csv_record_stops_the_run_naming_its_line(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text\nSDR\n" + "a" * 3_000_000 + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"in.csv:3: .*--max-record-mb"):
        score_file(src, tmp_path / "out.csv", jobs=1, max_record_mb=1)
    assert not (tmp_path / "out.csv").exists()


def test_a_device_as_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a device"):
        score_file("/dev/zero", tmp_path / "out.csv", file_format="csv", jobs=1)


def test_memory_stays_flat_on_a_line_without_end(tmp_path):
    # 40 MB without a newline: read in pieces, never held whole
    code = (
        "import sys; from marksales import score_file; from marksales import InputFileError\n"
        "try:\n    score_file(sys.argv[1], sys.argv[2], jobs=1, file_format='csv')\n"
        "except InputFileError as e:\n    print('refused', e)\n"
        # VmHWM is this program's peak; ru_maxrss would keep the forking pytest's across exec
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) // 1024)"
    )
    src = tmp_path / "in.csv"
    with open(src, "w") as f:
        f.write("text\n")
        for _ in range(40):
            f.write("x" * 2**20)
    out = subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "out.csv")], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0].startswith("refused") and int(out[-1]) < 150  # MiB: the interpreter and the model, not 40 MB x N


def test_bad_options_are_one_line_each(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}])
    assert main(["score", str(src), "-o", str(tmp_path / "o.jsonl"), "--encoding", "bogus", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown encoding 'bogus'" in err
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert main(["score", str(nested), "-o", str(tmp_path / "n.jsonl"), "--quiet"]) == 1
    assert "nested too deeply" in capsys.readouterr().err
    for folds in ("0", "1", "100", "x"):
        with pytest.raises(SystemExit) as exc:
            main(["train", "-o", str(tmp_path / "m"), "--folds", folds])
        assert exc.value.code == 2
        assert "--folds must be" in capsys.readouterr().err


def test_a_fold_count_the_corpus_cannot_fill_is_refused_not_lowered(tmp_path):
    from marksales import train

    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
    with pytest.raises(CorpusError, match="cannot make 20 cross-validation folds"):
        train(str(write_jsonl(tmp_path / "c.jsonl", rows)), n_splits=20)


def test_labels_that_differ_only_by_case_are_refused(tmp_path):
    from marksales import train

    rows = ([{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
            + [{"text": f"Close deals in region {i}", "label": "Sales"} for i in range(6)])
    with pytest.raises(CorpusError, match="differ only by case"):
        train(str(write_jsonl(tmp_path / "c.jsonl", rows)), n_splits=3)


def test_workers_leave_when_their_parent_is_killed(tmp_path):
    code = (
        "import os, sys, time\n"
        "from marksales._io import exit_with_parent\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    exit_with_parent(interval=0.1)\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "print(child, flush=True)\n"
        "os._exit(0)  # the parent dies at once, as after SIGKILL\n"
    )
    child = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    import time

    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, 9)
    pytest.fail("the worker outlived its parent")


def test_an_existing_output_is_replaced_only_with_force(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}])
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="already exists; pass force=True"):
        score_file(src, out, jobs=1)
    assert main(["score", str(src), "-o", str(out), "--quiet", "--jobs", "1"]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "precious\n"  # nothing lost
    assert main(["score", str(src), "-o", str(out), "--quiet", "--jobs", "1", "--force"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["text"] == "SDR"


def test_proc_self_fd_1_is_written_through_when_stdout_is_a_file(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "SDR"}, {"text": "Brand Manager"}])
    target = tmp_path / "captured.jsonl"
    with open(target, "w", encoding="utf-8") as stdout:
        done = subprocess.run([sys.executable, "-m", "marksales", "score", str(src), "-o", "/proc/self/fd/1",
                               "--quiet", "--jobs", "1"], stdout=stdout, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in target.read_text(encoding="utf-8").splitlines()] == [
        "SDR", "Brand Manager"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["captured.jsonl", "in.jsonl"]  # nothing beside it
