"""Training from labelled files: a working model, reproducible, and careful with bad corpora."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from marksales import CorpusError, load_model
from marksales._train import Params, train

from .conftest import MARKETING, SALES, write_jsonl

FAST = Params(char_ngram=(3, 4), C=4.0, char_min_df=1)


def test_train_on_a_small_corpus_gives_a_model_that_learns_it(tiny_corpus):
    model = train([str(tiny_corpus)], params=FAST, n_splits=3)
    assert model.classes == ("marketing", "sales")
    got = [p.label for p in model.classify(MARKETING + SALES)]
    assert got == ["marketing"] * len(MARKETING) + ["sales"] * len(SALES)
    cv = model.metadata["cv"]
    assert cv["n"] == len(MARKETING) + len(SALES) and cv["n_splits"] == 3


def test_saved_model_round_trips_and_pickle_agrees(tiny_corpus, tmp_path):
    model = train([str(tiny_corpus)], params=FAST, n_splits=3)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    texts = MARKETING + SALES + ["", "Café owner wanted"]
    assert np.array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    from_pickle = load_model(tmp_path / "m" / "model.joblib", trusted=True)  # we made it: our own trust
    assert np.max(np.abs(from_pickle.predict_proba(texts) - model.predict_proba(texts))) <= 1e-12
    for name in ("model.npz", "model.joblib", "model.json", "model.md"):
        assert (tmp_path / "m" / name).exists()


def test_a_trusted_pickle_keeps_the_no_signal_rule_or_says_it_cannot(tiny_corpus, tmp_path, caplog):
    import logging
    import shutil
    from dataclasses import replace

    model = train([str(tiny_corpus)], params=replace(FAST, word_min_df=1), n_splits=3)  # every text has evidence
    model.save(tmp_path / "m")
    with_json = load_model(tmp_path / "m" / "model.joblib", trusted=True)
    assert with_json.no_signal_threshold == model.no_signal_threshold > 0
    assert with_json.classify("").no_signal and with_json.classify("") == model.classify("")
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tmp_path / "m" / "model.joblib", alone / "model.joblib")
    with caplog.at_level(logging.WARNING, logger="marksales"):
        bare = load_model(alone / "model.joblib", trusted=True)
    assert "no text will be marked no_signal" in caplog.text
    assert bare.no_signal_threshold == 0.0


def test_same_corpus_same_predictions_and_fingerprint(tiny_corpus, tmp_path):
    a = train([str(tiny_corpus)], params=FAST, n_splits=3)
    b = train([str(tiny_corpus)], params=FAST, n_splits=3)
    a = a.save(tmp_path / "a")
    b = b.save(tmp_path / "b")
    assert a.metadata["fingerprint"] == b.metadata["fingerprint"]
    for name in ("model.npz", "model.joblib"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_separate_processes_build_byte_identical_models(tiny_corpus, tmp_path):
    # Within one process memory addresses repeat; a pickled address (an id()) only shows across processes.
    code = ("import sys; from marksales._train import Params, train; "
            "train([sys.argv[1]], params=Params(char_ngram=(3, 4), C=4.0, char_min_df=1), n_splits=3).save("
            "sys.argv[2])")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1334275200", "PYTHONHASHSEED": "random"}
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, str(tiny_corpus), str(tmp_path / name)], check=True, env=env)
    for name in ("model.npz", "model.joblib", "model.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    meta = [json.loads((tmp_path / name / "model.json").read_text(encoding="utf-8")) for name in ("a", "b")]
    for m in meta:
        del m["timings"]  # seconds: the one run-dependent entry, outside the fingerprint
    assert meta[0] == meta[1]


def test_saving_over_a_model_needs_force(tiny_corpus, tmp_path):
    model = train([str(tiny_corpus)], params=FAST, n_splits=3)
    model.save(tmp_path / "m")
    with pytest.raises(FileExistsError, match="force"):
        model.save(tmp_path / "m")
    model.save(tmp_path / "m", force=True)


def test_a_label_typo_is_caught_before_training(tmp_path):
    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
    rows[3]["label"] = "marketting"
    path = write_jsonl(tmp_path / "typo.jsonl", rows)
    with pytest.raises(CorpusError, match=r"typo.jsonl:4: label 'marketting' .* misspelling of 'marketing'"):
        train([str(path)], params=FAST)


def test_same_text_with_two_labels_follows_the_conflict_policy(tmp_path):
    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
    rows.append({"text": MARKETING[0], "label": "sales"})  # a tie: one row each
    rows += [{"text": SALES[0], "label": "sales"}, {"text": SALES[0], "label": "marketing"}]  # 2 sales, 1 marketing
    path = write_jsonl(tmp_path / "clash.jsonl", rows)
    with pytest.raises(CorpusError, match=r"the same text carries two labels \('Plan and run brand campaigns"):
        train(path, params=FAST, n_splits=3, on_conflict="error")
    model = train(path, params=FAST, n_splits=3)  # the default trains, and says what it did
    conflicts = model.metadata["corpus"]["conflicts"]
    assert conflicts == {"policy": "majority", "texts": 2, "rows_dropped": 3}  # the tie's two rows, SALES[0]'s one
    dropped = train(path, params=FAST, n_splits=3, on_conflict="drop").metadata["corpus"]["conflicts"]
    assert dropped == {"policy": "drop", "texts": 2, "rows_dropped": 5}


def test_a_missing_column_is_one_problem_per_file(tmp_path):
    rows = [{"body": t, "label": "marketing"} for t in MARKETING] + [{"body": t, "label": "sales"} for t in SALES]
    path = write_jsonl(tmp_path / "cols.jsonl", rows)
    with pytest.raises(CorpusError) as exc:
        train(path, params=FAST, n_splits=3)
    message = str(exc.value)
    assert message.count("no column 'text'") == 1 and "'body'" in message and "19 more row(s)" in message


def test_three_labels_train_and_classify(tmp_path):
    ops = ["Schedule warehouse shifts", "Track inventory levels", "Manage delivery routes", "Audit stock counts",
           "Coordinate freight carriers", "Process purchase orders", "Operations Coordinator"]
    rows = ([{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
            + [{"text": t, "label": "operations"} for t in ops])
    path = write_jsonl(tmp_path / "three.jsonl", rows)
    model = train([str(path)], params=FAST, n_splits=3)
    assert model.classes == ("marketing", "operations", "sales")
    p = model.classify("Schedule warehouse shifts and track inventory")
    assert abs(sum(p.probabilities.values()) - 1) < 1e-12
    model.save(tmp_path / "m3")
    texts = ops + MARKETING
    assert np.max(np.abs(load_model(tmp_path / "m3").predict_proba(texts) - model.pipeline.predict_proba(texts))) < 1e-9


def test_duplicates_do_not_count_toward_the_minimum_per_label(tmp_path):
    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": "Cold calling", "label": "sales"}] * 6
    path = write_jsonl(tmp_path / "dups.jsonl", rows)
    with pytest.raises(CorpusError, match="label 'sales' has 1 example"):
        train([str(path)], params=FAST)


def test_a_corpus_of_near_duplicates_is_a_clear_error(tmp_path):
    rows = [{"text": f"Brand manager {i}", "label": "marketing"} for i in range(10)]
    rows += [{"text": f"Sales rep #{i}", "label": "sales"} for i in range(10)]
    path = write_jsonl(tmp_path / "near.jsonl", rows)
    with pytest.raises(CorpusError, match="near-duplicates"):
        train([str(path)], params=FAST)


def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path):
    rows = [{"text": t + "\u2028\x85", "label": "marketing"} for t in MARKETING]
    rows += [{"text": t, "label": "sales"} for t in SALES]
    path = tmp_path / "seps.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert train([str(path)], params=FAST, n_splits=3).metadata["corpus"]["n_texts"] == len(rows)


def test_saving_switches_the_whole_model_at_once(tiny_corpus, tmp_path, monkeypatch):
    import marksales._artifacts as artifacts

    first = train([str(tiny_corpus)], params=FAST, n_splits=3)
    saved = first.save(tmp_path / "m")
    assert "fingerprint" not in first.metadata  # saving returns a new Model and leaves this one alone
    (tmp_path / "m" / "__init__.py").write_text("# kept\n")
    second = train([str(tiny_corpus)], params=Params(char_ngram=(2, 4), C=2.0, char_min_df=1), n_splits=3)

    def interrupted(a, b):
        raise KeyboardInterrupt

    monkeypatch.setattr(artifacts, "_swap", interrupted)
    with pytest.raises(KeyboardInterrupt):
        second.save(tmp_path / "m", force=True)
    assert load_model(tmp_path / "m").metadata["fingerprint"] == saved.metadata["fingerprint"]  # the old one, whole
    monkeypatch.undo()
    new = second.save(tmp_path / "m", force=True)
    assert load_model(tmp_path / "m").metadata["fingerprint"] == new.metadata["fingerprint"]
    assert (tmp_path / "m" / "__init__.py").read_text() == "# kept\n"
    assert [p.name for p in tmp_path.iterdir() if "marksales-save" in p.name] == []  # no save folder left


def test_a_dev_file_without_the_columns_fails_before_training(tiny_corpus, tmp_path, monkeypatch):
    import marksales._train as train_module

    dev = tmp_path / "dev.csv"
    dev.write_text("body,function\nBrand manager,marketing\n", encoding="utf-8")
    monkeypatch.setattr(train_module, "fit_model", lambda *a, **k: pytest.fail("trained before reading dev"))
    with pytest.raises(CorpusError, match="no column 'text', 'label'"):
        train([str(tiny_corpus)], params=FAST, n_splits=3, dev=str(dev))
