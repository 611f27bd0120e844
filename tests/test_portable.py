"""The portable model: equal to the scikit-learn Pipeline, and refusing damaged or foreign files."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from marksales import ModelFileError, load_model
from marksales._artifacts import PORTABLE_NAME
from marksales._corpus import read_labelled, shipped_corpus_files, shipped_dev_files
from marksales._format import PortableModel


def _varied_texts(n: int) -> list[str]:
    rng = random.Random(7)
    base = [e.text for e in read_labelled(shipped_corpus_files() + shipped_dev_files())]
    words = " ".join(base).split()
    odd = ["", " ", "\n\t", "Café crème brûlée", "ÉQUIPE COMMERCIALE", "ﬁnance ﬂow", "naïve résumé", "\u00a8\u0301x",
           "日本語の営業職", "مدير المبيعات", "Привет продажи", "🚀 Sales 🚀", "a\x00b\x01c", "\u200b\u200dzero width",
           "İstanbul İİ", "ß straße STRASSE", "x" * 50_000, "sales " * 20_000, "--- *** !!! ???", "e-mail/e-mails"]
    texts = base + odd
    while len(texts) < n:
        kind = rng.random()
        if kind < 0.5:
            texts.append(" ".join(rng.choices(words, k=rng.randint(1, 60))))
        elif kind < 0.7:
            t = rng.choice(base)
            texts.append("".join(c.upper() if rng.random() < 0.3 else c for c in t))
        elif kind < 0.85:
            texts.append(rng.choice(base) + rng.choice(odd[:16]) + rng.choice(base))
        else:
            texts.append("".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 80))))
    return texts


@pytest.fixture(scope="module")
def refitted():
    """Both heads refitted here, with the shipped model's settings, on a third of the shipped corpus, and
    their portable form: a fence that holds under any scikit-learn the project admits (the shipped pickle
    loads only under the version that wrote it; its probabilities are fenced by test_compat's references)."""
    from marksales._corpus import deduplicate
    from marksales._export import english_stop_words, to_portable
    from marksales._fit import Params, fit_heads
    from marksales._model import Model

    params = Params.from_json(load_model().metadata["params"])
    examples = deduplicate(read_labelled(shipped_corpus_files()))[::3]
    lean, scope = fit_heads([e.text for e in examples], [e.label for e in examples], params, "other")
    portable = to_portable(lean, {"evidence_stop_words": english_stop_words()}, scope=scope, scope_threshold=0.5)
    return Model(portable, pipeline=lean, scope_pipeline=scope), lean, scope


def test_portable_equals_pipeline_on_ten_thousand_texts(refitted):
    model, lean, scope = refitted
    texts = _varied_texts(10_000)
    assert len(texts) >= 10_000
    expected = lean.predict_proba(texts)
    got = model.predict_proba(texts)
    assert list(lean.classes_) == list(model.classes)
    assert np.max(np.abs(got - expected)) <= 1e-9
    # the scope head too: relevance is the scope Pipeline's probability of class 1 (in scope)
    assert model.has_scope
    assert np.max(np.abs(model.relevance(texts) - scope.predict_proba(texts)[:, 1])) <= 1e-9


def test_classify_gives_the_pipelines_probabilities_and_the_models_evidence(refitted):
    model, lean, _ = refitted
    texts = _varied_texts(3_000)
    expected = lean.predict_proba(texts)
    predictions = model.classify(texts)
    signal = [i for i, p in enumerate(predictions) if not p.no_signal]
    assert len(signal) > 2_000
    got = np.array([[predictions[i].probabilities[c] for c in model.classes] for i in signal])
    assert np.max(np.abs(got - expected[signal])) <= 1e-9
    assert all(abs(p.evidence - model.evidence(t)) <= 1e-12 for p, t in zip(predictions, texts))


@pytest.mark.parametrize("word_ngram, char_ngram", [((1, 1), None), ((1, 1), (2, 4)), ((1, 2), None), ((1, 2), (1, 3))])
def test_portable_equals_pipeline_for_other_feature_settings(word_ngram, char_ngram):
    # Every layout the trainer can make besides the shipped one: unigrams alone, no character block.
    from marksales._export import english_stop_words, to_portable
    from marksales._fit import Params, fit
    from marksales._model import Model

    examples = read_labelled(shipped_corpus_files())[::10]
    params = Params(word_ngram=word_ngram, char_ngram=char_ngram, word_min_df=1, char_min_df=1)
    pipeline = fit([e.text for e in examples], [e.label for e in examples], params)
    model = Model(to_portable(pipeline, {"evidence_stop_words": english_stop_words()}))
    texts = _varied_texts(1_500)
    assert np.max(np.abs(model.predict_proba(texts) - pipeline.predict_proba(texts))) <= 1e-9
    for p, t in zip(model.classify(texts[:300]), texts[:300]):
        if not p.no_signal:
            assert abs(p.probabilities[model.classes[1]] - pipeline.predict_proba([t])[0, 1]) <= 1e-9


@pytest.mark.parametrize("change", [
    {"word": {"ngram_range": (1, 3)}}, {"word": {"ngram_range": (2, 2)}}, {"word": {"binary": True}},
    {"word": {"sublinear_tf": False}}, {"word": {"norm": None}}, {"word": {"use_idf": False}},
    {"word": {"stop_words": "english"}}, {"char": {"analyzer": "char"}}, {"calibrate": False},
], ids=lambda c: str(c))
def test_export_refuses_what_the_trainer_does_not_make(change):
    """The scorer reads one layout; a Pipeline outside it is refused at export, naming what differs."""
    from marksales._export import to_portable
    from marksales._fit import Params, build_pipeline

    examples = read_labelled(shipped_corpus_files())[::40]
    pipeline = build_pipeline(Params(char_ngram=(3, 4)), calibrate=change.get("calibrate", True))
    for name, settings in change.items():
        if name != "calibrate":
            pipeline.set_params(**{f"features__{name}__{k}": v for k, v in settings.items()})
    pipeline.fit([e.text for e in examples], np.array([e.label for e in examples]))
    with pytest.raises(ValueError, match="cannot be exported: .*(not|drops|changes)"):
        to_portable(pipeline)


def test_inference_never_imports_scikit_learn_or_pickle():
    # numpy imports the pickle module itself; what must never happen is an unpickling call.
    code = """
import builtins, pickle
real = builtins.__import__
def guard(name, *a, **k):
    if name.split('.')[0] in ('sklearn', 'joblib', 'scipy'):
        raise ImportError('inference imported ' + name)
    return real(name, *a, **k)
def refuse(*a, **k):
    raise RuntimeError('inference unpickled something')
builtins.__import__ = guard
pickle.load = pickle.loads = pickle.Unpickler = refuse
import marksales
p = marksales.classify('Senior Account Executive')
e = marksales.explain('Brand campaigns. Cold calls.')
print(p.label, len(e.sentences))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "2"


def _copy_model(tmp_path: Path, model) -> Path:
    data = Path(model.path).read_bytes()
    path = tmp_path / PORTABLE_NAME
    path.write_bytes(data)
    return path


def test_a_copied_portable_model_loads_and_agrees(tmp_path, model):
    copy = load_model(_copy_model(tmp_path, model))
    texts = ["SDR", "Brand Manager", "Run paid social campaigns"]
    assert copy.classify(texts) == model.classify(texts)


@pytest.mark.parametrize("keep", [0, 10, 1000, 0.5])
def test_truncated_file_is_refused(tmp_path, model, keep):
    data = Path(model.path).read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    path = tmp_path / "cut.npz"
    path.write_bytes(data[:n])
    with pytest.raises(ModelFileError, match="corrupt or truncated|not a readable"):
        load_model(path)


def test_file_changed_after_training_is_refused(tmp_path, model):
    path = _copy_model(tmp_path, model)
    (tmp_path / "model.json").write_text(Path(model.path).with_name("model.json").read_text())
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match the sha256"):
        load_model(path)


def _rewrite(model, *, reseal: bool = True, **arrays) -> bytes:
    """The model's npz with ``arrays`` replaced; ``reseal`` recomputes the header's content checksum, as a
    crafted file would, so the checks behind it are reached."""
    import json

    from marksales._format import _content_sha256

    with np.load(io.BytesIO(model.portable.to_bytes()), allow_pickle=False) as npz:
        content = {k: npz[k] for k in npz.files}
    content.update(arrays)
    header = json.loads(content["header"].tobytes().decode())
    if reseal and isinstance(header, dict) and "content_sha256" in header:
        header["content_sha256"] = _content_sha256({k: v for k, v in content.items() if k != "header"})
        content["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **content)
    return buf.getvalue()


def _header(model, **changes) -> np.ndarray:
    import json

    with np.load(io.BytesIO(model.portable.to_bytes()), allow_pickle=False) as npz:
        header = json.loads(npz["header"].tobytes().decode())
    header.update(changes)
    return np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


def test_other_format_version_is_refused(model):
    data = _rewrite(model, header=_header(model, format_version=99))
    with pytest.raises(ModelFileError, match="format version 99.*reads versions 1, 2"):
        PortableModel.from_bytes(data)


def test_inconsistent_coefficients_are_refused(model):
    data = _rewrite(model, coef=model.portable.coef[:, :-3])
    with pytest.raises(ModelFileError, match="coef has float64 with shape .* expected"):
        PortableModel.from_bytes(data)


def test_vocabulary_size_mismatch_is_refused(model):
    vocab = "\n".join(model.portable.vocabularies[0][:-1]).encode()
    data = _rewrite(model, vocab_0=np.frombuffer(vocab, dtype=np.uint8))
    with pytest.raises(ModelFileError, match="vocabulary .* header declares"):
        PortableModel.from_bytes(data)


def test_foreign_npz_and_pickled_arrays_are_refused(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, header=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError):
        PortableModel.from_bytes(buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, weights=np.zeros(3))
    with pytest.raises(ModelFileError, match="unexpected member 'weights.npy'"):
        PortableModel.from_bytes(buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, coef=np.zeros(3))
    with pytest.raises(ModelFileError, match="lacks the array 'header'"):
        PortableModel.from_bytes(buf.getvalue())
    with pytest.raises(ModelFileError):
        PortableModel.from_bytes(b"PK\x03\x04 not really a zip")


def test_serialisation_is_deterministic(model):
    a = model.portable.to_bytes()
    b = PortableModel.from_bytes(a).to_bytes()
    assert a == b
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_the_feature_table_is_the_models_own_storage_and_rebuilt_when_arrays_are_replaced():
    """A model read from its file keeps its numbers in one read-only table (``table_of`` finds it, no
    copy); a model whose arrays were replaced gets a new table of the new numbers, never the stale one."""
    from dataclasses import replace

    from marksales._format import table_of

    portable = load_model().portable
    table = table_of(portable)
    assert table is portable.coef.base and not table.flags.writeable
    heads = [*portable.coef] + ([portable.scope.coef] if portable.scope is not None else [])
    assert table.shape == (portable.n_features, 1 + len(heads))
    assert np.array_equal(table[:, 0], np.concatenate(portable.idfs))
    for j, column in enumerate(heads, 1):
        assert np.array_equal(table[:, j], column)
    changed = replace(portable, coef=-np.ascontiguousarray(portable.coef))
    fresh = table_of(changed)
    assert fresh is not table and np.array_equal(fresh[:, 1], -table[:, 1])
    assert np.array_equal(fresh[:, 0], table[:, 0])
    # and one read back from its own bytes is a table again, equal to the first
    again = PortableModel.from_bytes(portable.to_bytes())
    assert table_of(again) is again.coef.base and np.array_equal(table_of(again), table)
