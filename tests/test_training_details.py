"""Parts of training and inference that had no test of their own: the search's tie rule, dev reports,
the per-form report, CSV corpora read in-process, the allowed-label check, more than two classes
against their Pipeline, and the word cache overflowing."""

from __future__ import annotations

import numpy as np
import pytest

from marksales import CorpusError, _features, _fit, load_model
from marksales._corpus import Example, read_labelled, validate
from marksales._train import Params, train

from .conftest import MARKETING, SALES, write_jsonl

FAST = Params(char_ngram=(3, 4), C=4.0, char_min_df=1)


def test_the_search_breaks_ties_by_brier_then_grid_order(monkeypatch):
    # macro-F1 within SEARCH_TIE of the best counts as tied; the tie goes to the lowest Brier score
    reports = {2.0: (0.9000, 0.050), 8.0: (0.9005, 0.060), 32.0: (0.8995, 0.040), 128.0: (0.8900, 0.010)}
    monkeypatch.setattr(_fit, "_count_blocks", lambda texts, params: None)
    monkeypatch.setattr(_fit, "cross_validate", lambda texts, labels, params, **kw: dict(
        zip(("macro_f1", "brier"), reports[params.C])))
    chosen, rows = _fit.search(["a"], ["x"], Params(), {"C": [2.0, 8.0, 32.0, 128.0]})
    assert chosen.C == 32.0  # 0.8995 is within 0.001 of 0.9005 and has the lowest Brier; 128 is not tied
    assert [r["params"]["C"] for r in rows] == [2.0, 8.0, 32.0, 128.0]
    reports[2.0] = (0.9000, 0.040)  # an equal Brier: the earliest in the grid
    assert _fit.search(["a"], ["x"], Params(), {"C": [2.0, 8.0, 32.0, 128.0]})[0].C == 2.0


def test_train_with_dev_reports_on_the_dev_rows_and_keeps_references(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": t, "label": "marketing"} for t in MARKETING]
                         + [{"text": t, "label": "sales"} for t in SALES])
    dev_rows = [{"text": "Plan the brand's TV campaign", "label": "marketing", "form": "sentence"},
                {"text": "Close the quarter's deals", "label": "sales", "form": "sentence"},
                {"text": "Account Executive", "label": "sales", "form": "title"}]
    dev = write_jsonl(tmp_path / "dev.jsonl", dev_rows)
    model = train(str(corpus), params=FAST, n_splits=3, dev=str(dev))
    report = model.metadata["dev"]
    assert report["n"] == 3 and report["files"] == [f"{tmp_path.name}/dev.jsonl"]
    predicted = [p.label for p in model.classify([r["text"] for r in dev_rows])]
    assert report["accuracy"] == pytest.approx(np.mean([p == r["label"] for p, r in zip(predicted, dev_rows)]))
    assert set(report["by_form"]) == {"sentence", "title"}
    assert report["by_form"]["title"]["n"] == 1
    refs = np.asarray(model.metadata["reference_probabilities"])
    assert np.array_equal(refs, model.predict_proba([r["text"] for r in dev_rows]))


def test_a_csv_corpus_is_read_with_quoted_commas_and_newlines_and_line_numbers(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('text,label,form\n"Own the brand, its voice",marketing,sentence\n'
                    '"Close deals\nand renew accounts",sales,excerpt\nSDR,sales,\n', encoding="utf-8")
    examples = read_labelled([path])
    assert [(e.text, e.label, e.line, e.form) for e in examples] == [
        ("Own the brand, its voice", "marketing", 2, "sentence"),
        ("Close deals\nand renew accounts", "sales", 4, "excerpt"),  # the line where the record ends
        ("SDR", "sales", 5, None)]


def test_validate_with_allowed_labels_names_the_line_and_the_nearest_label():
    examples = [Example(t, "marketing", "c.jsonl", i) for i, t in enumerate(MARKETING, start=1)]
    examples += [Example(t, "sales", "c.jsonl", 20 + i) for i, t in enumerate(SALES, start=1)]
    examples.append(Example("Run the webinar", "marketng", "c.jsonl", 99))
    with pytest.raises(CorpusError) as info:
        validate(examples, labels=["marketing", "sales"])
    (problem,) = [p for p in info.value.problems if p.kind == "unknown_label"]
    assert problem.line == 99
    assert "Did you mean 'marketing'?" in problem.message
    assert validate(examples[:-1], labels=["marketing", "sales"]) == []


def test_three_classes_classify_and_explain_as_their_pipeline(tmp_path):
    support = ["Answer customer tickets by email and chat", "Resolve billing questions on the phone",
               "Process returns and refunds", "Escalate faults to the second line", "Update the help centre",
               "Log every call in the ticketing system", "Calm upset callers and fix their problem",
               "Reset passwords for locked-out users", "Track orders for customers who ask",
               "Answer questions about delivery times"]
    rows = ([{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
            + [{"text": t, "label": "support"} for t in support])
    model = train(str(write_jsonl(tmp_path / "c.jsonl", rows)), params=FAST, n_splits=3, other_label="none")
    assert model.classes == ("marketing", "sales", "support") and not model.has_scope
    texts = MARKETING[:3] + SALES[:3] + support[:3] + ["Brand and quota", "Tickets, deals and campaigns"]
    want = model.pipeline.predict_proba(texts)
    assert np.max(np.abs(model.predict_proba(texts) - want)) <= 1e-9
    for p, row in zip(model.classify(texts), want):
        assert [p.probabilities[c] for c in model.classes] == pytest.approx(row.tolist(), abs=1e-9)
        assert p.label == model.classes[int(np.argmax(row))]
    e = model.explain("Answer the customer's ticket, then pitch the upgrade and close it")
    assert set(e.terms) == set(model.classes) and all(e.terms[c] for c in model.classes)


def test_the_word_cache_overflowing_changes_no_result(monkeypatch):
    model = load_model()
    texts = [f"Brand campaign {i} word{i} for the quota {i * 7}" for i in range(300)]
    model._scorer.features.cache.clear()
    before = model.predict_proba(texts)
    monkeypatch.setattr(_features, "WORD_CACHE_LIMIT", 16)
    model._scorer.features.cache.clear()
    after = model.predict_proba(texts)
    assert len(model._scorer.features.cache) <= 16  # it was emptied and refilled many times
    assert np.array_equal(before, after)


def test_params_take_lists_as_json_gives_them_and_refuse_bad_ranges():
    """``Params(char_ngram=[3, 5])`` (a list, as from JSON) trains like the tuple, not as a crash deep in
    scikit-learn; a range the trainer cannot make is refused at once, naming the argument."""
    from_lists = Params(word_ngram=[1, 1], char_ngram=[3, 4], C=4.0, char_min_df=1)
    assert from_lists == Params(word_ngram=(1, 1), char_ngram=(3, 4), C=4.0, char_min_df=1)
    assert Params.from_json(from_lists.to_json()) == from_lists
    model = train(texts=MARKETING + SALES, labels=["marketing"] * len(MARKETING) + ["sales"] * len(SALES),
                  params=from_lists, n_splits=3)
    assert model.metadata["params"]["char_ngram"] == [3, 4]
    for bad in ({"char_ngram": [5, 3]}, {"word_ngram": [2, 3]}, {"char_ngram": [0, 4]}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Params(**bad)
