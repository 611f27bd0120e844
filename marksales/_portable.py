"""The portable model form: a fitted TF-IDF + logistic-regression model as plain arrays.

A portable model is one ``.npz`` file read with ``allow_pickle=False``: a JSON header (analyzer settings,
classes, calibration method), each vectorizer's vocabulary as newline-joined UTF-8 bytes, and float64
arrays for idf, coefficients, intercepts and the sigmoid calibrators. Loading it cannot run code, and
inference needs numpy and the standard library only: this module must never import scikit-learn or
pickle (``_train.to_portable`` is the one function that reads a fitted Pipeline).

The arithmetic reproduces scikit-learn's ``TfidfVectorizer`` (``word`` and ``char_wb`` analyzers),
``FeatureUnion``, ``LogisticRegression.decision_function`` and ``CalibratedClassifierCV`` with
``method="sigmoid"``, so probabilities agree with ``Pipeline.predict_proba`` to rounding error.
"""

from __future__ import annotations

import array
import bisect
import io
import itertools
import json
import math
import operator
import re
import sys
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._errors import ModelFileError

FORMAT_NAME = "marksales-portable"
FORMAT_VERSION = 1

_WHITE_SPACES = re.compile(r"\s\s+")
# Words whose analysis is cached; a posting file has far fewer distinct words than this.
_WORD_CACHE_LIMIT = 50_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
_EMPTY_INDEX: IntArray = np.zeros(0, dtype=np.intp)
_NO_FOLLOWERS: dict[str, int] = {}
_ONES = np.ones(4096)


def _total(values: FloatArray) -> float:
    """The sum of ``values`` (a dot product with ones for the usual short input: a third of the cost)."""
    n = values.size
    return float(values.dot(_ONES[:n])) if n <= _ONES.size else float(np.add.reduce(values))


def _strip_accents_unicode(s: str) -> str:
    # Same as sklearn.feature_extraction.text.strip_accents_unicode.
    try:
        s.encode("ASCII", errors="strict")
        return s
    except UnicodeEncodeError:
        normalized = unicodedata.normalize("NFKD", s)
        return "".join([c for c in normalized if not unicodedata.combining(c)])


def _strip_accents_ascii(s: str) -> str:
    # Same as sklearn.feature_extraction.text.strip_accents_ascii.
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


_ACCENT_FUNCTIONS = {None: None, "unicode": _strip_accents_unicode, "ascii": _strip_accents_ascii}


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
    def from_json(cls, d: dict[str, Any]) -> VectorizerSpec:
        try:
            spec = cls(
                name=str(d["name"]),
                analyzer=str(d["analyzer"]),
                ngram_range=(int(d["ngram_range"][0]), int(d["ngram_range"][1])),
                lowercase=bool(d["lowercase"]),
                strip_accents=d["strip_accents"],
                token_pattern=d["token_pattern"],
                stop_words=None if d["stop_words"] is None else tuple(d["stop_words"]),
                sublinear_tf=bool(d["sublinear_tf"]),
                use_idf=bool(d["use_idf"]),
                norm=d["norm"],
                binary=bool(d["binary"]),
            )
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ModelFileError(f"vectorizer settings are incomplete or malformed: {exc!r}") from exc
        if spec.analyzer not in ("word", "char_wb"):
            raise ModelFileError(f"analyzer must be 'word' or 'char_wb', not {spec.analyzer!r}")
        if spec.strip_accents not in _ACCENT_FUNCTIONS:
            raise ModelFileError(f"strip_accents must be None, 'unicode' or 'ascii', not {spec.strip_accents!r}")
        if spec.norm not in (None, "l2"):
            raise ModelFileError(f"norm must be None or 'l2', not {spec.norm!r}")
        lo, hi = spec.ngram_range
        if not 1 <= lo <= hi:
            raise ModelFileError(f"ngram_range must satisfy 1 <= min <= max, not {spec.ngram_range}")
        if spec.analyzer == "word" and not spec.token_pattern:
            raise ModelFileError("a word analyzer needs a token_pattern")
        return spec


@dataclass(frozen=True)
class PortableModel:
    """A fitted binary or multi-class TF-IDF + logistic-regression model, as arrays.

    ``coef`` has one row per decision-function column (one row for two classes, as in scikit-learn),
    columns in the order of the concatenated vectorizer vocabularies.
    """

    classes: tuple[str, ...]
    vectorizers: tuple[VectorizerSpec, ...]
    vocabularies: tuple[tuple[str, ...], ...]
    idfs: tuple[FloatArray, ...]
    coef: FloatArray
    intercept: FloatArray
    calibration: str | None  # "sigmoid" or None
    calib_a: FloatArray
    calib_b: FloatArray
    extra: dict[str, Any]

    # ---------------------------------------------------------------- file format

    def to_bytes(self) -> bytes:
        """Serialise to the ``.npz`` bytes of the portable format (deterministic)."""
        header = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "classes": list(self.classes),
            "vectorizers": [v.to_json() for v in self.vectorizers],
            "n_features": [len(v) for v in self.vocabularies],
            "calibration": self.calibration,
            "extra": self.extra,
        }
        arrays: dict[str, np.ndarray] = {
            "header": _text_to_array(json.dumps(header, sort_keys=True)),
            "coef": np.ascontiguousarray(self.coef, dtype=np.float64),
            "intercept": np.ascontiguousarray(self.intercept, dtype=np.float64),
            "calib_a": np.ascontiguousarray(self.calib_a, dtype=np.float64),
            "calib_b": np.ascontiguousarray(self.calib_b, dtype=np.float64),
        }
        for i, (vocab, idf) in enumerate(zip(self.vocabularies, self.idfs)):
            if any("\n" in term for term in vocab):
                raise ValueError("a vocabulary term contains a newline; the portable format cannot store it")
            arrays[f"vocab_{i}"] = _text_to_array("\n".join(vocab))
            arrays[f"idf_{i}"] = np.ascontiguousarray(idf, dtype=np.float64)
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
        """Read the portable format; any corruption or inconsistency raises ``ModelFileError``."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except ValueError as exc:
            # numpy says "allow_pickle=False" when an entry would need unpickling: never allowed here.
            raise ModelFileError(f"{source} is not a readable portable model ({exc}).") from exc
        except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise ModelFileError(
                f"{source} is not a readable portable model: it is corrupt or truncated ({exc})."
            ) from exc
        return cls._from_arrays(arrays, source)

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], source: str) -> PortableModel:
        def need(name: str) -> np.ndarray:
            if name not in arrays:
                raise ModelFileError(f"{source} lacks the array {name!r}; it is not a complete portable model.")
            return arrays[name]

        try:
            header = json.loads(_array_to_text(need("header")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{source} has an unreadable header: {exc}") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source} is not a {FORMAT_NAME} file.")
        version = header.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelFileError(
                f"{source} has portable format version {version!r}; this marksales reads version "
                f"{FORMAT_VERSION}. Upgrade marksales, or retrain the model with `marksales train`."
            )
        try:
            classes = tuple(str(c) for c in header["classes"])
            specs = tuple(VectorizerSpec.from_json(v) for v in header["vectorizers"])
            declared = [int(n) for n in header["n_features"]]
            calibration = header["calibration"]
            extra = dict(header.get("extra") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source} has an incomplete header: {exc!r}") from exc
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ModelFileError(f"{source} must name two or more distinct classes, not {list(classes)}")
        if calibration not in (None, "sigmoid"):
            raise ModelFileError(f"{source} has unknown calibration {calibration!r}")
        if not specs or len(declared) != len(specs):
            raise ModelFileError(f"{source} declares {len(declared)} vocabularies for {len(specs)} vectorizers")

        vocabularies = []
        idfs = []
        for i, (spec, n) in enumerate(zip(specs, declared)):
            try:
                text = _array_to_text(need(f"vocab_{i}"))
            except UnicodeDecodeError as exc:
                raise ModelFileError(f"{source}: vocabulary {spec.name!r} is not valid UTF-8") from exc
            vocab = tuple(text.split("\n")) if text else ()
            idf = np.asarray(need(f"idf_{i}"), dtype=np.float64)
            if len(vocab) != n:  # distinctness is checked where the lookup table is built (Scorer)
                raise ModelFileError(
                    f"{source}: vocabulary {spec.name!r} has {len(vocab)} terms, the header declares {n}"
                )
            if idf.shape != (n,):
                raise ModelFileError(f"{source}: idf of {spec.name!r} has shape {idf.shape}, expected ({n},)")
            vocabularies.append(vocab)
            idfs.append(idf)

        n_rows = 1 if len(classes) == 2 else len(classes)
        n_total = sum(declared)
        coef = np.asarray(need("coef"), dtype=np.float64)
        intercept = np.asarray(need("intercept"), dtype=np.float64)
        calib_a = np.asarray(need("calib_a"), dtype=np.float64)
        calib_b = np.asarray(need("calib_b"), dtype=np.float64)
        expected = {
            "coef": (coef, (n_rows, n_total)),
            "intercept": (intercept, (n_rows,)),
            "calib_a": (calib_a, (n_rows,) if calibration else (0,)),
            "calib_b": (calib_b, (n_rows,) if calibration else (0,)),
        }
        for name, (arr, shape) in expected.items():
            if arr.shape != shape:
                raise ModelFileError(
                    f"{source}: {name} has shape {arr.shape}, expected {shape} "
                    f"({len(classes)} classes, {n_total} features); the file is inconsistent."
                )
        for name, arr in [("coef", coef), ("intercept", intercept), ("calib_a", calib_a), ("calib_b", calib_b)]:
            if not np.all(np.isfinite(arr)):
                raise ModelFileError(f"{source}: {name} holds non-finite values")
        if not all(np.all(np.isfinite(idf)) for idf in idfs):
            raise ModelFileError(f"{source}: an idf vector holds non-finite values")
        return cls(
            classes=classes,
            vectorizers=specs,
            vocabularies=tuple(vocabularies),
            idfs=tuple(idfs),
            coef=coef,
            intercept=intercept,
            calibration=calibration,
            calib_a=calib_a,
            calib_b=calib_b,
            extra=extra,
        )


def _text_to_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _array_to_text(arr: np.ndarray) -> str:
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ModelFileError(f"expected a 1-d uint8 text array, found {arr.dtype} with shape {arr.shape}")
    return arr.tobytes().decode("utf-8")


class Scorer:
    """Inference over a ``PortableModel``: features, decision function, calibrated probabilities.

    Thread-safe: the only mutable state is a word cache whose entries are immutable and whose
    updates are single dict operations.
    """

    def __init__(self, model: PortableModel, evidence_weights: FloatArray | None = None) -> None:
        self.model = model
        specs = model.vectorizers
        first = specs[0]
        if any((s.lowercase, s.strip_accents) != (first.lowercase, first.strip_accents) for s in specs):
            raise ModelFileError("all vectorizers of a portable model must share lowercase and strip_accents")
        self._lowercase = first.lowercase
        self._accents = _ACCENT_FUNCTIONS[first.strip_accents]
        self._word_specs: list[tuple[int, VectorizerSpec]] = []
        self._char_specs: list[tuple[int, VectorizerSpec]] = []
        self._vocab: list[dict[str, int]] = []
        offsets = []
        offset = 0
        for i, (spec, vocab) in enumerate(zip(specs, model.vocabularies)):
            offsets.append(offset)
            table = dict(zip(vocab, range(offset, offset + len(vocab))))
            if len(table) != len(vocab):
                raise ModelFileError(f"vocabulary {spec.name!r} repeats terms; the model file is inconsistent")
            self._vocab.append(table)
            offset += len(vocab)
            (self._word_specs if spec.analyzer == "word" else self._char_specs).append((i, spec))
        self._offsets = np.array(offsets + [offset], dtype=np.intp)
        self.n_features = offset
        # Per-feature idf over all blocks; each block is l2-normed on its own (offsets mark the blocks).
        self._idf = np.concatenate(
            [idf if spec.use_idf else np.ones_like(idf) for spec, idf in zip(specs, model.idfs)]
        )
        self._normed = [s.norm == "l2" for s in specs]
        self._sublinear = [s.sublinear_tf for s in specs]
        self._binary = [s.binary for s in specs]
        self._token_res = {i: re.compile(spec.token_pattern or "") for i, spec in self._word_specs}
        self._stop = {i: frozenset(spec.stop_words or ()) for i, spec in self._word_specs}
        # (n_features, n_rows) for gathering rows of present features; two-class models use _coef0 instead
        self._coef_t = np.ascontiguousarray(model.coef.T) if model.coef.shape[0] > 1 else model.coef.T
        self._coef0 = np.ascontiguousarray(model.coef[0]) if model.coef.shape[0] == 1 else None
        self._intercept0 = float(model.intercept[0])
        self._uniform_sublinear = len(specs) <= 2 and all(
            s.sublinear_tf and not s.binary and s.norm == "l2" for s in specs
        )
        self._two_blocks = len(specs) == 2
        self._split = int(offsets[1]) if len(specs) == 2 else 0
        self._log_tf = np.log(np.maximum(np.arange(4096), 1)) + 1.0
        # The usual layout: one word vectorizer of unigrams and/or bigrams with a sorted vocabulary (as
        # scikit-learn sorts it). Its word pairs are then found through each word's followers (the bigrams
        # its last token starts, a range of the sorted vocabulary), so a text costs one dict lookup per
        # pair of neighbouring words; ``_cache`` entries are (indices, first token, followers dict).
        self._pairwise: tuple[int, VectorizerSpec] | None = None
        if len(self._word_specs) == 1 and self._word_specs[0][1].ngram_range[1] <= 2:
            words_vocab = model.vocabularies[self._word_specs[0][0]]
            if all(map(operator.lt, words_vocab, itertools.islice(words_vocab, 1, None))):
                self._pairwise = self._word_specs[0]
        self._pairwise_bigrams = self._pairwise is not None and self._pairwise[1].ngram_range[1] == 2
        self._followers: dict[str, dict[str, int]] = {}
        # Per feature, what its presence adds to a text's evidence (the Model decides; zero by default).
        # When only the first features carry weight (word features come first), sums stop there.
        self._evidence_w = np.zeros(offset) if evidence_weights is None else np.asarray(evidence_weights, float)
        if self._evidence_w.shape != (offset,):
            raise ValueError(f"evidence_weights must have one value per feature ({offset}), "
                             f"not shape {self._evidence_w.shape}")
        weighted = np.flatnonzero(self._evidence_w)
        ends = [int(e) for e in self._offsets[1:] if weighted.size == 0 or e > weighted[-1]]
        self._evidence_end: int | None = ends[0] if ends else None
        self._cache: dict[str, Any] = {}

    # ---------------------------------------------------------------- features

    def preprocess(self, text: str) -> str:
        if self._lowercase:
            text = text.lower()
        if self._accents is not None:
            text = self._accents(text)
        return text

    def _analyze_word(self, word: str) -> tuple[IntArray, tuple[tuple[str, ...], ...]]:
        """Features that depend on one whitespace-separated word alone.

        Returns the feature indices it contributes (char n-grams of every char_wb vectorizer, unigrams of
        every word vectorizer whose n-grams start at 1), with repeats for counts, and per word vectorizer
        the tokens it adds to the document's token stream (after stop-word removal).
        """
        found: list[int] = []
        tokens_per_spec: list[tuple[str, ...]] = []
        w = " " + word + " "
        w_len = len(w)
        for i, spec in self._char_specs:
            lo, hi = spec.ngram_range
            grams: list[str] = []
            for n in range(lo, hi + 1):
                # sklearn's _char_wb_ngrams: a word no longer than n is counted once, whole, and ends the loop
                if w_len <= n:
                    grams.append(w)
                    break
                grams.extend([w[k : k + n] for k in range(w_len - n + 1)])
            found.extend([j for j in map(self._vocab[i].get, grams) if j is not None])
        for i, spec in self._word_specs:
            stop = self._stop[i]
            tokens = tuple(t for t in self._token_res[i].findall(word) if t not in stop)
            tokens_per_spec.append(tokens)
            if spec.ngram_range[0] == 1:
                vocab = self._vocab[i]
                for t in tokens:
                    j = vocab.get(t)
                    if j is not None:
                        found.append(j)
        return np.array(found, dtype=np.intp), tuple(tokens_per_spec)

    def _followers_of(self, token: str) -> dict[str, int]:
        """The bigrams that start with ``token``: second token -> feature index (pairwise layout)."""
        hit = self._followers.get(token)
        if hit is None:
            assert self._pairwise is not None
            i = self._pairwise[0]
            vocab = self.model.vocabularies[i]
            # In sorted order the terms "token <anything>" lie between "token " and "token!" (the next character)
            lo = bisect.bisect_left(vocab, token + " ")
            hi = bisect.bisect_left(vocab, token + "!", lo)
            offset = int(self._offsets[i])
            second = operator.itemgetter(slice(len(token) + 1, None))
            # interned keys: a text's first tokens are interned too, so a hit compares pointers, not text
            hit = dict(zip(map(sys.intern, map(second, vocab[lo:hi])), range(offset + lo, offset + hi)))
            if hit:  # bounded by the vocabulary; tokens without bigrams share _NO_FOLLOWERS
                self._followers[token] = hit
            else:
                hit = _NO_FOLLOWERS
        return hit

    def _analyze_word_pairwise(self, word: str) -> tuple[bytes, str | None, dict[str, int] | None]:
        """``_analyze_word`` for the pairwise layout: the word's own features (char n-grams, unigrams and
        the bigrams inside it, as in "b2b/b2c") as int64 bytes, its first token (interned) and its last
        token's followers. Bytes, not arrays: a text's words are joined with one ``bytearray().join``,
        several times faster than concatenating small arrays, and each entry is one compact object."""
        assert self._pairwise is not None
        i, spec = self._pairwise
        found, (tokens,) = self._analyze_word(word)
        own = found.astype(np.int64).tobytes()
        lo, hi = spec.ngram_range
        if not tokens:
            return own, None, None
        if hi < 2:
            return own, tokens[0], None
        if len(tokens) > 1:
            inside = [j for j in map(self._vocab[i].get, map(" ".join, zip(tokens, tokens[1:]))) if j is not None]
            own += array.array("q", inside).tobytes()
        return own, sys.intern(tokens[0]), self._followers_of(tokens[-1])

    def _word_features(self, word: str) -> Any:
        hit = self._cache.get(word)
        if hit is None:
            hit = self._analyze_word(word) if self._pairwise is None else self._analyze_word_pairwise(word)
            if len(self._cache) >= _WORD_CACHE_LIMIT:
                self._cache.clear()  # a bounded cache; one dict operation, safe beside readers in other threads
            self._cache[word] = hit
        return hit

    def words(self, text: str) -> list[str]:
        """The whitespace-separated words of the preprocessed text (char_wb's and the word cache's unit)."""
        # char_wb collapses runs of white space before splitting; str.split() alone gives the same words.
        return self.preprocess(text).split()

    def term_indices(self, text: str) -> IntArray:
        """All feature occurrences of ``text`` (indices with repeats), as the vectorizers would count them."""
        if self._lowercase:  # preprocess(), inlined: this is the hot path
            text = text.lower()
        words = (self._accents(text) if self._accents is not None else text).split()
        if not words:
            return _EMPTY_INDEX
        cache_get = self._cache.get
        if self._pairwise is not None:
            hits: list[Any] = list(map(cache_get, words))
            if None in hits:
                hits = [h or self._word_features(w) for h, w in zip(hits, words)]
            parts = [h[0] for h in hits]
            if self._pairwise_bigrams:
                linked = [h for h in hits if h[1] is not None]  # words with tokens, in order
                follows = dict.get  # (followers of a word's last token, next word's first token)
                found = [j for a, b in zip(linked, linked[1:]) if (j := follows(a[2], b[1])) is not None]
                if found:
                    parts.append(array.array("q", found).tobytes())
            # a fresh, writable array (callers sort it in place)
            return np.frombuffer(bytearray().join(parts), dtype=np.int64)
        parts = []
        if len(self._word_specs) == 1:
            # The usual model: one word vectorizer, so one token stream.
            stream: list[str] = []
            for word in words:
                hit = cache_get(word) or self._word_features(word)
                parts.append(hit[0])
                stream += hit[1][0]
            streams = [stream]
        else:
            streams = [[] for _ in self._word_specs]
            for word in words:
                hit = cache_get(word) or self._word_features(word)
                parts.append(hit[0])
                for st, toks in zip(streams, hit[1]):
                    st += toks
        for (i, spec), stream in zip(self._word_specs, streams):
            lo, hi = spec.ngram_range
            get = self._vocab[i].get
            # Unigrams came from the word cache when lo == 1; here the n-grams that span words.
            for n in range(max(lo, 2), min(hi, len(stream)) + 1):
                grams = map(" ".join, zip(*(stream[k:] for k in range(n))))
                found = [j for j in map(get, grams) if j is not None]
                if found:
                    parts.append(np.array(found, dtype=np.intp))
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def counts(self, text: str) -> tuple[IntArray, IntArray, int]:
        """The text's distinct feature indices (sorted), how often each occurs, and the total."""
        occ = self.term_indices(text)  # a fresh array: sorting it in place is safe
        occ.sort()
        n = occ.size
        if n == 0:
            return _EMPTY_INDEX, _EMPTY_INDEX, 0
        flag = np.empty(n + 1, dtype=bool)
        flag[0] = flag[n] = True
        np.not_equal(occ[1:], occ[:-1], out=flag[1:n])
        bounds = flag.nonzero()[0]
        starts = bounds[:-1]
        return occ[starts], bounds[1:] - starts, n

    def _tf(self, counts: IntArray, block: int, total: int) -> FloatArray:
        if self._binary[block]:
            return np.ones(counts.size)
        if self._sublinear[block]:
            # 1 + log(count), from a table when no count can exceed it (the usual case)
            return self._log_tf[counts] if total < self._log_tf.size else np.log(counts) + 1.0
        return counts.astype(np.float64)

    def tfidf(self, text: str) -> tuple[IntArray, FloatArray]:
        """The text's non-zero TF-IDF features: sorted feature indices and their values."""
        idx, counts, total = self.counts(text)
        return idx, self._values(idx, counts, total)

    def _values(self, idx: IntArray, counts: IntArray, total: int) -> FloatArray:
        """TF-IDF values of the distinct features ``idx`` occurring ``counts`` times, l2-normed per block."""
        if idx.size == 0:
            return np.zeros(0)
        values = np.empty(idx.size)
        cuts = [0, *idx.searchsorted(self._offsets[1:-1]).tolist(), idx.size]
        for b in range(len(cuts) - 1):
            lo, hi = cuts[b], cuts[b + 1]
            if lo == hi:
                continue
            v = self._tf(counts[lo:hi], b, total) * self._idf[idx[lo:hi]]
            if self._normed[b]:
                norm = math.sqrt(v.dot(v))
                if norm > 0:
                    v /= norm
            values[lo:hi] = v
        return values

    def evidence_of(self, idx: IntArray) -> float:
        """The summed evidence weights of the distinct features ``idx`` (sorted), 0.0 for none."""
        if self._evidence_end is not None:
            # the weighted features are the first ones: sum over the prefix of idx that falls among them
            idx = idx[: int(idx.searchsorted(self._evidence_end))]
        return _total(self._evidence_w[idx])

    def binary_score(self, text: str) -> tuple[float, float]:
        """The decision value of a one-row (two-class) model for ``text``, and the text's evidence.

        The hot path of ``classify``: the same arithmetic as ``tfidf`` followed by a dot product with
        the coefficients, without building the normalised vector.
        """
        idx, counts, total = self.counts(text)
        if total == 0:
            return self._intercept0, 0.0
        if not self._uniform_sublinear or total >= self._log_tf.size:
            values = self._values(idx, counts, total)
            return float(self._coef0[idx].dot(values)) + self._intercept0, self.evidence_of(idx)  # type: ignore[index]
        # Every block sublinear and l2-normed (the shipped settings): per block, sum(c*v) / sqrt(sum(v*v)).
        v = self._log_tf[counts] * self._idf[idx]
        c = self._coef0[idx]  # type: ignore[index]
        if self._two_blocks:
            k = int(idx.searchsorted(self._split))
            if 0 < k < idx.size:
                v1, v2 = v[:k], v[k:]
                d = float(c[:k].dot(v1)) / math.sqrt(v1.dot(v1)) + float(c[k:].dot(v2)) / math.sqrt(v2.dot(v2))
                return self._intercept0 + d, self.evidence_of(idx)
        # one block present (idf and 1 + log(count) are positive, so the norm is too)
        return self._intercept0 + float(c.dot(v)) / math.sqrt(v.dot(v)), self.evidence_of(idx)

    # ---------------------------------------------------------------- decisions

    def decision(self, text: str) -> FloatArray:
        """The logistic regression's decision function for one text: shape (n_rows,)."""
        idx, values = self.tfidf(text)
        if self._coef0 is not None:
            return np.array([np.dot(self._coef0[idx], values)]) + self.model.intercept
        return values @ self._coef_t[idx] + self.model.intercept

    def proba_from_decision(self, d: FloatArray) -> FloatArray:
        """Calibrated class probabilities from decision values, shape (n, n_classes)."""
        d = np.atleast_2d(d)
        n_classes = len(self.model.classes)
        if self.model.calibration == "sigmoid":
            p = 1.0 / (1.0 + np.exp(self.model.calib_a * d + self.model.calib_b))
            if n_classes == 2:
                out = np.empty((d.shape[0], 2))
                out[:, 1] = p[:, 0]
                out[:, 0] = 1.0 - p[:, 0]
            else:
                denom = p.sum(axis=1, keepdims=True)
                out = np.divide(p, denom, out=np.full_like(p, 1.0 / n_classes), where=denom != 0)
            out[(out > 1.0) & (out <= 1.0 + 1e-5)] = 1.0
            return out
        if n_classes == 2:
            p1 = 1.0 / (1.0 + np.exp(-d[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        e = np.exp(d - d.max(axis=1, keepdims=True))
        soft: FloatArray = e / e.sum(axis=1, keepdims=True)
        return soft

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """Probabilities for many texts, shape (len(texts), n_classes), classes as in ``model.classes``."""
        n_rows = self.model.coef.shape[0]
        d = np.empty((len(texts), n_rows))
        for k, text in enumerate(texts):
            d[k] = self.decision(text)
        return self.proba_from_decision(d)

    def contributions(self, text: str) -> tuple[IntArray, FloatArray]:
        """Per-feature contribution to each class: indices and an array (n_features_present, n_classes).

        For two classes the single decision column counts for the second class and against the first;
        for more, each class's row is centred on the mean of all rows, so a positive value pushes
        toward that class relative to the others.
        """
        idx, values = self.tfidf(text)
        coef = self.model.coef[:, idx] * values  # (n_rows, n_present)
        if coef.shape[0] == 1:
            per_class = np.vstack([-coef[0], coef[0]])
        else:
            per_class = coef - coef.mean(axis=0, keepdims=True)
        return idx, per_class.T

    def _block_of(self, j: int) -> int:
        return int(np.searchsorted(self._offsets, j, side="right") - 1)

    def feature_name(self, j: int) -> tuple[str, str]:
        """The vectorizer name and the term of global feature ``j``."""
        i = self._block_of(j)
        return self.model.vectorizers[i].name, self.model.vocabularies[i][j - int(self._offsets[i])]

    def analyzer_of(self, j: int) -> str:
        return self.model.vectorizers[self._block_of(j)].analyzer
