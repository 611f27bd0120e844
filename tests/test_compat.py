"""The shipped model predicts the same under every supported scikit-learn and numpy.

CI runs this file twice: in the main environment (newest scikit-learn of the declared range) and in
one with the oldest (see .ci/run).
"""

from __future__ import annotations

import numpy as np
import pytest

from marksales import ModelFileError, load_model
from marksales._corpus import read_labelled, shipped_dev_files
from marksales._train import Params, train

from .conftest import MARKETING, SALES, write_jsonl


def test_shipped_model_reproduces_its_recorded_dev_probabilities():
    model = load_model()
    texts = [e.text for e in read_labelled(shipped_dev_files())]
    recorded = np.asarray(model.metadata["reference_probabilities"])
    assert recorded.shape == (len(texts), len(model.classes))
    assert np.max(np.abs(model.predict_proba(texts) - recorded)) <= 1e-9
    relevance = np.asarray(model.metadata["reference_relevance"])
    assert relevance.shape == (len(texts),)
    assert np.max(np.abs(model.relevance(texts) - relevance)) <= 1e-9


def test_the_shipped_pickle_loads_or_says_why_not():
    import sklearn

    model = load_model()
    if sklearn.__version__ == model.metadata["versions"]["scikit-learn"]:
        texts = MARKETING + SALES
        assert np.max(np.abs(model.pipeline.predict_proba(texts) - model.predict_proba(texts))) <= 1e-9
    else:
        with pytest.raises(ModelFileError, match="pickled with scikit-learn .* portable model.npz"):
            model.pipeline  # noqa: B018


def test_training_here_gives_a_portable_model_equal_to_its_pipeline(tmp_path):
    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    model = train([str(path)], params=Params(char_ngram=(3, 5), C=4.0, char_min_df=1), n_splits=3)
    texts = MARKETING + SALES + ["", "Café crème", "x" * 300]
    assert np.max(np.abs(model.pipeline.predict_proba(texts) - model.predict_proba(texts))) <= 1e-9
