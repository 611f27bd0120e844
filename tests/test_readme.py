"""The README's examples run as written: every ``python`` block, and every shell line of the usage sections,
against the installed package, in a folder holding the files they name.

Not run here: the install lines of "Two commands" (CI's ``.ci/run`` runs them as written, in a fresh
environment) and the two commands that train on the whole shipped corpus (minutes each; the rebuild is
checked by ``tests/test_train.py`` building twice, and ``--search`` by the search tests).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MARKETING, SALES

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = ("python3 -m venv", "SOURCE_DATE_EPOCH=", "marksales train corpus/train/")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.M | re.S)


def _shell_lines() -> list[str]:
    lines = []
    for block in _blocks("sh"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()  # a trailing comment
            if line and not line.startswith(SKIP):
                lines.append(line)
    return lines


NURSES = ["Staff nurse on a surgical ward", "Plan the rota for the night shift", "Give medication on the ward round",
          "Dress wounds and record observations", "Support patients after surgery", "Triage patients in A&E",
          "Care for children on the paediatric unit", "Take blood and log the results",
          "Teach new mothers to feed their babies", "Write up the handover notes"]


def _files(folder: Path) -> None:
    """Every file the examples read, small but real."""
    posting = "Brand Manager\nOwn the brand's campaigns and its voice.\nWork with the media agency on TV and social."
    (folder / "posting.txt").write_text(posting, encoding="utf-8")
    rows = [{"id": str(i), "title": t.split(",")[0][:30], "description": t, "text": t}
            for i, t in enumerate(MARKETING + SALES + NURSES)]
    for name, delimiter in (("postings.csv", ","), ("postings.tsv", "\t")):
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
            w.writeheader()
            w.writerows(rows)
    (folder / "postings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    labelled = [(t, "marketing") for t in MARKETING] + [(t, "sales") for t in SALES]
    for name, extra in (("my_postings.csv", []), ("holdout.csv", []), ("board.csv", [(t, "neither") for t in NURSES])):
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"] if name == "board.csv" else ["body", "function"])
            w.writerows(labelled + extra)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    table = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    pq.write_table(table, folder / "postings.parquet")
    (folder / "postings").mkdir()
    pq.write_table(table, folder / "postings" / "part-0.parquet")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """``my-model/``, as the training example makes it, for the examples that use it."""
    folder = tmp_path_factory.mktemp("trained")
    _files(folder)
    from marksales import train

    train(str(folder / "my_postings.csv"), text_column="body", label_column="function").save(folder / "my-model")
    return folder / "my-model"


def _folder(tmp_path: Path, trained: Path, with_model: bool) -> Path:
    _files(tmp_path)
    if with_model:
        shutil.copytree(trained, tmp_path / "my-model")
    return tmp_path


@pytest.mark.parametrize("line", _shell_lines())
def test_a_shell_example_runs_as_written(line, tmp_path, trained):
    if "parquet" in line:
        pytest.importorskip("pyarrow")
    makes_model = line.startswith("marksales train") and "-o my-model/" in line
    folder = _folder(tmp_path, trained, with_model=not makes_model)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {line}"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    if makes_model:
        assert (folder / "my-model" / "model.npz").is_file()


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_a_python_example_runs_as_written(index, tmp_path, trained, monkeypatch):
    code = _blocks("python")[index]
    if "import dask" in code:
        pytest.importorskip("dask.dataframe")
        pytest.importorskip("pyarrow")
    makes_model = 'model.save("my-model/")' in code
    folder = _folder(tmp_path, trained, with_model=not makes_model)
    monkeypatch.chdir(folder)
    namespace: dict[str, object] = {"texts": MARKETING + SALES + NURSES}
    if "df" in code or "series" in code:
        pd = pytest.importorskip("pandas")
        df = pd.read_csv(folder / "postings.csv")
        namespace.update(df=df, series=df["description"])
    if "score_frame" in code and "from marksales" not in code:
        from marksales import score_frame

        namespace["score_frame"] = score_frame  # the Dask block follows the pandas one
    exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)  # noqa: S102


def test_the_scope_threshold_the_readme_gives_is_the_shipped_models():
    """The README names the shipped model's scope threshold; a retrained model must not leave it stale."""
    from marksales import load_model

    found = re.findall(r"([0-9.]+) for the shipped model", README.read_text(encoding="utf-8"))
    assert found, "the README no longer gives the shipped model's scope threshold"
    assert {float(x) for x in found} == {round(load_model().scope_threshold, 2)}
