"""Inference over the portable form (``_format.PortableModel``): features, decisions, probabilities.

Numpy and the standard library only: this module never imports scikit-learn or pickle
(``_train.to_portable`` is the one function that reads a fitted Pipeline).

The arithmetic reproduces scikit-learn's ``TfidfVectorizer`` (``word`` and ``char_wb`` analyzers),
``FeatureUnion``, ``LogisticRegression.decision_function`` and ``CalibratedClassifierCV`` with
``method="sigmoid"``, so probabilities agree with ``Pipeline.predict_proba`` to rounding error.
"""

from __future__ import annotations

import array
import bisect
import itertools
import math
import operator
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._errors import ModelFileError
from ._format import PortableModel, VectorizerSpec

# Words whose analysis is cached; a posting file has far fewer distinct words than this.
_WORD_CACHE_LIMIT = 50_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
_EMPTY_INDEX: IntArray = np.zeros(0, dtype=np.intp)
_NO_FOLLOWERS: dict[str, int] = {}
_ONES = np.ones(4096)


def sigmoid_calibrated(a: float, b: float, d: float) -> float:
    """Platt's calibrated probability ``1 / (1 + exp(a * d + b))`` of one decision value ``d``, as
    scikit-learn's sigmoid calibrator computes it (for ``a * d + b`` beyond 700 exp() would overflow, and
    the probability is 0 anyway)."""
    z = a * d + b
    return 1.0 / (1.0 + math.exp(z)) if z < 700.0 else 0.0


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
        # Every head's coefficients, one contiguous vector each: the lean's decision columns (one for two
        # classes, as in scikit-learn), then the scope head's when the model has one. A text's normalised
        # TF-IDF vector is built once; each head is then one 1-d gather and one dot product (a gather of
        # rows from an (n_features, n_heads) matrix cost more than both).
        rows = [*model.coef] + ([model.scope.coef] if model.scope is not None else [])
        self._heads = tuple(np.ascontiguousarray(r) for r in rows)
        self._intercepts = np.concatenate(
            [model.intercept] + ([[model.scope.intercept]] if model.scope is not None else [])
        )
        self.n_lean = model.coef.shape[0]
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

    def decisions(self, text: str) -> tuple[FloatArray, float]:
        """Every head's decision value for ``text`` (the lean's columns, then the scope head's), and its evidence.

        The one scoring path: ``Model.classify``, ``predict_proba`` and ``relevance`` all come through
        here. For the trainer's settings (every block sublinear and l2-normed) the TF-IDF values are
        ``1 + log(count)`` times idf, each block divided by its norm, built in place.
        ``tests/test_portable.py`` fences it against the scikit-learn Pipeline to 1e-9 on 10,000 texts.
        """
        idx, counts, total = self.counts(text)
        if total == 0:
            return self._intercepts.copy(), 0.0
        if not self._uniform_sublinear or total >= self._log_tf.size:
            v = self._values(idx, counts, total)
        else:
            v = self._log_tf[counts] * self._idf[idx]
            k = int(idx.searchsorted(self._split)) if self._two_blocks else 0
            if 0 < k < idx.size:
                v1, v2 = v[:k], v[k:]  # views: scaled in place
                v1 *= 1.0 / math.sqrt(v1.dot(v1))
                v2 *= 1.0 / math.sqrt(v2.dot(v2))
            else:  # one block present (idf and 1 + log(count) are positive, so the norm is too)
                v *= 1.0 / math.sqrt(v.dot(v))
        d = self._intercepts.copy()
        for h, coef in enumerate(self._heads):
            d[h] += coef[idx].dot(v)
        return d, self.evidence_of(idx)

    # ---------------------------------------------------------------- decisions

    def decision(self, text: str) -> FloatArray:
        """The lean regression's decision function for one text: shape (n_rows,)."""
        return self.decisions(text)[0][: self.n_lean]

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
        d = np.empty((len(texts), self.n_lean))
        for k, text in enumerate(texts):
            d[k] = self.decisions(text)[0][: self.n_lean]
        return self.proba_from_decision(d)

    def relevance_from_decision(self, s: float) -> float:
        """The scope head's calibrated probability that the text is in scope, from its decision value."""
        scope = self.model.scope
        assert scope is not None
        return sigmoid_calibrated(scope.calib_a, scope.calib_b, s)

    def contributions(self, text: str) -> tuple[IntArray, FloatArray]:
        """Per-feature contribution to each class: indices and an array (n_features_present, n_classes [+ 1]).

        For two classes the single decision column counts for the second class and against the first;
        for more, each class's row is centred on the mean of all rows, so a positive value pushes
        toward that class relative to the others. A model with a scope head gets one more column: the
        feature's push toward in scope (positive) or out of scope (negative).
        """
        idx, values = self.tfidf(text)
        coef = self.model.coef[:, idx] * values  # (n_rows, n_present)
        if coef.shape[0] == 1:
            per_class = np.vstack([-coef[0], coef[0]])
        else:
            per_class = coef - coef.mean(axis=0, keepdims=True)
        if self.model.scope is not None:
            per_class = np.vstack([per_class, self.model.scope.coef[idx] * values])
        return idx, per_class.T

    def _block_of(self, j: int) -> int:
        return int(np.searchsorted(self._offsets, j, side="right") - 1)

    def feature_name(self, j: int) -> tuple[str, str]:
        """The vectorizer name and the term of global feature ``j``."""
        i = self._block_of(j)
        return self.model.vectorizers[i].name, self.model.vocabularies[i][j - int(self._offsets[i])]

    def analyzer_of(self, j: int) -> str:
        return self.model.vectorizers[self._block_of(j)].analyzer
