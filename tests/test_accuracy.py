"""Accuracy floors on the independent dev set (never trained on), overall and per form.

The floors sit a little under what the shipped model measured when it was built; a retrained model
that falls below them is worse, and the fix is the corpus, never the floor.
"""

from __future__ import annotations

import pytest

from marksales._report import evaluate_predictions

# Measured when the shipped model was built (README): 0.998 overall; title 1.000, sentence 0.994, excerpt 1.000,
# posting 1.000; Brier 0.0034. The floors leave room for a retrain that moves a few borderline texts.
OVERALL_MACRO_F1 = 0.96
FORM_MACRO_F1 = {"title": 0.95, "sentence": 0.94, "excerpt": 0.95, "posting": 0.96}
MAX_BRIER = 0.03
MAX_NO_SIGNAL_SHARE = 0.02


def _report(model, rows):
    proba = model.predict_proba([r["text"] for r in rows])
    return evaluate_predictions([r["label"] for r in rows], proba, model.classes)


def test_dev_set_is_large_and_balanced(dev_rows):
    assert len(dev_rows) >= 400
    share = sum(r["label"] == "sales" for r in dev_rows) / len(dev_rows)
    assert 0.4 <= share <= 0.6


def test_dev_set_never_trained_on(model, dev_rows):
    from marksales._corpus import near_duplicate_key, read_labelled, shipped_corpus_files

    train_keys = {near_duplicate_key(e.text) for e in read_labelled(shipped_corpus_files())}
    leaked = [r for r in dev_rows if near_duplicate_key(r["text"]) in train_keys]
    # Common titles ("CMO", "SEM Manager") are names both sides write; no sentence or posting may be shared.
    assert [r["text"] for r in leaked if r["form"] != "title"] == []
    titles = [r for r in dev_rows if r["form"] == "title"]
    assert len(leaked) <= 0.5 * len(titles)


def test_dev_floor_on_texts_the_training_corpus_does_not_contain(model, dev_rows):
    from marksales._corpus import near_duplicate_key, read_labelled, shipped_corpus_files

    train_keys = {near_duplicate_key(e.text) for e in read_labelled(shipped_corpus_files())}
    unseen = [r for r in dev_rows if near_duplicate_key(r["text"]) not in train_keys]
    unseen_titles = [r for r in unseen if r["form"] == "title"]
    assert _report(model, unseen)["macro_f1"] >= OVERALL_MACRO_F1
    assert _report(model, unseen_titles)["macro_f1"] >= FORM_MACRO_F1["title"]


def test_dev_macro_f1_floor(model, dev_rows):
    report = _report(model, dev_rows)
    assert report["macro_f1"] >= OVERALL_MACRO_F1, report


@pytest.mark.parametrize("form", sorted(FORM_MACRO_F1))
def test_dev_macro_f1_floor_per_form(model, dev_rows, form):
    rows = [r for r in dev_rows if r["form"] == form]
    assert len(rows) >= 40
    report = _report(model, rows)
    assert report["macro_f1"] >= FORM_MACRO_F1[form], report


def test_real_job_text_is_rarely_flagged_as_no_signal(model, dev_rows):
    flagged = [r["text"] for r in dev_rows if model.classify(r["text"]).no_signal]
    assert len(flagged) <= MAX_NO_SIGNAL_SHARE * len(dev_rows), flagged


def test_dev_probabilities_are_calibrated(model, dev_rows):
    report = _report(model, dev_rows)
    assert report["brier"] <= MAX_BRIER, report


def test_metadata_reports_what_the_dev_set_measures(model, dev_rows):
    recorded = model.metadata["dev"]
    assert recorded["n"] == len(dev_rows)
    assert recorded["macro_f1"] == pytest.approx(_report(model, dev_rows)["macro_f1"], abs=1e-9)
