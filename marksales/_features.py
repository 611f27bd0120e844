"""Text to feature occurrences, as the model's ``TfidfVectorizer``s count them.

The one layout the trainer makes (``_format.layout_problem`` refuses any other): a word vectorizer of
unigrams or unigrams and bigrams (scikit-learn's token pattern, no stop words, a sorted vocabulary),
optionally followed by a ``char_wb`` vectorizer. Numpy and the standard library only.

The fast path, fenced against the scikit-learn Pipeline to 1e-9 on 10,000 texts by
``tests/test_portable.py::test_portable_equals_pipeline_on_ten_thousand_texts``: a text is split into
whitespace-separated words (the unit of ``char_wb``); each distinct word's own features (its character
n-grams, its tokens' unigrams, the bigrams inside it, as in "b2b/b2c") are analysed once and cached; the
bigrams that span two words are found through the followers of the first word's last token (the bigrams
it starts: a range of the sorted vocabulary), so a text costs one cache lookup per word and one dict
lookup per pair of neighbouring words.
"""

from __future__ import annotations

import array
import bisect
import operator
import re
import sys
import unicodedata
from typing import Any

import numpy as np
import numpy.typing as npt

from ._errors import ModelFileError
from ._format import PortableModel

# Words whose analysis is cached; a posting file has far fewer distinct words than this.
WORD_CACHE_LIMIT = 50_000

IntArray = npt.NDArray[np.intp]
_EMPTY_INDEX: IntArray = np.zeros(0, dtype=np.intp)
_NO_FOLLOWERS: dict[str, int] = {}

# A word's cache entry: its own feature indices as int64 bytes (a text's words are joined with one
# ``bytearray().join``, several times faster than concatenating small arrays), its first token (interned:
# a hit then compares pointers, not text) and its last token's followers; both None without tokens.
WordEntry = tuple[bytes, "str | None", "dict[str, int] | None"]


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


class Features:
    """The feature occurrences of a text under a ``PortableModel``'s vectorizers.

    Global feature indices: the word block's terms first, then the character block's. Thread-safe: the
    only mutable state is the word cache and the followers index, whose entries are immutable and whose
    updates are single dict operations.
    """

    def __init__(self, model: PortableModel) -> None:
        word = model.vectorizers[0]
        self._lowercase = word.lowercase
        self._accents = _ACCENT_FUNCTIONS[word.strip_accents]
        self._word_vocab = model.vocabularies[0]
        self._words = dict(zip(self._word_vocab, range(len(self._word_vocab))))
        if len(self._words) != len(self._word_vocab):
            raise ModelFileError(f"vocabulary {word.name!r} repeats terms; the model file is inconsistent")
        self._bigrams = word.ngram_range[1] == 2
        assert word.token_pattern is not None  # layout_problem checks it
        self._token_re = re.compile(word.token_pattern)
        self.split = len(self._word_vocab)  # where the character block starts
        self._chars: dict[str, int] = {}
        self._char_range = (0, -1)  # no character n-grams
        if len(model.vectorizers) == 2:
            spec, vocab = model.vectorizers[1], model.vocabularies[1]
            self._chars = dict(zip(vocab, range(self.split, self.split + len(vocab))))
            if len(self._chars) != len(vocab):
                raise ModelFileError(f"vocabulary {spec.name!r} repeats terms; the model file is inconsistent")
            self._char_range = spec.ngram_range
        self.n_features = self.split + len(self._chars)
        self._names = [spec.name for spec in model.vectorizers]
        self._vocabularies = model.vocabularies
        self._followers: dict[str, dict[str, int]] = {}
        self.cache: dict[str, WordEntry] = {}

    def preprocess(self, text: str) -> str:
        if self._lowercase:
            text = text.lower()
        if self._accents is not None:
            text = self._accents(text)
        return text

    def words(self, text: str) -> list[str]:
        """The whitespace-separated words of the preprocessed text (char_wb's and the word cache's unit)."""
        # char_wb collapses runs of white space before splitting; str.split() alone gives the same words.
        return self.preprocess(text).split()

    def _followers_of(self, token: str) -> dict[str, int]:
        """The bigrams that start with ``token``: second token -> feature index."""
        hit = self._followers.get(token)
        if hit is None:
            vocab = self._word_vocab
            # In sorted order the terms "token <anything>" lie between "token " and "token!" (the next character)
            lo = bisect.bisect_left(vocab, token + " ")
            hi = bisect.bisect_left(vocab, token + "!", lo)
            second = operator.itemgetter(slice(len(token) + 1, None))
            hit = dict(zip(map(sys.intern, map(second, vocab[lo:hi])), range(lo, hi)))
            if hit:  # bounded by the vocabulary; tokens without bigrams share _NO_FOLLOWERS
                self._followers[token] = hit
            else:
                hit = _NO_FOLLOWERS
        return hit

    def _analyze_word(self, word: str) -> WordEntry:
        """The cache entry of one whitespace-separated word (see ``WordEntry``)."""
        found: list[int] = []
        lo, hi = self._char_range
        w = " " + word + " "
        for n in range(lo, hi + 1):
            # sklearn's _char_wb_ngrams: a word no longer than n is counted once, whole, and ends the loop
            if len(w) <= n:
                found.extend([j for j in (self._chars.get(w),) if j is not None])
                break
            found.extend([j for j in map(self._chars.get, [w[k : k + n] for k in range(len(w) - n + 1)])
                          if j is not None])
        tokens = self._token_re.findall(word)
        found.extend([j for j in map(self._words.get, tokens) if j is not None])
        if not tokens:
            return array.array("q", found).tobytes(), None, None
        if not self._bigrams:
            return array.array("q", found).tobytes(), sys.intern(tokens[0]), None
        found.extend([j for j in map(self._words.get, map(" ".join, zip(tokens, tokens[1:]))) if j is not None])
        return array.array("q", found).tobytes(), sys.intern(tokens[0]), self._followers_of(tokens[-1])

    def _entry(self, word: str) -> WordEntry:
        hit = self.cache.get(word)
        if hit is None:
            hit = self._analyze_word(word)
            if len(self.cache) >= WORD_CACHE_LIMIT:
                self.cache.clear()  # a bounded cache; one dict operation, safe beside readers in other threads
            self.cache[word] = hit
        return hit

    def term_indices(self, text: str) -> npt.NDArray[np.int64]:
        """All feature occurrences of ``text`` (indices with repeats), as the vectorizers would count them."""
        if self._lowercase:  # preprocess(), inlined: this is the hot path
            text = text.lower()
        words = (self._accents(text) if self._accents is not None else text).split()
        if not words:
            return np.zeros(0, dtype=np.int64)
        hits: list[Any] = list(map(self.cache.get, words))
        if None in hits:
            hits = [h or self._entry(w) for h, w in zip(hits, words)]
        parts = [h[0] for h in hits]
        if self._bigrams:
            linked = [h for h in hits if h[1] is not None]  # words with tokens, in order
            follows = dict.get  # (followers of a word's last token, next word's first token)
            found = [j for a, b in zip(linked, linked[1:]) if (j := follows(a[2], b[1])) is not None]
            if found:
                parts.append(array.array("q", found).tobytes())
        # a fresh, writable array (callers sort it in place)
        return np.frombuffer(bytearray().join(parts), dtype=np.int64)

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

    def feature_name(self, j: int) -> tuple[str, str]:
        """The vectorizer name and the term of global feature ``j``."""
        block = 0 if j < self.split else 1
        return self._names[block], self._vocabularies[block][j - (0 if block == 0 else self.split)]

    def is_word(self, j: int) -> bool:
        """Whether global feature ``j`` is a word n-gram (else a character n-gram)."""
        return j < self.split
