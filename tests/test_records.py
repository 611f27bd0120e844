"""The one record reader (``_io.read_records``) as the corpus reader and batch scoring see it: the same
lines, the same kinds of problem, each named by file and line."""

from __future__ import annotations

import csv
import json

import pytest

from marksales import CorpusError, InputFileError, score_file
from marksales._corpus import read_labelled
from marksales._io import open_records, read_records


def _records(path, fmt, limit=10_000):
    with open_records(str(path), "utf-8") as stream:
        header, records = read_records(stream, fmt, str(path), limit=limit)
        return header, list(records)


def test_csv_records_carry_the_line_they_end_on_and_their_problems(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffid,text\r\n1,\"two\nlines\"\r\n\r\n2,a,extra\r\n3\r\n4,fine\r\n".encode())
    header, recs = _records(path, "csv")
    assert header == ["id", "text"]  # the byte-order mark is not part of the first name
    assert [(r.line, r.blank, r.kind) for r in recs] == [
        (3, False, ""), (4, True, "short"), (5, False, "field_count"), (6, False, "short"), (7, False, "")]
    assert recs[0].fields == {"id": "1", "text": "two\nlines"}


def test_jsonl_records_keep_blank_and_broken_lines_in_place(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a\u2028b"}\n\n{bad\n[1]\n' + json.dumps({"text": "x" * 50}) + '\n{"text": "z"}\n',
                    encoding="utf-8")
    _, recs = _records(path, "jsonl", limit=40)
    assert [(r.line, r.blank, r.kind) for r in recs] == [
        (1, False, ""), (2, True, ""), (3, False, "json"), (4, False, "not_object"), (5, False, "too_long"),
        (6, False, "")]
    assert recs[0].fields["text"] == "a\u2028b"  # U+2028 inside a string does not end the line


@pytest.mark.parametrize("content, kind, line", [
    ("", "empty_file", None),
    ("id,id\n1,2\n", "header", 1),
    ('id,text\n1,"open\n2,x\n', "malformed", 3),
])
def test_what_stops_reading_is_an_input_file_error_with_its_place(tmp_path, content, kind, line):
    path = tmp_path / "in.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        _records(path, "csv")
    assert (info.value.source, info.value.kind, info.value.line) == (str(path), kind, line)
    assert str(info.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_the_corpus_reader_reports_every_problem_of_every_file_at_its_line(tmp_path):
    good = [{"text": f"Plan brand campaign {i}", "label": "marketing"} for i in range(3)]
    jsonl = tmp_path / "a.jsonl"
    lines = [json.dumps(r) for r in good] + ["{bad", "[1, 2]", "", json.dumps({"text": "ok", "label": "sales"})]
    jsonl.write_bytes("\n".join(lines).encode() + b'\n{"text": "caf\xe9", "label": "sales"}\n')
    tsv = tmp_path / "b.tsv"
    tsv.write_text("text\tlabel\nCold calling\tsales\nStray\tsales\textra\n\n", encoding="utf-8")
    broken = tmp_path / "c.csv"
    broken.write_text('text,label\nBook demos,sales\n"unclosed,sales\n', encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        read_labelled([jsonl, tsv, broken])
    got = [(p.kind, p.source, p.line) for p in info.value.problems]
    assert got == [("json", str(jsonl), 4), ("not_object", str(jsonl), 5), ("encoding", str(jsonl), 8),
                   ("field_count", str(tsv), 3), ("malformed", str(broken), 3)]
    assert f"{jsonl}:8: bytes that are not valid utf-8-sig" in str(info.value)


def test_a_device_is_refused_as_a_corpus_file_before_reading():
    with pytest.raises(CorpusError, match=r"cannot read corpus file '/dev/zero': .*is a device") as info:
        read_labelled(["/dev/zero"], file_format="jsonl")
    assert [p.kind for p in info.value.problems] == ["unreadable"]


def test_a_corpus_line_over_the_record_limit_is_a_problem_not_a_memory_spike(tmp_path, monkeypatch):
    import marksales._corpus as corpus

    monkeypatch.setattr(corpus, "DEFAULT_MAX_RECORD_BYTES", 100)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"text": "x" * 500, "label": "sales"}) + "\n"
                    + json.dumps({"text": "Cold calling", "label": "sales"}) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        read_labelled([path])
    assert [(p.kind, p.line) for p in info.value.problems] == [("too_long", 1)]


def test_corpus_reading_and_batch_scoring_see_the_same_rows(tmp_path):
    """A CSV with quoted newlines, CRLF endings and a blank row: the rows the corpus reader keeps are the
    rows batch scoring scores, in the same order."""
    path = tmp_path / "in.csv"
    texts = ["Own the brand\nplatform", "Cold call, then close", "Plan PR", "Renewals and upsell"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["text", "label"])
        for i, t in enumerate(texts):
            w.writerow([t, "marketing" if i % 2 == 0 else "sales"])
            if i == 1:
                w.writerow([])
    examples = read_labelled([path])
    out = tmp_path / "out.csv"
    score_file(path, out, jobs=1, prefix="pred_")
    with open(out, newline="", encoding="utf-8") as f:
        scored = [r for r in csv.DictReader(f) if not r["pred_error"]]
    assert [e.text for e in examples] == [r["text"] for r in scored] == texts
