"""Hostile model files: each is refused with a ModelFileError in well under a second and a few MiB."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from marksales import ModelFileError, load_model
from marksales._format import _content_sha256


def _arrays(model) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(model.portable.to_bytes()), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _npz(arrays: dict[str, np.ndarray], *, header: dict | None = None, reseal: bool = True) -> bytes:
    arrays = dict(arrays)
    h = json.loads(arrays["header"].tobytes().decode()) if header is None else header
    if reseal:
        h["content_sha256"] = _content_sha256({k: v for k, v in arrays.items() if k != "header"})
    arrays["header"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _refused_cheaply(path: Path, match: str, max_mib: float = 8) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=match):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < max_mib * 2**20, f"refusing took {peak / 2**20:.1f} MiB"


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        member = io.BytesIO()
        np.lib.format.write_array(member, np.zeros(8 * 2**20), allow_pickle=False)  # 64 MiB of zeros
        zf.writestr("coef.npy", member.getvalue())
    assert path.stat().st_size < 2**20
    _refused_cheaply(path, "decompression bomb")


@pytest.mark.parametrize("name", ["model.npz", "model.json"])
def test_a_symlink_to_dev_zero_is_not_read(tmp_path, model, name):
    shutil.copy(model.path, tmp_path / "model.npz")
    target = tmp_path / name
    target.unlink(missing_ok=True)
    os.symlink("/dev/zero", target)
    _refused_cheaply(tmp_path, "not a regular file")


def test_a_crafted_token_pattern_is_refused(model):
    arrays = _arrays(model)
    header = json.loads(arrays["header"].tobytes().decode())
    header["vectorizers"][0]["token_pattern"] = r"(?u)\b(\w+\s?)+$x"
    from marksales._format import PortableModel

    with pytest.raises(ModelFileError, match="token_pattern"):
        PortableModel.from_bytes(_npz(arrays, header=header))


@pytest.mark.parametrize("block, key, value, match", [
    (0, "ngram_range", [1, 3], "word n-grams are"), (0, "binary", True, "not sublinear"),
    (0, "sublinear_tf", False, "not sublinear"), (-1, "norm", None, "not sublinear"),  # -1: the last block
    (0, "analyzer", "char_wb", "not a word vectorizer"), (None, "calibration", None, "calibration"),
])
def test_a_file_of_a_layout_the_trainer_does_not_make_is_refused(model, block, key, value, match):
    arrays = _arrays(model)
    header = json.loads(arrays["header"].tobytes().decode())
    (header if block is None else header["vectorizers"][block])[key] = value
    from marksales._format import PortableModel

    with pytest.raises(ModelFileError, match=f"cannot be read: .*{match}.*marksales train"):
        PortableModel.from_bytes(_npz(arrays, header=header))


def test_a_declared_shape_larger_than_the_member_is_refused(tmp_path, model):
    arrays = _arrays(model)
    member = io.BytesIO()
    np.lib.format.write_array(member, arrays["coef"], allow_pickle=False)
    raw = member.getvalue().replace(repr(arrays["coef"].shape).encode(), b"(1, 1000000000000)")
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("header.npy", _member(arrays["header"]))
        zf.writestr("coef.npy", raw)
    _refused_cheaply(path, r"declares shape \(1, 1000000000000\)")


def _member(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def test_an_npy_or_a_csv_given_as_a_model_is_one_clear_error(tmp_path):
    npy = tmp_path / "weights.npy"
    np.save(npy, np.zeros(3))
    _refused_cheaply(npy, "not an .npz")
    csv = tmp_path / "data.csv"
    csv.write_text("text,label\nSDR,sales\n")
    _refused_cheaply(csv, "not an .npz")


@pytest.mark.parametrize("value", ["x", ["model.npz"], {"model.npz": 3}])
def test_metadata_files_of_the_wrong_type_are_refused(tmp_path, model, value):
    shutil.copy(model.path, tmp_path / "model.npz")
    meta = json.loads(Path(model.path).with_name("model.json").read_text(encoding="utf-8"))
    meta["files"] = value
    (tmp_path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    _refused_cheaply(tmp_path, "'files' must map file names")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", -1.0, True])
def test_a_bad_no_signal_threshold_is_refused_in_the_npz_and_in_model_json(tmp_path, model, value):
    from marksales._format import PortableModel

    arrays = _arrays(model)
    header = json.loads(arrays["header"].tobytes().decode())
    header["extra"]["no_signal_threshold"] = value
    buf = io.BytesIO()
    np.savez(buf, **{**arrays, "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)})
    with pytest.raises(ModelFileError, match="no_signal_threshold|unreadable header"):
        PortableModel.from_bytes(buf.getvalue())
    shutil.copy(model.path, tmp_path / "model.npz")
    meta = json.loads(Path(model.path).with_name("model.json").read_text(encoding="utf-8"))
    meta["no_signal_threshold"] = value
    (tmp_path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelFileError, match="no_signal_threshold|unreadable"):
        load_model(tmp_path)


def test_negated_coefficients_without_model_json_fail_the_npz_s_own_checksum(tmp_path, model):
    arrays = _arrays(model)
    arrays["coef"] = -arrays["coef"]
    path = tmp_path / "model.npz"
    path.write_bytes(_npz(arrays, reseal=False))
    # a whole, well-formed model is read before its checksum is compared: about four times its size
    _refused_cheaply(path, "checksum in the file's own header", max_mib=8 + 4 * path.stat().st_size / 2**20)


def test_deeply_nested_model_json_is_one_clear_error(tmp_path, model):
    shutil.copy(model.path, tmp_path / "model.npz")
    (tmp_path / "model.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    _refused_cheaply(tmp_path, "unreadable")


def test_an_idf_below_one_is_refused_rather_than_dividing_by_zero(model):
    """Smoothed idf is at least 1, so every block's norm is positive; a crafted tiny idf would make it 0."""
    from marksales._format import PortableModel

    arrays = _arrays(model)
    arrays["idf_0"] = np.full_like(arrays["idf_0"], 1e-200)
    with pytest.raises(ModelFileError, match=r"idf of .* outside \[1, 100\]"):
        PortableModel.from_bytes(_npz(arrays))


def test_an_idf_beyond_any_corpus_is_refused_rather_than_scoring_nan(model):
    """idf and coefficients near 1e160 are finite, but a text's u . u would overflow and its decision be
    0 * inf; no corpus gives an idf above 1 + log(1 + n_texts)."""
    from marksales._format import PortableModel

    arrays = _arrays(model)
    arrays["idf_0"] = np.full_like(arrays["idf_0"], 1e160)
    arrays["coef"] = np.full_like(arrays["coef"], 1e160)
    with pytest.raises(ModelFileError, match=r"idf of .* outside \[1, 100\]"):
        PortableModel.from_bytes(_npz(arrays))


def test_a_header_claiming_many_classes_is_refused_before_any_table_is_made(tmp_path, model):
    """The feature table is (n_features, 1 + n_rows): n_rows comes from the header's classes, so it is
    checked against the coefficients before anything that size is allocated."""
    arrays = _arrays(model)
    header = json.loads(arrays["header"].tobytes().decode())
    header["classes"] = [f"class {i}" for i in range(100_000)]
    (tmp_path / "model.npz").write_bytes(_npz(arrays, header=header))
    _refused_cheaply(tmp_path, "coef has float64 with shape", max_mib=64)
