"""Batch scoring: every row back, in order, errors marked, malformed files refused, no partial output."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from marksales import InputFileError, classify
from marksales._batch import classify_chunks, score_file
from marksales._cli import main

from .conftest import MARKETING, SALES

TEXTS = MARKETING + SALES


def _csv(path: Path, rows: list[dict[str, str]], fieldnames: list[str] | None = None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames or list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    # surrogateescape: undecodable input bytes are passed through to the output unchanged
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


@pytest.fixture()
def postings(tmp_path: Path) -> Path:
    rows = [{"id": str(i), "title": t.split()[0], "text": t, "extra": f"x{i}"} for i, t in enumerate(TEXTS * 3)]
    return _csv(tmp_path / "in.csv", rows)


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_row_comes_back_in_order_with_columns_passed_through(postings, tmp_path, jobs):
    out = tmp_path / "out.csv"
    summary = score_file(postings, out, jobs=jobs, chunk_size=7)
    rows = _read_csv(out)
    source = _read_csv(postings)
    assert summary.rows == len(rows) == len(source) and summary.errors == 0
    assert [r["id"] for r in rows] == [r["id"] for r in source]
    assert [r["extra"] for r in rows] == [r["extra"] for r in source]
    expected = classify([r["text"] for r in source])
    assert [r["label"] for r in rows] == [p.label for p in expected]
    assert [float(r["score"]) for r in rows] == pytest.approx([p.score for p in expected], abs=1e-12)
    assert set(rows[0]) >= {"p_marketing", "p_sales", "no_signal", "error", "evidence"}


def test_several_text_columns_are_joined(tmp_path):
    path = _csv(tmp_path / "t.csv", [{"title": "SDR", "description": "Cold call prospects"}])
    out = tmp_path / "o.csv"
    score_file(path, out, text_columns=["title", "description"])
    assert float(_read_csv(out)[0]["score"]) == pytest.approx(classify("SDR\nCold call prospects").score)


def test_bad_rows_are_marked_and_the_run_goes_on(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,Brand Manager\n2,\n3,Cold calling \xff\xfe\n4\n5,SDR\n")
    out = tmp_path / "o.csv"
    summary = score_file(path, out)
    rows = _read_csv(out)
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert summary.errors == 3
    assert [bool(r["error"]) for r in rows] == [False, True, True, True, False]
    assert "not valid" in rows[2]["error"] and rows[2]["label"] == ""
    assert rows[2]["text"].encode("utf-8", "surrogateescape") == b"Cold calling \xff\xfe"
    assert rows[4]["label"] == classify("SDR").label


def test_on_error_fail_names_the_row_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,text\n1,Brand Manager\n2,\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    with pytest.raises(InputFileError, match=r"bad.csv:3: no text"):
        score_file(path, out, on_error="fail")
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("content, match", [
    ('id,text\n1,"unclosed quote\n2,fine\n', r"malformed CSV .*unclosed quote"),
    ("id;text\n1;Brand Manager\n", r"no column 'text'.*delimiter"),
    ("id,body\n1,Brand Manager\n", r"no column 'text'.*'id', 'body'"),
    ("", r"the file is empty"),
])
def test_malformed_csv_is_refused_without_output(tmp_path, content, match):
    path = tmp_path / "in.csv"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "out.csv"
    with pytest.raises(InputFileError, match=match):
        score_file(path, out)
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_invalid_json_line_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "SDR"}\n{"text": "Brand\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"in.jsonl:2: invalid JSON"):
        score_file(path, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_jsonl_rows_keep_their_keys_and_non_text_is_marked(tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [{"id": 1, "text": "SDR", "meta": {"a": [1, 2]}}, {"id": 2, "text": 5}, {"id": 3}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = score_file(path, out)
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert [g["id"] for g in got] == [1, 2, 3] and got[0]["meta"] == {"a": [1, 2]}
    assert got[0]["label"] == classify("SDR").label and got[0]["error"] is None
    assert "int" in got[1]["error"] and "missing 'text'" in got[2]["error"]
    assert summary.errors == 2


def test_bom_and_huge_cells(tmp_path):
    big = "Prospect and close deals with new accounts. " * 25_000
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,text\n1,SDR\n2,".encode() + big.encode() + b"\n")
    out = tmp_path / "o.csv"
    assert score_file(path, out).rows == 2
    rows = _read_csv(out)
    assert rows[0]["id"] == "1" and len(rows[1]["text"]) == len(big)


def test_output_equal_to_input_is_refused(postings):
    before = postings.read_bytes()
    with pytest.raises(ValueError, match="is the input file"):
        score_file(postings, postings)
    assert postings.read_bytes() == before


def test_missing_output_folder_is_an_error(postings, tmp_path):
    with pytest.raises(FileNotFoundError, match="output folder"):
        score_file(postings, tmp_path / "nope" / "out.csv")


def test_column_clash_asks_for_a_prefix(tmp_path):
    path = _csv(tmp_path / "c.csv", [{"text": "SDR", "label": "sales"}])
    with pytest.raises(InputFileError, match="--prefix"):
        score_file(path, tmp_path / "o.csv")
    score_file(path, tmp_path / "o.csv", prefix="pred_")
    assert _read_csv(tmp_path / "o.csv")[0]["pred_label"] == classify("SDR").label


def test_safe_csv_neutralises_formulas(tmp_path):
    path = _csv(tmp_path / "f.csv", [{"id": "=1+1", "text": "SDR"}])
    score_file(path, tmp_path / "a.csv", safe_csv="all")
    assert _read_csv(tmp_path / "a.csv")[0]["id"] == "'=1+1"
    score_file(path, tmp_path / "b.csv", safe_csv="added")
    assert _read_csv(tmp_path / "b.csv")[0]["id"] == "=1+1"


def test_an_interrupted_run_leaves_no_output(postings, tmp_path, monkeypatch):
    import marksales._batch as batch

    real = batch._score_chunk
    calls = {"n": 0}

    def flaky(model_path, texts):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(model_path, texts)

    monkeypatch.setattr(batch, "_score_chunk", flaky)
    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        score_file(postings, out, chunk_size=5, jobs=1)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_classify_chunks_streams_any_iterable_in_order():
    texts = TEXTS * 5
    got = list(classify_chunks(iter(texts), chunk_size=4))
    assert got == classify(texts)
    with pytest.raises(TypeError, match="iterable of str"):
        list(classify_chunks("SDR"))
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        list(classify_chunks(["SDR", None]))


def test_cli_score_stdin_to_stdout(monkeypatch, capsysbinary):
    data = b"id,text\n1,SDR\n2,Brand Manager\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["score", "-", "-o", "-", "--format", "csv", "--jobs", "1", "--quiet"]) == 0
    out = capsysbinary.readouterr().out.decode()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["label"] == classify("SDR").label


def test_cli_score_reports_a_malformed_file(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("id,body\n1,x\n", encoding="utf-8")
    assert main(["score", str(path), "-o", str(tmp_path / "o.csv"), "--jobs", "1"]) == 1
    assert "no column 'text'" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_dask_local_cluster_scores_in_order(postings, tmp_path):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    out = tmp_path / "dask.csv"
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster), parallel_config(backend="dask"), \
            distributed.get_task_stream() as tasks:
        summary = score_file(postings, out, jobs=2, chunk_size=6)
    workers = {t["worker"] for t in tasks.data}
    assert len(tasks.data) >= 10 and len(workers) >= 1  # the chunks ran on the cluster
    rows = _read_csv(out)
    assert summary.rows == len(rows) == len(TEXTS) * 3
    assert [r["label"] for r in rows] == [p.label for p in classify([r["text"] for r in _read_csv(postings)])]


def test_score_frame_keeps_index_and_order_and_marks_missing_cells():
    pd = pytest.importorskip("pandas")
    from marksales import classify, score_frame

    df = pd.DataFrame({"title": ["SDR", None, "Staff Nurse", float("nan"), "Brand Manager"],
                       "body": ["Cold calls", None, "", None, "Campaigns"], "n": range(5)},
                      index=[50, 40, 30, 20, 10])
    out = score_frame(df, ["title", "body"])
    assert list(out.index) == [50, 40, 30, 20, 10] and list(out["n"]) == list(range(5))
    assert out.loc[40, "error"] and out.loc[20, "error"] and pd.isna(out.loc[40, "label"])
    for i, text in [(50, "SDR\nCold calls"), (30, "Staff Nurse"), (10, "Brand Manager\nCampaigns")]:
        p = classify(text)
        assert (out.loc[i, "label"], out.loc[i, "in_scope"]) == (p.label, p.in_scope)
    assert "label" not in df.columns  # the input frame is not changed
    with pytest.raises(ValueError, match="prefix"):
        score_frame(out, ["title"])


def test_score_frame_over_dask_partitions_on_a_local_cluster():
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    from marksales import score_frame

    df = pd.DataFrame({"text": ["SDR", "Brand Manager", "Staff Nurse", "Media Buyer"] * 5})
    expected = score_frame(df)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster):
        ddf = dd.from_pandas(df, npartitions=3)
        got = ddf.map_partitions(score_frame, meta=score_frame(df.head(0))).compute()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)  # dask may store strings as arrow strings


def test_parquet_in_parquet_out_keeps_rows_columns_and_types(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from marksales import classify

    texts = ["SDR", None, "Staff Nurse", "", "Brand Manager"] * 300
    table = pa.table({"id": pa.array(range(len(texts)), type=pa.int32()), "text": pa.array(texts, type=pa.string()),
                      "salary": pa.array([float(i) for i in range(len(texts))]),
                      "tags": pa.array([["a", "b"]] * len(texts))})
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table, src, row_group_size=400)
    summary = score_file(src, out, jobs=2, chunk_size=250)
    got = pq.read_table(out)
    assert got.num_rows == table.num_rows == summary.rows
    assert got.schema.field("id").type == pa.int32()
    assert got.schema.field("tags").type == table.schema.field("tags").type
    assert got.column("id").to_pylist() == list(range(len(texts)))  # order kept
    assert got.schema.field("in_scope").type == pa.bool_() and got.schema.field("score").type == pa.float64()
    rows = got.to_pylist()
    assert rows[1]["error"] and rows[1]["label"] is None and rows[3]["error"]
    for r in rows[:5]:
        if r["text"]:
            p = classify(r["text"])
            assert (r["label"], r["in_scope"]) == (p.label, p.in_scope)
    assert summary.errors == 600
    kept = score_file(src, tmp_path / "kept.parquet", jobs=1, only_in_scope=True)
    assert pq.read_table(tmp_path / "kept.parquet").num_rows == kept.written < table.num_rows


def test_parquet_errors_leave_no_output(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["SDR"], "label": ["sales"]}), src)
    with pytest.raises(InputFileError, match="no column 'text'"):
        score_file(src, tmp_path / "out.parquet", jobs=1)
    with pytest.raises(InputFileError, match="'label'.*--prefix"):
        score_file(src, tmp_path / "out.parquet", text_columns=["body"], jobs=1)
    with pytest.raises(ValueError, match="written as Parquet"):
        score_file(src, tmp_path / "out.csv", text_columns=["body"], jobs=1)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputFileError, match="not a readable Parquet"):
        score_file(tmp_path / "bad.parquet", tmp_path / "out.parquet", jobs=1)
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.csv").exists()
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["SDR", None]}), nulls)
    with pytest.raises(InputFileError, match="row 2: .*--on-error fail"):
        score_file(nulls, tmp_path / "out.parquet", jobs=1, on_error="fail")
    assert not (tmp_path / "out.parquet").exists()


def test_a_semicolon_csv_is_scored_with_delimiter(tmp_path, capsys):
    src = tmp_path / "export.csv"
    src.write_text("id;titre;text\n1;a;Brand Manager\n2;b;\"Close deals; hit quota\"\n", encoding="utf-8")
    # without the option: one column, and the error says which option fixes it
    assert main(["score", str(src), "-o", str(tmp_path / "x.csv"), "--quiet", "--jobs", "1"]) == 1
    assert "--delimiter" in capsys.readouterr().err
    out = tmp_path / "scored.csv"
    assert main(["score", str(src), "-o", str(out), "--delimiter", ";", "--quiet", "--jobs", "1"]) == 0
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    assert [r["id"] for r in rows] == ["1", "2"] and rows[1]["text"] == "Close deals; hit quota"
    assert [r["label"] for r in rows] == [p.label for p in classify(["Brand Manager", "Close deals; hit quota"])]


@pytest.mark.parametrize("bad", ["", ";;", '"', "\n"])
def test_a_bad_delimiter_is_refused_naming_the_option(tmp_path, bad):
    src = tmp_path / "in.csv"
    src.write_text("text\nSDR\n", encoding="utf-8")
    with pytest.raises(ValueError, match="delimiter must be one character"):
        score_file(src, tmp_path / "out.csv", delimiter=bad)
    assert not (tmp_path / "out.csv").exists()


def test_progress_of_a_file_shows_a_percentage_and_the_rows(tmp_path, capsys):
    pytest.importorskip("tqdm")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"Brand manager {i}"}) + "\n" for i in range(3000)), encoding="utf-8")
    score_file(src, tmp_path / "out.jsonl", progress=True, chunk_size=500)
    err = capsys.readouterr().err
    assert "100%" in err and "3,000 rows" in err  # bytes against the file's size, and the rows beside them


@pytest.mark.parametrize("n_chunks, starts_workers", [(1, False), (8, False), (9, True)])
def test_workers_start_only_for_inputs_longer_than_a_few_chunks(monkeypatch, n_chunks, starts_workers):
    import joblib

    from marksales import _batch

    started = []
    real = joblib.Parallel

    def recording(*args, **kwargs):
        started.append(kwargs.get("n_jobs"))
        return real(*args, **{**kwargs, "n_jobs": 1})  # the same path, without paying for processes here

    monkeypatch.setattr(joblib, "Parallel", recording)
    texts = (TEXTS * 10)[: n_chunks * 10]
    got = list(classify_chunks(texts, chunk_size=10, jobs=2))
    assert bool(started) is starts_workers and _batch.WORKERS_AFTER_CHUNKS == 8
    assert [p.label for p in got] == [p.label for p in classify(texts)]


def test_classify_chunks_with_workers_allowed_still_yields_as_it_reads():
    read = []

    def source():
        for i, t in enumerate(TEXTS * 100):
            read.append(i)
            yield t

    got = classify_chunks(source(), chunk_size=10, jobs=2)
    first = next(got)
    assert first == classify(TEXTS[0]) and len(read) <= 11  # one chunk (and the look at the next), not nine
    got.close()


def test_delimiter_is_refused_where_there_is_none_and_leaves_tsv_output_alone(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id;text\n1;SDR\n", encoding="utf-8")
    score_file(src, tmp_path / "out.tsv", delimiter=";", jobs=1)
    assert (tmp_path / "out.tsv").read_text(encoding="utf-8").splitlines()[0].startswith("id\ttext\tlabel")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "SDR"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="JSONL and Parquet have no field delimiter"):
        score_file(jsonl, tmp_path / "out.jsonl", delimiter=";")
