"""Safe loading: only the installed package's pickle is read unless the caller trusts a file; drift is explained."""

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
    with pytest.raises(UntrustedModelError, match="refusing to unpickle .* not the model installed"):
        load_model(path)
    assert not marker.exists()


def _crafted_model_dir(tmp_path: Path, model) -> tuple[Path, Path]:
    """A model directory whose model.json records the crafted pickle's own sha256, beside a real model.npz."""
    import hashlib
    import json

    shipped = Path(model.path).parent
    directory = tmp_path / "crafted"
    directory.mkdir()
    path, marker = _crafted(directory)
    shutil.copy(shipped / "model.npz", directory / "model.npz")
    meta = json.loads((shipped / "model.json").read_text(encoding="utf-8"))
    meta["files"]["model.joblib"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (directory / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    return directory, marker


def test_a_crafted_pickle_vouched_for_by_its_own_model_json_never_runs(tmp_path, model, capsys):
    from marksales._cli import main

    directory, marker = _crafted_model_dir(tmp_path, model)
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "Brand Manager", "label": "marketing"}\n{"text": "SDR", "label": "sales"}\n'
                    '{"text": "Media Buyer", "label": "marketing"}\n{"text": "Closer", "label": "sales"}\n',
                    encoding="utf-8")
    with pytest.raises(UntrustedModelError, match="refusing to unpickle"):
        load_model(directory / "model.joblib")
    with pytest.raises(UntrustedModelError, match="trusted=True"):
        load_model(directory).pipeline  # noqa: B018
    assert load_model(directory).classify("Brand Manager").label in model.classes  # the npz alone serves
    assert main(["classify", "--model", str(directory / "model.joblib"), "SDR"]) == 1
    assert "--trusted" in capsys.readouterr().err
    assert main(["info", "--model", str(directory)]) == 0
    assert main(["evaluate", str(data), "--model", str(directory)]) == 0
    assert main(["compare", str(data), "--model", str(directory), "--against", str(directory)]) == 0
    assert main(["score", str(data), "-o", str(tmp_path / "out.jsonl"), "--model", str(directory),
                 "--jobs", "2", "--quiet", "--prefix", "pred_"]) == 0
    assert main(["score", str(data), "-o", str(tmp_path / "out2.jsonl"), "--model",
                 str(directory / "model.joblib"), "--jobs", "2", "--quiet", "--prefix", "pred_"]) == 1
    assert not marker.exists()


def test_a_directory_with_only_a_pickle_is_refused_with_a_way_forward(tmp_path):
    path, marker = _crafted(tmp_path)
    with pytest.raises(UntrustedModelError, match="holds only a pickle.*trusted=True.*marksales train"):
        load_model(tmp_path)
    with pytest.raises(ValueError):  # callers may catch the builtin
        load_model(tmp_path)
    assert not marker.exists()


def test_trusted_true_is_an_explicit_opt_in(tmp_path):
    path, marker = _crafted(tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - the payload is not a Pipeline; what matters is that it ran
        load_model(path, trusted=True)
    assert marker.read_text() == "pwned"


def test_the_shipped_pickle_loads_because_it_is_the_installed_package_s(model):
    import sklearn

    if sklearn.__version__ != model.metadata["versions"]["scikit-learn"]:
        # trusted as the package's own; refused only because another scikit-learn wrote it
        with pytest.raises(ModelFileError, match="pickled with scikit-learn"):
            model.pipeline  # noqa: B018
        return
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
        load_model(tmp_path / "model.joblib", trusted=True)
