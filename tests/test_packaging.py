"""The wheel carries the model and the corpus, and works from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], check=True, capture_output=True)
    (found,) = out.glob("marksales-*.whl")
    return found


def test_wheel_holds_model_corpus_and_types(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ["marksales/models/model.npz", "marksales/models/model.joblib", "marksales/models/model.json",
                   "marksales/models/model.md", "marksales/corpus/README.md", "marksales/py.typed",
                   "marksales/corpus/train/article.jsonl"]:
        assert needed in names, needed
    assert any(n.startswith("marksales/corpus/dev/") for n in names)
    entry = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry[0]).decode()
    assert "marksales = marksales._cli:main" in text


def test_installed_wheel_classifies_from_another_folder(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "import marksales; p = marksales.classify('Inside Sales Representative'); print(marksales.__file__, p.label)"
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0].startswith(str(target))
    import marksales

    assert out[1] == marksales.classify("Inside Sales Representative").label  # the same shipped model
