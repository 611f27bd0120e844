"""The scope head: is a text marketing or sales work at all? Contracts, invariances, floors, old files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from marksales import Prediction, load_model, score_file
from marksales._cli import main
from marksales._model import Model
from tests.conftest import MARKETING, SALES, write_jsonl

# dev-c and dev-d (authors who never saw the training files): measured 0.92 of their 741 out-of-scope rows
# flagged (dev-c 0.94, dev-d's harder near misses 0.81) and 0.2% of their in-scope rows when the shipped
# model was built; the floors leave room for a retrain.
MIN_OTHER_FLAGGED = 0.88
MAX_IN_SCOPE_FLAGGED = 0.03

OTHER = ["Registered Nurse, ICU nights", "Reconcile the general ledger and close the books each month",
         "Senior Backend Engineer (Go, Kubernetes)", "Forklift driver, warehouse, 4 on 4 off",
         "Teach maths to Year 9 and Year 10 classes", "Install and repair domestic plumbing",
         "Accounts Payable Clerk", "Plan and run the weekly payroll for 300 staff"]


def test_predictions_carry_relevance_and_in_scope(model):
    assert model.has_scope and 0.0 < model.scope_threshold < 1.0
    for p in model.classify(OTHER + MARKETING + SALES):
        assert isinstance(p, Prediction)
        assert 0.0 <= p.relevance <= 1.0
        assert p.in_scope is (p.relevance >= model.scope_threshold and p.evidence > 0)
        d = p.to_dict()
        assert d["relevance"] == p.relevance and d["in_scope"] == p.in_scope
        assert set(p.probabilities) == set(model.classes)  # the lean is still reported, in scope or not


def test_the_lean_and_the_scope_answer_separately(model):
    # the lean of an out-of-scope text is still a calibrated distribution over the two labels
    for p in model.classify(OTHER):
        assert sum(p.probabilities.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("text", ["", "   ", "Lorem ipsum dolor sit amet", "Le chat est assis sur le tapis",
                                  "qwxz vbnm"])
def test_text_with_nothing_to_go_on_is_not_in_scope(model, text):
    p = model.classify(text)
    assert p.in_scope is False


@pytest.fixture(scope="module")
def char_model() -> Model:
    """A small two-head model with character n-grams, whose scope head can keep a text whose words it has
    never seen (the shipped model may have no character n-grams)."""
    from marksales import Params, train

    texts = MARKETING + SALES + OTHER
    labels = ["marketing"] * len(MARKETING) + ["sales"] * len(SALES) + ["other"] * len(OTHER)
    return train(texts=texts, labels=labels, params=Params(char_ngram=(3, 4), C=4.0, char_min_df=1), n_splits=3)


def test_a_text_without_a_known_content_word_is_never_in_scope(model, char_model):
    # whatever its character n-grams (or its stop words) say to the scope head
    candidates = ["Salesforceish", "xyzzy Marketingz", "Salesperzon", "Marketeerz", "Vendedora", "Publicidad",
                  "Brandz Campaignz", "the and of for with", "Prospectz Quotaz"]
    for m in (model, char_model):
        without = [p for p in m.classify(candidates) if p.evidence == 0.0]
        assert without and all(p.in_scope is False for p in without)
    # the rule is exercised: the small model's scope head alone would keep some of them
    threshold = char_model.scope_threshold
    assert any(p.evidence == 0.0 and p.relevance >= threshold for p in char_model.classify(candidates))


def test_scope_is_invariant_to_case_and_whitespace(model):
    texts = OTHER + MARKETING + SALES
    base = [p.relevance for p in model.classify(texts)]
    for variant in ([t.upper() for t in texts], ["  " + t.replace(" ", " \t ") + "\n" for t in texts]):
        assert [p.relevance for p in model.classify(variant)] == pytest.approx(base, abs=1e-12)


def test_scope_floors_on_the_independent_dev_set(model, scope_dev_rows):
    rows = scope_dev_rows
    preds = model.classify([r["text"] for r in rows])
    other = np.array([r["label"] == "other" for r in rows])
    flagged = np.array([p.in_scope is False for p in preds])
    assert other.sum() >= 600
    assert flagged[other].mean() >= MIN_OTHER_FLAGGED
    assert flagged[~other].mean() <= MAX_IN_SCOPE_FLAGGED


def test_explain_says_which_terms_pulled_a_text_out_of_scope(model):
    e = model.explain("Registered Nurse, ICU nights. Administer medication and monitor patients.")
    assert set(e.scope_terms) == {"in_scope", "out_of_scope"}
    assert e.scope_terms["out_of_scope"] and all(t.weight > 0 for t in e.scope_terms["out_of_scope"])
    assert "scope_terms" in e.to_dict()


def test_a_format_1_file_loads_with_scope_unknown(model, tmp_path):
    from dataclasses import replace

    from marksales._format import _content_sha256

    with np.load(io.BytesIO(replace(model.portable, scope=None).to_bytes()), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["header"].tobytes().decode())
    del header["scope"], header["content_sha256"]
    header["format_version"] = 1
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    assert "scope_coef" not in arrays and _content_sha256
    path = tmp_path / "old.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    old = load_model(path)
    p = old.classify("Brand Manager")
    assert not old.has_scope and p.relevance is None and p.in_scope is None
    assert p.probabilities == pytest.approx(model.classify("Brand Manager").probabilities)


def test_training_with_out_of_scope_rows_gives_a_scope_head(tmp_path):
    from marksales import train
    from marksales._train import Params

    rows = ([{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
            + [{"text": t, "label": "other"} for t in OTHER + ["Chef de partie", "Welder, MIG/TIG"]])
    params = Params(C=8.0, char_ngram=(3, 4), word_min_df=1, char_min_df=1)
    m = train([str(write_jsonl(tmp_path / "c.jsonl", rows))], params=params, n_splits=3)
    assert isinstance(m, Model) and m.has_scope and m.classes == ("marketing", "sales")
    assert m.metadata["scope"]["other_label"] == "other" and 0 < m.metadata["scope"]["threshold"] < 1
    saved = m.save(tmp_path / "m")
    assert saved.path == tmp_path / "m" / "model.npz" and "fingerprint" in saved.metadata
    saved = load_model(tmp_path / "m")
    texts = OTHER + MARKETING + SALES
    assert [p.in_scope for p in saved.classify(texts)] == [p.in_scope for p in m.classify(texts)]
    # the scope head's probabilities equal its Pipeline's, and the pickle holds both heads
    assert np.max(np.abs(m.relevance(texts) - m.scope_pipeline.predict_proba(texts)[:, 1])) <= 1e-9
    trusted = load_model(tmp_path / "m" / "model.joblib", trusted=True)
    assert np.max(np.abs(trusted.relevance(texts) - m.relevance(texts))) <= 1e-9
    # a corpus without such rows trains as before: no scope head
    plain = train([str(write_jsonl(tmp_path / "p.jsonl", rows[:20]))], params=params, n_splits=3)
    assert not plain.has_scope and plain.classify("SDR").in_scope is None
    with pytest.raises(Exception, match="no scope head"):
        plain.relevance(["SDR"])


def test_other_label_names_the_out_of_scope_rows(tmp_path):
    from marksales import train
    from marksales._train import Params

    rows = ([{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
            + [{"text": t, "label": "neither"} for t in OTHER])
    m = train([str(write_jsonl(tmp_path / "c.jsonl", rows))], other_label="neither", n_splits=3,
              params=Params(C=8.0, char_ngram=None, word_min_df=1))
    assert m.has_scope and m.metadata["scope"]["other_label"] == "neither"


def test_score_marks_scope_and_can_keep_only_in_scope_rows(model, tmp_path):
    texts = OTHER + MARKETING + SALES
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)] + [{"id": -1}])
    summary = score_file(src, tmp_path / "all.jsonl", jobs=1)
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [*range(len(texts)), -1]
    expected = [p.in_scope for p in model.classify(texts)]
    assert [r["in_scope"] for r in rows[:-1]] == expected and rows[-1]["error"]
    assert summary.out_of_scope == expected.count(False)
    kept = score_file(src, tmp_path / "kept.jsonl", jobs=1, only_in_scope=True)
    ids = [json.loads(line)["id"] for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert ids == [i for i, keep in enumerate(expected) if keep] + [-1]  # error rows still come back
    assert kept.written == len(ids) and kept.rows == len(texts) + 1


def test_cli_classify_says_out_of_scope_plainly(model, capsys):
    texts = OTHER[:4] + MARKETING[:2] + SALES[:2]
    assert main(["classify", *texts]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(texts)
    assert [("OUT OF SCOPE" in line) for line in out] == [p.in_scope is False for p in model.classify(texts)]
    assert main(["classify", "--json", *texts]) == 0
    got = [json.loads(line)["in_scope"] for line in capsys.readouterr().out.splitlines()]
    assert got == [p.in_scope for p in model.classify(texts)]
