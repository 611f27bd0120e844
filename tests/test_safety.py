"""Safe loading: pickles are read only when marksales vouches for them; version drift is explained."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import pytest

from marksales import ModelFileError, UntrustedModelError, load_model


class _Payload:
    """Unpickling this writes a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _crafted(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "model.joblib"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    return path, marker


def test_a_crafted_pickle_without_metadata_is_never_unpickled(tmp_path):
    path, marker = _crafted(tmp_path)
    with pytest.raises(UntrustedModelError, match="refusing to unpickle .* no model.json"):
        load_model(path)
    assert not marker.exists()


def test_a_crafted_pickle_beside_real_metadata_fails_the_checksum(tmp_path, model):
    shipped = Path(model.path).parent
    shutil.copy(shipped / "model.json", tmp_path / "model.json")
    path, marker = _crafted(tmp_path)
    with pytest.raises(UntrustedModelError, match="sha256 .* differs"):
        load_model(path)
    assert not marker.exists()
    with pytest.raises(ValueError):  # callers may catch the builtin
        load_model(path)


def test_trusted_true_is_an_explicit_opt_in(tmp_path):
    path, marker = _crafted(tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - the payload is not a Pipeline; what matters is that it ran
        load_model(path, trusted=True)
    assert marker.read_text() == "pwned"


def test_the_shipped_pickle_loads_because_its_checksum_matches(model):
    pipeline = model.pipeline
    assert list(pipeline.classes_) == list(model.classes)


def test_a_pickle_from_another_scikit_learn_is_explained(tmp_path, model, monkeypatch):
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    shipped = Path(model.path).parent
    for name in ("model.joblib", "model.json"):
        shutil.copy(shipped / name, tmp_path / name)

    def old_load(path):
        warnings.warn(InconsistentVersionWarning(estimator_name="Pipeline", current_sklearn_version="9.9",
                                                 original_sklearn_version="0.1"), stacklevel=1)
        return None

    monkeypatch.setattr(joblib, "load", old_load)
    with pytest.raises(ModelFileError, match=r"scikit-learn 0\.1 and this is scikit-learn 9\.9.*portable model\.npz"):
        load_model(tmp_path / "model.joblib")
