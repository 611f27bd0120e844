"""The command line, called as a function and as the installed entry point."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from marksales import classify, load_model
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


def _corpus(tmp_path, name="c.jsonl"):
    from .conftest import MARKETING, SALES, write_jsonl

    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
    return write_jsonl(tmp_path / name, rows)


def test_train_evaluate_compare_round_trip(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    out = tmp_path / "m"
    assert main(["train", str(corpus), "-o", str(out), "--folds", "3", "--C", "4", "--quiet"]) == 0
    assert "cross-validation:" in capsys.readouterr().out
    assert (out / "model.md").read_text().startswith("# marksales model card")
    assert main(["train", str(corpus), "-o", str(out), "--quiet"]) == 1  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main(["evaluate", str(corpus), "--model", str(out)]) == 0
    assert "macro-F1=" in capsys.readouterr().out
    assert main(["compare", str(corpus), "--model", "default", "--against", str(out)]) == 0
    report = capsys.readouterr().out
    assert "A: default" in report and "predictions flip between A and B" in report
    assert main(["classify", "--model", str(out), "--json", "Brand Manager"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == load_model(out).classify("Brand Manager").label


def test_train_reports_corpus_problems_with_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"text,label\nBrand Manager,marketing\nCold calling \xff,sales\n")
    assert main(["train", str(path), "-o", str(tmp_path / "m"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "bad.csv:3: bytes that are not valid utf-8-sig" in err
    assert not (tmp_path / "m").exists()


def test_explain_reads_a_whole_posting_from_stdin_or_a_file(tmp_path, capsys, monkeypatch):
    posting = "Brand Manager\nOwn the brand campaigns.\nWork with the media agency on TV and social."
    (tmp_path / "posting.txt").write_text(posting, encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(posting))
    assert main(["explain", "-", "--json"]) == 0
    from_stdin = json.loads(capsys.readouterr().out)
    assert main(["explain", f"@{tmp_path / 'posting.txt'}", "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert from_stdin == from_file
    assert len(from_file["sentences"]) == 3  # one text of three lines, not the string "-" or "@..."


def test_classify_reads_a_multi_line_posting_as_one_text(tmp_path, capsys, monkeypatch):
    posting = "Brand Manager\nOwn the brand campaigns.\nWork with the media agency on TV and social."
    (tmp_path / "posting.txt").write_text(posting, encoding="utf-8")
    want = classify(posting).to_dict()
    monkeypatch.setattr(sys, "stdin", io.StringIO(posting))
    assert main(["classify", "-", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()  # one text, one line of output
    assert json.loads(line) == {"text": posting, **want}
    assert main(["classify", "--json", f"@{tmp_path / 'posting.txt'}", "SDR"]) == 0
    first, second = (json.loads(x) for x in capsys.readouterr().out.splitlines())
    assert first == {"text": posting, **want} and second["text"] == "SDR"
    monkeypatch.setattr(sys, "stdin", io.StringIO(posting))
    assert main(["classify", "--json"]) == 0  # without arguments: one text per line
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["classify", "--json", "@@home sales rep"]) == 0  # @@: a literal @
    assert json.loads(capsys.readouterr().out)["text"] == "@home sales rep"
    assert main(["classify", f"@{tmp_path / 'missing.txt'}"]) == 1
    assert "starting with @ names a file" in capsys.readouterr().err
    assert main(["classify", "-", "-"]) == 1


@pytest.mark.parametrize("argv", [["evaluate", "MODEL", "DATA"], ["evaluate", "default", "DATA"],
                                  ["compare", "MODEL", "DATA", "--against", "default"],
                                  ["compare", "MODEL", "default", "DATA"]])
def test_a_model_given_where_the_data_goes_names_the_fix(tmp_path, capsys, argv):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "SDR", "label": "sales"}\n')
    shipped = str(load_model().path.parent)  # a model directory, wherever the tests run from
    assert main([{"DATA": str(data), "MODEL": shipped}.get(a, a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "is a model, not labelled data; every command takes its model as --model PATH" in err
    assert f"e.g. marksales {argv[0]} {data} --model " in err


def test_the_shipped_model_is_named_default_in_every_command(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "SDR", "label": "sales"}\n{"text": "Brand Manager", "label": "marketing"}\n')
    assert main(["compare", str(data), "--against", "default"]) == 0
    assert "0 of 2 predictions flip" in capsys.readouterr().out
    assert main(["evaluate", str(data), "--model", "default"]) == 0
    assert main(["classify", "--model", "default", "SDR"]) == 0
    assert main(["score", str(data), "-o", str(tmp_path / "o.jsonl"), "--model", "default", "--prefix", "p_",
                 "--quiet", "--jobs", "1"]) == 0
    capsys.readouterr()
    assert main(["info"]) == 0
    assert "'default'" in capsys.readouterr().out


def test_a_closed_pipe_is_quiet_and_exits_like_sigpipe(tmp_path):
    exe = shutil.which("marksales", path=str(Path(sys.executable).parent))
    assert exe, "the marksales entry point is installed beside this interpreter"
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"Senior Account Executive {i}"}) + "\n" for i in range(3000)))
    proc = subprocess.Popen([exe, "score", str(src), "-o", "-", "--quiet", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with proc, proc.stderr:
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141 and err == ""
