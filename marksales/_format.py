"""The portable model file: a fitted TF-IDF + logistic-regression model as plain arrays in one ``.npz``.

The file is a zip of ``.npy`` arrays, read without numpy's pickle support: a JSON header (analyzer
settings, classes, calibration, the scope head's settings, a sha256 of every other array), each
vectorizer's vocabulary as newline-joined UTF-8 bytes, and float64 arrays for idf, coefficients,
intercepts and sigmoid calibrators. It is data: a hostile file can give wrong answers, never run code,
and never cost more than bounded time and memory. Before anything is decompressed the reader checks
that the path is a regular file of bounded size, that every member is a known array with a plausible
compression ratio, and that every array's declared shape matches its size; every header field is
checked for type and range, and the word analyzer's token pattern must be the one the trainer writes.

Format versions: 1 (lean head only, no checksum) still loads; 2 adds the content checksum and the
optional scope head (``ScopeHead``).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import operator
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._errors import ModelFileError

FORMAT_NAME = "marksales-portable"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# Above any smoothed idf a corpus can give (1 + log(1 + n_texts) is 45 for 2**63 texts).
MAX_IDF = 100.0

# scikit-learn's default token pattern: the only one the trainer writes, so the only one read. Any other
# pattern is refused: a crafted one could backtrack for minutes on one word.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"

# Bounds that no model the trainer writes comes near (the shipped one: 0.9 MB, 2.6 MB unpacked) and that
# keep a hostile file cheap to refuse.
MAX_FILE_BYTES = 1 << 30
MAX_MEMBER_RATIO = 50  # unpacked / packed size of one member; real arrays pack 1-10x
MAX_HEADER_BYTES = 1 << 24
MAX_NGRAM = 10

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VectorizerSpec:
    """Settings of one fitted ``TfidfVectorizer``, as stored in the portable header."""

    name: str
    analyzer: str  # "word" or "char_wb"
    ngram_range: tuple[int, int]
    lowercase: bool
    strip_accents: str | None
    token_pattern: str | None
    stop_words: tuple[str, ...] | None
    sublinear_tf: bool
    use_idf: bool
    norm: str | None
    binary: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "token_pattern": self.token_pattern,
            "stop_words": None if self.stop_words is None else sorted(self.stop_words),
            "sublinear_tf": self.sublinear_tf,
            "use_idf": self.use_idf,
            "norm": self.norm,
            "binary": self.binary,
        }

    @classmethod
    def from_json(cls, d: Any) -> VectorizerSpec:
        if not isinstance(d, dict):
            raise ModelFileError(f"vectorizer settings must be a JSON object, not {type(d).__name__}")
        ngram = d.get("ngram_range")
        if not (isinstance(ngram, list) and len(ngram) == 2 and all(_is_int(n) for n in ngram)
                and 1 <= ngram[0] <= ngram[1] <= MAX_NGRAM):
            raise ModelFileError(f"ngram_range must be [min, max] with 1 <= min <= max <= {MAX_NGRAM}, not {ngram!r}")
        stop = d.get("stop_words")
        if stop is not None and not (isinstance(stop, list) and all(isinstance(w, str) for w in stop)):
            raise ModelFileError("stop_words must be null or a list of strings")
        spec = cls(
            name=_field(d, "name", str),
            analyzer=_choice(d, "analyzer", ("word", "char_wb")),
            ngram_range=(int(ngram[0]), int(ngram[1])),
            lowercase=_field(d, "lowercase", bool),
            strip_accents=_choice(d, "strip_accents", (None, "unicode", "ascii")),
            token_pattern=_choice(d, "token_pattern", (None, TOKEN_PATTERN)),
            stop_words=None if stop is None else tuple(stop),
            sublinear_tf=_field(d, "sublinear_tf", bool),
            use_idf=_field(d, "use_idf", bool),
            norm=_choice(d, "norm", (None, "l2")),
            binary=_field(d, "binary", bool),
        )
        if spec.analyzer == "word" and spec.token_pattern is None:
            raise ModelFileError(f"a word analyzer needs the token_pattern {TOKEN_PATTERN!r}")
        return spec


def layout_problem(specs: Sequence[VectorizerSpec], calibration: str | None,
                   vocabularies: Sequence[Sequence[str]] | None = None) -> str | None:
    """What keeps a model from the one layout the trainer makes and the scorer reads, or None.

    That layout: a word vectorizer of unigrams or unigrams and bigrams (scikit-learn's token pattern, no
    stop words, its vocabulary in sorted order), optionally a ``char_wb`` vectorizer after it; every block
    sublinear tf, idf and l2-normed, sharing lowercase and strip_accents; a sigmoid-calibrated regression.
    """
    if calibration != "sigmoid":
        return f"its classifier's calibration is {calibration!r}, not the trainer's 'sigmoid'"
    if not 1 <= len(specs) <= 2 or specs[0].analyzer != "word" or any(s.analyzer != "char_wb" for s in specs[1:]):
        return (f"its features are {[s.analyzer for s in specs]}, not a word vectorizer optionally followed by "
                f"one char_wb vectorizer")
    word = specs[0]
    if word.ngram_range not in ((1, 1), (1, 2)):
        return f"its word n-grams are {list(word.ngram_range)}, not [1, 1] or [1, 2]"
    if word.token_pattern != TOKEN_PATTERN or word.stop_words is not None:
        return "its word vectorizer changes scikit-learn's token pattern or drops stop words"
    for s in specs:
        if not (s.sublinear_tf and s.use_idf and s.norm == "l2" and not s.binary):
            return f"vectorizer {s.name!r} is not sublinear tf with idf and l2 norm"
        if (s.lowercase, s.strip_accents) != (word.lowercase, word.strip_accents):
            return "its vectorizers differ in lowercase or strip_accents"
    if vocabularies is not None and not _in_sorted_order(vocabularies[0]):
        return f"vocabulary {word.name!r} is not in sorted order"
    return None


def _in_sorted_order(terms: Sequence[str]) -> bool:
    """Whether every term is less than the next (so the terms are also distinct)."""
    if not isinstance(terms, Terms):
        return all(map(operator.lt, terms, itertools.islice(terms, 1, None)))
    last: str | None = None
    for _, _, chunk in terms.chunks():  # a chunk at a time, compared in C
        part = chunk.split("\n")
        if (last is not None and not last < part[0]) or not all(map(operator.lt, part, part[1:])):
            return False
        last = part[-1]
    return True


@dataclass(frozen=True)
class ScopeHead:
    """The second head: is the text marketing or sales work at all?

    A binary logistic regression over the same features as the lean, calibrated by a sigmoid:
    ``relevance = 1 / (1 + exp(calib_a * (coef . x + intercept) + calib_b))``, the probability that the
    text is in scope; ``in_scope`` is ``relevance >= threshold``.
    """

    coef: FloatArray  # shape (n_features,)
    intercept: float
    calib_a: float
    calib_b: float
    threshold: float
    other_label: str


class Terms(Sequence[str]):
    """A vocabulary kept as its newline-joined text, each term made a string only when asked for.

    A loaded model's vocabularies (about 90,000 words and bigrams, as many character n-grams) then cost
    their text and an offset array rather than a Python object per term; ``_features`` indexes the text
    directly (``spans``).
    """

    __slots__ = ("text", "_bounds")

    def __init__(self, text: str) -> None:
        self.text = text
        # Where each term starts, and one past the end: found in windows of the text, so no work array
        # is larger than a window's code points.
        window = 1 << 18
        parts = [np.zeros(1, dtype=np.int64)] if text else []
        for at in range(0, len(text), window):
            parts.append(at + 1 + np.flatnonzero(codepoints(text[at : at + window]) == 10))
        parts.append(np.array([len(text) + 1], dtype=np.int64))
        bounds = np.concatenate(parts)
        self._bounds = bounds.astype(np.int32) if bounds[-1] < 2**31 else bounds

    def chunks(self, size: int = 4096) -> Iterator[tuple[int, int, str]]:
        """(index of the first term, its offset in ``text``, the newline-joined text of up to ``size``
        terms), in order: a pass over the vocabulary that never holds more than ``size`` terms' worth."""
        bounds, n = self._bounds, len(self)
        for first in range(0, n, size):
            start, stop = int(bounds[first]), int(bounds[min(first + size, n)]) - 1
            yield first, start, self.text[start:stop]

    def spans(self, size: int = 4096) -> Iterator[tuple[int, npt.NDArray[np.uint32], npt.NDArray[np.int64],
                                                         npt.NDArray[np.int64]]]:
        """Per chunk of terms: the first term's index, the chunk's code points, and each term's start in
        them and length."""
        bounds, n = self._bounds, len(self)
        for first, start, chunk in self.chunks(size):
            starts = bounds[first : min(first + size, n) + 1].astype(np.int64) - start
            yield first, codepoints(chunk), starts[:-1], np.diff(starts) - 1

    def lengths(self) -> npt.NDArray[np.int64]:
        """Each term's length, from the bounds (no pass over the text)."""
        return np.diff(self._bounds).astype(np.int64) - 1

    def __len__(self) -> int:
        return self._bounds.size - 1

    def __getitem__(self, i: Any) -> Any:
        bounds, n = self._bounds, len(self)
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step != 1:
                return tuple(self[k] for k in range(start, stop, step))
            if start >= stop:
                return ()
            return tuple(self.text[int(bounds[start]) : int(bounds[stop]) - 1].split("\n"))
        k = operator.index(i)
        if not -n <= k < n:
            raise IndexError("term index out of range")
        k %= n
        return self.text[int(bounds[k]) : int(bounds[k + 1]) - 1]

    def __iter__(self) -> Iterator[str]:
        # A few thousand strings at a time: iterating a vocabulary never holds all its terms as objects.
        for _, _, chunk in self.chunks():
            yield from chunk.split("\n")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Terms):
            return self.text == other.text
        return isinstance(other, Sequence) and len(other) == len(self) and all(map(operator.eq, self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Terms({len(self)} terms)"


def as_terms(vocab: Sequence[str]) -> Terms:
    """``vocab`` as ``Terms`` (an exported model's vocabularies are tuples)."""
    return vocab if isinstance(vocab, Terms) else Terms("\n".join(vocab))


def feature_table(idfs: Sequence[FloatArray], coef: FloatArray, scope_coef: FloatArray | None) -> FloatArray:
    """One read-only row per feature: its idf, its coefficient in each of the lean's rows, then in the scope
    head's (when there is one), shape (n_features, 1 + n_rows [+ 1]).

    The scorer takes a text's rows from it in one gather. The reader keeps a model's numbers there alone
    (its ``idfs``, ``coef`` and scope ``coef`` are views of it), so a loaded model holds no more than the
    arrays it replaces; ``table_of`` finds it again.
    """
    n = sum(len(v) for v in idfs)
    columns = [*coef] + ([scope_coef] if scope_coef is not None else [])
    table = np.empty((n, 1 + len(columns)))
    table[:, 0] = np.concatenate(list(idfs)) if idfs else np.zeros(0)
    for j, column in enumerate(columns, 1):
        table[:, j] = column
    table.flags.writeable = False
    return table


def _table_views(table: FloatArray, sizes: Sequence[int], n_rows: int, scope: bool
                 ) -> tuple[tuple[FloatArray, ...], FloatArray, FloatArray | None]:
    """The idf blocks, the coefficient rows and the scope coefficients as views of ``feature_table``'s table."""
    idfs = tuple(np.split(table[:, 0], np.cumsum(sizes)[:-1])) if sizes else ()
    return idfs, table[:, 1 : 1 + n_rows].T, table[:, 1 + n_rows] if scope else None


def table_of(model: PortableModel) -> FloatArray:
    """``model``'s ``feature_table``: the one its arrays are views of (as the reader makes them), else a new
    one (a model exported in memory, or one whose arrays were replaced)."""
    table = model.coef.base
    n_rows = model.coef.shape[0]
    views: list[FloatArray] = [*model.idfs, model.coef] + ([model.scope.coef] if model.scope is not None else [])
    if (isinstance(table, np.ndarray) and table.ndim == 2 and table.flags.c_contiguous and table.dtype == np.float64
            and table.shape == (model.n_features, 1 + n_rows + (model.scope is not None))
            and all(v.base is table for v in views)):
        expected = _table_views(table, [len(v) for v in model.vocabularies], n_rows, model.scope is not None)
        same = [*expected[0], expected[1]] + ([expected[2]] if expected[2] is not None else [])
        if all(a.shape == b.shape and a.strides == b.strides
               and a.__array_interface__["data"][0] == b.__array_interface__["data"][0] for a, b in zip(views, same)):
            return table
    return feature_table(model.idfs, model.coef, model.scope.coef if model.scope is not None else None)


def codepoints(text: str) -> npt.NDArray[np.uint32]:
    """The code points of ``text`` as an array."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


@dataclass(frozen=True)
class PortableModel:
    """A fitted binary or multi-class TF-IDF + logistic-regression model, as arrays.

    ``coef`` has one row per decision-function column (one row for two classes, as in scikit-learn),
    columns in the order of the concatenated vectorizer vocabularies. ``scope`` is the optional second
    head (None for a model trained without out-of-scope texts, and for format version 1).
    """

    classes: tuple[str, ...]
    vectorizers: tuple[VectorizerSpec, ...]
    vocabularies: tuple[Sequence[str], ...]  # ``Terms`` when read from a file, tuples when exported
    idfs: tuple[FloatArray, ...]
    coef: FloatArray
    intercept: FloatArray
    calibration: str | None  # "sigmoid" or None
    calib_a: FloatArray
    calib_b: FloatArray
    extra: dict[str, Any]
    scope: ScopeHead | None = None

    @property
    def n_features(self) -> int:
        return sum(len(v) for v in self.vocabularies)

    def to_bytes(self) -> bytes:
        """Serialise to the ``.npz`` bytes of the portable format (deterministic)."""
        arrays: dict[str, np.ndarray] = {
            "coef": np.ascontiguousarray(self.coef, dtype=np.float64),
            "intercept": np.ascontiguousarray(self.intercept, dtype=np.float64),
            "calib_a": np.ascontiguousarray(self.calib_a, dtype=np.float64),
            "calib_b": np.ascontiguousarray(self.calib_b, dtype=np.float64),
        }
        for i, (vocab, idf) in enumerate(zip(self.vocabularies, self.idfs)):
            if isinstance(vocab, Terms):
                joined = vocab.text
            elif any("\n" in term for term in vocab):
                raise ValueError("a vocabulary term contains a newline; the portable format cannot store it")
            else:
                joined = "\n".join(vocab)
            arrays[f"vocab_{i}"] = _text_to_array(joined)
            arrays[f"idf_{i}"] = np.ascontiguousarray(idf, dtype=np.float64)
        scope = None
        if self.scope is not None:
            arrays["scope_coef"] = np.ascontiguousarray(self.scope.coef, dtype=np.float64)
            scope = {"intercept": self.scope.intercept, "calib_a": self.scope.calib_a,
                     "calib_b": self.scope.calib_b, "threshold": self.scope.threshold,
                     "other_label": self.scope.other_label}
        header = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "classes": list(self.classes),
            "vectorizers": [v.to_json() for v in self.vectorizers],
            "n_features": [len(v) for v in self.vocabularies],
            "calibration": self.calibration,
            "extra": self.extra,
            "scope": scope,
            "content_sha256": _content_sha256(arrays),
        }
        arrays["header"] = _text_to_array(json.dumps(header, sort_keys=True, allow_nan=False))
        # np.savez stamps zip entries with the current time; write them with a fixed one so the bytes
        # (and their sha256) depend on the model only.
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                member = io.BytesIO()
                np.lib.format.write_array(member, arrays[name], allow_pickle=False)
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, member.getvalue())
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>") -> PortableModel:
        """Read the portable format; any corruption, inconsistency or excess raises ``ModelFileError``."""
        return cls._from_arrays(_read_arrays(data, source), source)

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], source: str) -> PortableModel:
        def need(name: str) -> np.ndarray:
            if name not in arrays:
                raise ModelFileError(f"{source} lacks the array {name!r}; it is not a complete portable model.")
            return arrays[name]

        try:
            header = json.loads(_array_to_text(need("header"), source))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ModelFileError(f"{source} has an unreadable header: {exc}") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source} is not a {FORMAT_NAME} file.")
        version = header.get("format_version")
        if version not in READABLE_VERSIONS:
            raise ModelFileError(
                f"{source} has portable format version {version!r}; this marksales reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}. Upgrade marksales, or retrain the model with "
                f"`marksales train`."
            )
        if version >= 2:
            content = {k: v for k, v in arrays.items() if k != "header"}
            if header.get("content_sha256") != _content_sha256(content):
                raise ModelFileError(
                    f"{source}: the arrays do not match the checksum in the file's own header; the file was "
                    f"changed or damaged after training. Re-copy it, or retrain with `marksales train`."
                )
        classes = header.get("classes")
        if not (isinstance(classes, list) and all(isinstance(c, str) and c for c in classes)
                and len(classes) >= 2 and len(set(classes)) == len(classes)):
            raise ModelFileError(f"{source} must name two or more distinct classes, not {classes!r}")
        specs_json = header.get("vectorizers")
        declared = header.get("n_features")
        if not (isinstance(specs_json, list) and specs_json and isinstance(declared, list)
                and len(declared) == len(specs_json) and all(_is_int(n) and n >= 0 for n in declared)):
            raise ModelFileError(f"{source} must declare one non-negative vocabulary size per vectorizer")
        specs = tuple(VectorizerSpec.from_json(v) for v in specs_json)
        calibration = header.get("calibration")
        problem = layout_problem(specs, calibration if isinstance(calibration, str) else None)
        if problem:
            raise ModelFileError(f"{source} cannot be read: {problem}. marksales reads the models its trainer "
                                 f"makes; retrain with `marksales train`.")
        extra = header.get("extra") or {}
        if not isinstance(extra, dict):
            raise ModelFileError(f"{source}: the header's extra must be a JSON object")
        _check_extra(extra, source)

        vocabularies = []
        for i, (spec, n) in enumerate(zip(specs, declared)):
            try:
                text = _array_to_text(need(f"vocab_{i}"), source)
            except UnicodeDecodeError as exc:
                raise ModelFileError(f"{source}: vocabulary {spec.name!r} is not valid UTF-8") from exc
            del arrays[f"vocab_{i}"]  # its bytes are not needed once decoded
            vocab = Terms(text)
            if len(vocab) != n:  # distinctness is checked where the lookup table is built (Features)
                raise ModelFileError(
                    f"{source}: vocabulary {spec.name!r} has {len(vocab)} terms, the header declares {n}"
                )
            vocabularies.append(vocab)
        problem = layout_problem(specs, calibration, vocabularies)
        if problem:
            raise ModelFileError(f"{source} cannot be read: {problem}. Retrain with `marksales train`.")

        # Every array is checked against the sizes the vocabularies gave before anything is allocated.
        n_rows = 1 if len(classes) == 2 else len(classes)
        n_total = sum(declared)
        idfs = []
        for i, (spec, n) in enumerate(zip(specs, declared)):
            idf = _floats(need(f"idf_{i}"), (n,), f"idf of {spec.name!r}", source)
            # Smoothed idf is 1 + log((1 + n_texts) / (1 + df)): at least 1, so norms stay positive, and far
            # below 100 for any corpus, so a text's TF-IDF values and their squares stay finite.
            if idf.size and not 1.0 <= float(idf.min()) <= float(idf.max()) <= MAX_IDF:
                raise ModelFileError(f"{source}: the idf of {spec.name!r} has values outside [1, {MAX_IDF:g}], which "
                                     f"no trained model has; the file was changed. Retrain with `marksales train`.")
            idfs.append(idf)
        coef = _floats(need("coef"), (n_rows, n_total), "coef", source)
        intercept = _floats(need("intercept"), (n_rows,), "intercept", source)
        calib_a = _floats(need("calib_a"), (n_rows,), "calib_a", source)
        calib_b = _floats(need("calib_b"), (n_rows,), "calib_b", source)
        scope = None
        if version >= 2 and header.get("scope") is not None:
            scope = _scope_head(header["scope"], need("scope_coef"), n_total, tuple(classes), source)
        # Then every per-feature number goes into one table (see ``feature_table``): the model's arrays are
        # views of it, and the file's copies are dropped (for a moment this load holds both).
        table = feature_table(idfs, coef, scope.coef if scope is not None else None)
        del idfs, coef
        for name in [f"idf_{i}" for i in range(len(specs))] + ["coef"] + (["scope_coef"] if scope else []):
            del arrays[name]
        idf_views, coef, scope_coef = _table_views(table, declared, n_rows, scope is not None)
        if scope is not None and scope_coef is not None:
            scope = replace(scope, coef=scope_coef)
        return cls(
            classes=tuple(classes),
            vectorizers=specs,
            vocabularies=tuple(vocabularies),
            idfs=idf_views,
            coef=coef,
            intercept=intercept,
            calibration=calibration,
            calib_a=calib_a,
            calib_b=calib_b,
            extra=dict(extra),
            scope=scope,
        )


def read_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a model file, refusing anything but a regular file of at most ``max_bytes``.

    A symlink to ``/dev/zero``, a FIFO or a device would otherwise be read without end.
    """
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelFileError(f"{str(path)!r} is not a regular file; a model is read from regular files only.")
            if info.st_size > max_bytes:
                raise ModelFileError(f"{str(path)!r} is {info.st_size:,} bytes, more than any model "
                                     f"({max_bytes:,}); it is not a marksales model file.")
            data = f.read(info.st_size + 1)  # not max_bytes + 1: read(n) allocates n bytes up front
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {str(path)!r}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise ModelFileError(f"{str(path)!r} grew past {max_bytes:,} bytes while being read.")
    return data


def read_header(data: bytes, *, source: str = "<bytes>") -> dict[str, Any]:
    """The JSON header of a portable model alone (cheap: no vocabulary is read), with the same checks."""
    header = _read_arrays(data, source, only="header").get("header")
    if header is None:
        raise ModelFileError(f"{source} lacks the array 'header'; it is not a complete portable model.")
    try:
        parsed = json.loads(_array_to_text(header, source))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{source} has an unreadable header: {exc}") from exc
    if not isinstance(parsed, dict) or parsed.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{source} is not a {FORMAT_NAME} file.")
    classes = parsed.get("classes")
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)):
        raise ModelFileError(f"{source} must name two or more classes, not {classes!r}")
    return parsed


def _read_arrays(data: bytes, source: str, only: str | None = None) -> dict[str, np.ndarray]:
    """The ``.npy`` members of a zip (or just ``only``), each checked for size, ratio and shape first."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ModelFileError(f"{source} is not a readable portable model: it is not an .npz (zip) file "
                             f"({exc}).") from exc
    arrays: dict[str, np.ndarray] = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > 64:
            raise ModelFileError(f"{source} has {len(infos)} members; a portable model has a dozen.")
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else ""
            if not _known_member(name) or name in arrays:
                raise ModelFileError(f"{source} holds an unexpected member {info.filename!r}; not a marksales model.")
            if only is not None and name != only:
                continue
            limit = max(1024, info.compress_size * MAX_MEMBER_RATIO)
            if info.file_size > limit or info.file_size > MAX_FILE_BYTES:
                raise ModelFileError(f"{source}: member {info.filename!r} claims {info.file_size:,} bytes from "
                                     f"{info.compress_size:,} packed; refused as a decompression bomb.")
            try:
                with zf.open(info) as member:
                    arrays[name] = _read_npy(member, info.file_size, f"{source}: {info.filename}")
            except ModelFileError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                raise ModelFileError(f"{source} is not a readable portable model: it is corrupt or truncated "
                                     f"({exc}).") from exc
    return arrays


def _known_member(name: str) -> bool:
    if name in ("header", "coef", "intercept", "calib_a", "calib_b", "scope_coef"):
        return True
    kind, _, index = name.partition("_")
    return kind in ("vocab", "idf") and index.isdigit() and len(index) <= 2


def _read_npy(member: Any, size: int, where: str) -> np.ndarray:
    """One ``.npy`` array whose header must declare a plain 1-d or 2-d uint8 / float64 array of ``size``."""
    version = np.lib.format.read_magic(member)
    if version != (1, 0):  # what write_array writes; its header length is a uint16, so bounded
        raise ModelFileError(f"{where}: unsupported .npy version {version}")
    shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    if dtype not in (np.dtype(np.uint8), np.dtype("<f8")) or fortran or len(shape) > 2:
        raise ModelFileError(f"{where}: holds {dtype} with shape {shape}; expected a plain uint8 or float64 array")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if nbytes > size:
        raise ModelFileError(f"{where}: declares shape {shape} ({nbytes:,} bytes) in a {size:,}-byte member")
    raw = member.read(nbytes + 1)
    if len(raw) != nbytes:
        raise ModelFileError(f"{where}: holds {len(raw):,} data bytes, its header declares {nbytes:,}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _content_sha256(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}\n".encode())
        h.update(a.data.cast("B"))  # the bytes in place, not a copy
    return h.hexdigest()


def _scope_head(d: Any, coef: np.ndarray, n_total: int, classes: tuple[str, ...], source: str) -> ScopeHead:
    if not isinstance(d, dict):
        raise ModelFileError(f"{source}: the scope settings must be a JSON object")
    values = {k: _finite(d.get(k), f"scope {k}", source) for k in ("intercept", "calib_a", "calib_b", "threshold")}
    if not 0.0 <= values["threshold"] <= 1.0:
        raise ModelFileError(f"{source}: the scope threshold must lie in [0, 1], not {values['threshold']!r}")
    other = d.get("other_label")
    if not isinstance(other, str) or not other or other in classes:
        raise ModelFileError(f"{source}: the scope head's other_label must be a label that is not a class")
    return ScopeHead(_floats(coef, (n_total,), "scope_coef", source), values["intercept"], values["calib_a"],
                     values["calib_b"], values["threshold"], other)


def check_no_signal_threshold(fields: dict[str, Any], source: str) -> None:
    """``fields["no_signal_threshold"]``, when present, must be a finite number >= 0 (npz header or model.json)."""
    if "no_signal_threshold" in fields:
        value = _finite(fields["no_signal_threshold"], "no_signal_threshold", source)
        if value < 0:
            raise ModelFileError(f"{source}: no_signal_threshold must be >= 0, not {value!r}")


def _check_extra(extra: dict[str, Any], source: str) -> None:
    check_no_signal_threshold(extra, source)
    stop = extra.get("evidence_stop_words", [])
    if not (isinstance(stop, list) and all(isinstance(w, str) for w in stop)):
        raise ModelFileError(f"{source}: evidence_stop_words must be a list of strings")


def _finite(value: Any, what: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelFileError(f"{source}: {what} must be a finite number, not {value!r}")
    return float(value)


def _floats(arr: np.ndarray, shape: tuple[int, ...], what: str, source: str) -> FloatArray:
    if arr.dtype != np.float64 or arr.shape != shape:
        raise ModelFileError(f"{source}: {what} has {arr.dtype} with shape {arr.shape}, expected float64 {shape}; "
                             f"the file is inconsistent.")
    if not np.all(np.isfinite(arr)):
        raise ModelFileError(f"{source}: {what} holds non-finite values")
    return arr


def _field(d: dict[str, Any], key: str, kind: type) -> Any:
    value = d.get(key)
    if not isinstance(value, kind):
        raise ModelFileError(f"vectorizer setting {key!r} must be {kind.__name__}, not {value!r}")
    return value


def _choice(d: dict[str, Any], key: str, allowed: tuple[Any, ...]) -> Any:
    value = d.get(key)
    if value not in allowed or isinstance(value, bool):
        raise ModelFileError(f"vectorizer setting {key!r} must be one of {list(allowed)}, not {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_to_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _array_to_text(arr: np.ndarray, source: str = "model") -> str:
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ModelFileError(f"{source}: expected a 1-d uint8 text array, found {arr.dtype} with shape {arr.shape}")
    return str(arr.data, "utf-8")  # decoded in place, not copied first
