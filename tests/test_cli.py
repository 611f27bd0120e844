"""The command line, called as a function and as the installed entry point."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from marksales import classify
from marksales._cli import main


def test_classify_arguments_human_readable(capsys):
    assert main(["classify", "Brand Manager", "Cold calling"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == classify("Brand Manager").label
    assert lines[1].split()[0] == classify("Cold calling").label


def test_classify_reads_stdin_one_text_per_line(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("SDR\nSEO Specialist\n\nMedia Buyer\n"))
    assert main(["classify", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["SDR", "SEO Specialist", "", "Media Buyer"]
    for r in rows:
        p = classify(r["text"])
        assert (r["label"], r["score"], r["no_signal"]) == (p.label, p.score, p.no_signal)
    assert rows[2]["no_signal"] is True


def test_info_prints_metadata(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "labels: marketing, sales" in out and "sha256" in out
    assert main(["info", "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["labels"] == ["marketing", "sales"]


def test_explain_command(capsys):
    assert main(["explain", "Cold call prospects. Build brand awareness campaigns."]) == 0
    out = capsys.readouterr().out
    assert "toward sales:" in out and "toward marketing:" in out and "most sales-like sentences" in out


def test_a_missing_model_is_a_one_line_error(capsys, tmp_path):
    assert main(["classify", "--model", str(tmp_path / "nope.npz"), "SDR"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("marksales: error: no model at") and err.count("\n") == 1


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_installed_entry_point_and_module_run():
    # The console script sits beside this interpreter in the environment the project was installed into.
    exe = shutil.which("marksales", path=str(Path(sys.executable).parent))
    assert exe, "the marksales console script is not installed"
    out = subprocess.run([exe, "classify", "--json", "Account Executive"], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)["label"] == classify("Account Executive").label
    out = subprocess.run([sys.executable, "-m", "marksales", "classify", "Account Executive"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == classify("Account Executive").label
