"""Training from in-memory data (texts and labels, a DataFrame) and the structured problems of a corpus."""

from __future__ import annotations

import pickle

import pytest

from marksales import CorpusError, CorpusProblem
from marksales._train import Params, train

from .conftest import MARKETING, SALES, write_jsonl

FAST = Params(char_ngram=(3, 4), C=4.0, char_min_df=1)
TEXTS = MARKETING + SALES
LABELS = ["marketing"] * len(MARKETING) + ["sales"] * len(SALES)


def test_texts_and_labels_train_the_same_model_as_the_file(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": t, "label": y} for t, y in zip(TEXTS, LABELS)])
    from_file = train(str(path), params=FAST, n_splits=3)
    in_memory = train(texts=iter(TEXTS), labels=LABELS, params=FAST, n_splits=3)
    assert pickle.dumps(in_memory.pipeline) == pickle.dumps(from_file.pipeline)
    assert in_memory.metadata["corpus"]["files"] == ["<texts>"]
    assert in_memory.metadata["corpus"]["sha256"] == from_file.metadata["corpus"]["sha256"]


def test_a_dataframe_trains_with_its_column_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"posting": TEXTS, "function": LABELS, "other": range(len(TEXTS))},
                         index=[f"r{i}" for i in range(len(TEXTS))])
    model = train(frame, text_column="posting", label_column="function", params=FAST, n_splits=3)
    assert model.classes == ("marketing", "sales")
    assert model.metadata["corpus"]["text_column"] == "posting"


def test_a_dataframe_with_bad_cells_names_each_row():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": TEXTS[:-2] + [float("nan"), "Close deals"], "label": LABELS[:-1] + [None]})
    with pytest.raises(CorpusError) as info:
        train(frame, params=FAST, n_splits=3)
    kinds = [(p.kind, p.source, p.line) for p in info.value.problems]
    assert kinds == [("empty_text", "<DataFrame>", len(TEXTS) - 1), ("empty_label", "<DataFrame>", len(TEXTS))]
    assert f"<DataFrame>:{len(TEXTS)}: the label is empty" in str(info.value)


def test_a_dataframe_without_the_column_names_its_columns():
    pd = pytest.importorskip("pandas")
    with pytest.raises(CorpusError, match=r"no column 'text' \(its columns are 'body', 'label'\)") as info:
        train(pd.DataFrame({"body": TEXTS, "label": LABELS}))
    assert [(p.kind, p.source) for p in info.value.problems] == [("missing_column", "<DataFrame>")]


@pytest.mark.parametrize("kwargs, match", [
    ({"texts": TEXTS}, "texts= and labels= go together"),
    ({"labels": ["marketing", "sales"]}, "allowed_labels="),
    ({"texts": TEXTS, "labels": LABELS[:-1]}, f"same length, not {len(TEXTS)} and {len(TEXTS) - 1}"),
    ({"texts": "Brand manager", "labels": "marketing"}, "texts must be an iterable of str"),
])
def test_in_memory_misuse_is_a_clear_error(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        train(**kwargs)


def test_corpus_and_texts_together_are_refused(tmp_path):
    with pytest.raises(TypeError, match="not both"):
        train(str(tmp_path / "x.jsonl"), texts=TEXTS, labels=LABELS)
    with pytest.raises(TypeError, match="pass allowed_labels="):  # the 0.2 meaning of labels=
        train(str(tmp_path / "x.jsonl"), labels=["marketing", "sales"])


def test_a_bad_grid_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(ValueError, match=r"word_ngram must be \(1, 1\) or \(1, 2\)"):
        train(str(tmp_path / "missing.jsonl"), grid={"word_ngram": [(1, 2), (1, 3)], "C": [1.0]})


def test_corpus_problems_are_structured_records(tmp_path):
    rows = [{"text": t, "label": y} for t, y in zip(TEXTS, LABELS)]
    reading = write_jsonl(tmp_path / "a.jsonl", rows + [{"text": "  ", "label": "sales"}, {"text": "x", "label": 3}])
    with pytest.raises(CorpusError) as info:
        train(str(reading), params=FAST, n_splits=3)
    got = [(p.kind, p.source, p.line) for p in info.value.problems]
    assert got == [("empty_text", str(reading), len(rows) + 1), ("empty_label", str(reading), len(rows) + 2)]
    assert all(isinstance(p, CorpusProblem) for p in info.value.problems)

    checking = write_jsonl(tmp_path / "b.jsonl", rows + [{"text": "Answer support tickets", "label": "support"}])
    with pytest.raises(CorpusError) as info:
        train(str(checking), params=FAST, n_splits=3)
    (few,) = info.value.problems
    assert (few.kind, few.source, few.line, few.text) == ("too_few_examples", str(checking), len(rows) + 1,
                                                          "Answer support tickets")
    assert str(few).startswith(f"{checking}:{len(rows) + 1}: label 'support' has 1 example(s)")


def test_a_label_conflict_is_structured_with_its_text(tmp_path):
    rows = [{"text": t, "label": y} for t, y in zip(TEXTS, LABELS)] + [{"text": MARKETING[0], "label": "sales"}]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    with pytest.raises(CorpusError) as info:
        train(str(path), params=FAST, n_splits=3, on_conflict="error")
    (problem,) = info.value.problems
    assert (problem.kind, problem.line, problem.text) == ("label_conflict", 1, MARKETING[0])
