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
lookup per pair of neighbouring words. The words a text (or a batch of texts: ``prepare``) brings that
are not cached yet are analysed together: their character n-grams in one pass of numpy operations over
all of them (``CharGrams``), the rest word by word.
"""

from __future__ import annotations

import array
import bisect
import operator
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._errors import ModelFileError
from ._format import PortableModel, Terms, as_terms, codepoints

# Words whose analysis is cached; a posting file has far fewer distinct words than this.
WORD_CACHE_LIMIT = 50_000

IntArray = npt.NDArray[np.intp]
_EMPTY_INDEX: IntArray = np.zeros(0, dtype=np.intp)
_EMPTY_INT64: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
_NO_FOLLOWERS: dict[str, bytes] = {}

# A word's cache entry: its own feature indices as int64 bytes (a text's words are joined with one
# ``bytearray().join``, several times faster than concatenating small arrays), its first token (interned:
# a hit then compares pointers, not text) and its last token's followers (second token -> the bigram's
# index as int64 bytes, joined with the rest); both None without tokens.
WordEntry = tuple[bytes, "str | None", "dict[str, bytes] | None"]


class _Combining(dict[int, "int | None"]):
    """``str.translate``'s table that deletes combining characters: each code point decided once, by
    ``unicodedata.combining`` as scikit-learn decides it, then looked up in C."""

    def __missing__(self, code: int) -> int | None:
        keep = None if unicodedata.combining(chr(code)) else code
        if len(self) < 1 << 16:  # bounded: a text of every code point cannot grow it without end
            self[code] = keep
        return keep


_DROP_COMBINING = _Combining()


_NON_ASCII = re.compile("[^\x00-\x7f]+")


def _strip_run(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKD", m.group()).translate(_DROP_COMBINING)


def _strip_accents_unicode(s: str) -> str:
    # Same as sklearn.feature_extraction.text.strip_accents_unicode: NFKD, then no combining characters.
    # Only the runs of non-ASCII characters need it: an ASCII character has no decomposition and no
    # combining class, so it ends the reordering of the marks before it, and the text between runs is kept.
    return s if s.isascii() else _NON_ASCII.sub(_strip_run, s)


def _strip_accents_ascii(s: str) -> str:
    # Same as sklearn.feature_extraction.text.strip_accents_ascii.
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


_ACCENT_FUNCTIONS = {None: None, "unicode": _strip_accents_unicode, "ascii": _strip_accents_ascii}


# Odd 64-bit multipliers for the term hash; the next is tried only if two terms of a vocabulary collide.
_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)


def _powers(multiplier: int, n: int) -> npt.NDArray[np.uint64]:
    """``multiplier ** (i + 1)`` modulo 2**64 for i < n."""
    out, x = [], 1
    for _ in range(n):
        x = x * multiplier % 2**64
        out.append(x)
    return np.array(out, dtype=np.uint64)


def _hash_spans(cp: npt.NDArray[np.uint32], starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
                powers: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Each span's hash, the sum of (code point + 1) * multiplier ** (i + 1) over its characters i,
    modulo 2**64. The spans lie in order in ``cp``, one separator ("\n", which adds nothing) between two."""
    if starts.size == 0:
        return np.zeros(0, dtype=np.uint64)
    digits = np.where(cp == 10, 0, cp.astype(np.uint64) + 1).astype(np.uint64)
    segment = np.diff(np.append(starts, cp.size))  # a span and the separator after it
    offset = np.arange(cp.size) - np.repeat(starts, segment)
    out = np.zeros(starts.size, dtype=np.uint64)
    full = lengths > 0  # an empty span hashes to 0 (reduceat would give it its neighbour's first term)
    if full.any():
        out[full] = np.add.reduceat(digits * powers[np.minimum(offset, powers.size - 1)], starts[full])
    return out


def _sorted_hashes(terms: Terms, longest: int, same_term: Any, name: str
                   ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[Any], npt.NDArray[np.uint64]]:
    """The terms' hashes sorted, the order that sorts them and the powers used: the first multiplier
    under which no two terms share a hash (``same_term(a, b)`` tells a repeated term from a collision).
    Hashed a chunk of terms at a time, so the work arrays stay small."""
    for multiplier in _MULTIPLIERS:
        powers = _powers(multiplier, longest + 1)
        hashes = np.empty(len(terms), dtype=np.uint64)
        for first, cp, starts, lengths in terms.spans():
            hashes[first : first + starts.size] = _hash_spans(cp, starts, lengths, powers)
        order = np.argsort(hashes)  # equal hashes end up adjacent whatever the sort: checked next
        hashes = hashes[order]
        same = np.flatnonzero(hashes[1:] == hashes[:-1])
        if same.size == 0:
            return hashes, order, powers
        if same_term(int(order[same[0]]), int(order[same[0] + 1])):
            raise ModelFileError(f"vocabulary {name!r} repeats terms; the model file is inconsistent")
    raise ModelFileError(f"vocabulary {name!r} cannot be indexed; the model file is inconsistent")


class TermIndex:
    """Exact lookup of strings in a vocabulary (the word block), without a Python object per term.

    A sorted array of the terms' 64-bit hashes (``_hash_spans``); a string whose hash binary search finds
    is a term only if it equals the term itself, so the lookup is exact whatever the hash does.
    """

    def __init__(self, terms: Terms, offset: int, name: str) -> None:
        self.terms = terms
        lengths = terms.lengths()
        longest = int(lengths.max()) if lengths.size else 0
        self._hashes, order, self._powers = _sorted_hashes(terms, longest, lambda a, b: terms[a] == terms[b], name)
        self._order = order.astype(np.int32 if len(terms) < 2**31 else np.int64)
        self._offset = offset

    def find(self, strings: Sequence[str]) -> list[int | None]:
        """The feature index of each string (None for a string that is not a term)."""
        out: list[int | None] = [None] * len(strings)
        if not strings or self._hashes.size == 0:
            return out
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        starts = np.cumsum(lengths + 1) - (lengths + 1)
        h = _hash_spans(codepoints("\n".join(strings)), starts, lengths, self._powers)
        k = np.minimum(self._hashes.searchsorted(h), self._hashes.size - 1)
        longest = self._powers.size - 1  # a string longer than every term is none of them
        for i in np.flatnonzero((self._hashes[k] == h) & (lengths <= longest)).tolist():
            term = int(self._order[k[i]])
            if self.terms[term] == strings[i]:
                out[i] = term + self._offset
        return out


class CharGrams:
    """The ``char_wb`` block's lookup, without a Python object per term.

    Each term (at most ``hi`` characters) is kept as a row of its code points padded with zeros, with its
    length and its hash (``_hash_spans``); rows are sorted by hash. An n-gram is a term when binary search
    finds its hash and the row found has its length and code points: the check makes the lookup exact,
    whatever the hash does. ``lookup`` finds the n-grams of many words in one pass of numpy operations.
    """

    def __init__(self, terms: Terms, offset: int, ngram_range: tuple[int, int], name: str) -> None:
        self.lo, self.hi = ngram_range
        lengths = terms.lengths()
        if lengths.size and not (lengths.min() >= 1 and lengths.max() <= self.hi):
            raise ModelFileError(f"vocabulary {name!r} holds terms outside its n-gram range {list(ngram_range)}; "
                                 f"the model file is inconsistent")
        # Rows hold each character's rank in the vocabulary's alphabet (1, 2, ...; 0 pads), so that they fit
        # in 16 bits whatever the code points are.
        self._alphabet = np.unique(np.concatenate([np.unique(cp) for _, cp, _, _ in terms.spans()]
                                                  or [np.zeros(0, dtype=np.uint32)]))
        rows = np.zeros((lengths.size, self.hi), dtype=np.uint16 if self._alphabet.size < 2**16 else np.uint32)
        for first, cp, starts, chunk_lengths in terms.spans():
            block = rows[first : first + starts.size]
            ranks = np.searchsorted(self._alphabet, cp) + 1
            for i in range(self.hi):
                has = chunk_lengths > i
                block[has, i] = ranks[starts[has] + i]

        def same_term(a: int, b: int) -> bool:
            return bool(lengths[a] == lengths[b] and (rows[a] == rows[b]).all())

        self._hashes, order, powers = _sorted_hashes(terms, self.hi, same_term, name)
        multiplier = int(powers[0])
        self._multiplier = (np.uint64(multiplier), np.uint64(pow(multiplier, -1, 2**64)))
        self._rows = rows[order]
        self._lengths = lengths[order].astype(np.int8)
        self._index = (order + offset).astype(np.int32 if offset + len(order) < 2**31 else np.int64)

    def lookup(self, words: Sequence[str]) -> list[npt.NDArray[np.int64]]:
        """For each whitespace-free word, the feature indices of its ``char_wb`` n-grams found in the
        vocabulary (with repeats), as scikit-learn's ``_char_wb_ngrams`` makes them: the word padded with
        one space each side, every window of each length in the range, and a padded word no longer than a
        length counted once, whole, and no longer n-grams after it."""
        padded = [" " + w + " " for w in words]
        wlen = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
        cp = codepoints("".join(padded))
        total = cp.size
        if self._hashes.size == 0 or total == 0:
            return [_EMPTY_INT64] * len(words)
        ends = np.cumsum(wlen)
        word_of = np.repeat(np.arange(len(words)), wlen)
        pos = np.arange(total)
        room = ends[word_of] - pos  # characters from a position to the end of its word
        at_start = pos == (ends - wlen)[word_of]
        # Every window at once: (start p, length n) for each length up to hi that sklearn counts there.
        ns = np.arange(1, self.hi + 1)
        take = (room[:, None] >= ns) & (ns >= self.lo)
        take |= at_start[:, None] & (wlen[word_of][:, None] == ns) & (ns < self.lo)
        p, n_minus_1 = np.nonzero(take)
        n = n_minus_1 + 1
        # A window's hash from prefix sums: (H[p + n] - H[p]) / m**p, m being odd and so invertible mod 2**64.
        m, m_inverse = self._multiplier
        up = np.cumprod(np.full(total, m, dtype=np.uint64))  # m**(i + 1)
        down = np.cumprod(np.full(total, m_inverse, dtype=np.uint64))  # m**-(i + 1)
        prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum((cp.astype(np.uint64) + np.uint64(1)) * up, out=prefix[1:])
        h = (prefix[p + n] - prefix[p]) * np.concatenate((np.ones(1, dtype=np.uint64), down[:-1]))[p]
        k = np.minimum(self._hashes.searchsorted(h), self._hashes.size - 1)
        hit = np.flatnonzero(self._hashes[k] == h)
        p, n, k = p[hit], n[hit], k[hit]
        # The found windows' characters as alphabet ranks (a character outside the alphabet: 0, which no
        # term holds inside its length), padded past the text's end.
        rank = np.minimum(np.searchsorted(self._alphabet, cp), self._alphabet.size - 1)
        rank = np.where(self._alphabet[rank] == cp, rank + 1, 0)
        rank = np.concatenate((rank, np.zeros(self.hi, dtype=rank.dtype)))
        cols = np.arange(self.hi)
        window = np.where(cols < n[:, None], rank[p[:, None] + cols], 0)
        same = (self._lengths[k] == n) & (self._rows[k] == window).all(axis=1)
        owner, index = word_of[p[same]], self._index[k[same]].astype(np.int64)
        order = np.argsort(owner, kind="stable")
        cuts = np.cumsum(np.bincount(owner, minlength=len(words)))[:-1]
        return np.split(index[order], cuts)


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
        self._word_vocab = as_terms(model.vocabularies[0])
        self._words = TermIndex(self._word_vocab, 0, word.name)
        self._bigrams = word.ngram_range[1] == 2
        # For each unigram term, where the next unigram term starts: its bigrams lie in between.
        bigram = np.zeros(len(self._word_vocab), dtype=bool)
        for first, cp, starts, _ in self._word_vocab.spans():
            bigram[first + np.searchsorted(starts, np.flatnonzero(cp == 32), side="right") - 1] = True
        unigrams = np.flatnonzero(~bigram)
        self._next_unigram = np.zeros(len(self._word_vocab), dtype=np.int32)
        self._next_unigram[unigrams] = np.append(unigrams[1:], len(self._word_vocab))
        del bigram, unigrams
        assert word.token_pattern is not None  # layout_problem checks it
        self._token_re = re.compile(word.token_pattern)
        self.split = len(self._word_vocab)  # where the character block starts
        self._chars: CharGrams | None = None
        self.n_features = self.split
        if len(model.vectorizers) == 2:
            spec, vocab = model.vectorizers[1], model.vocabularies[1]
            self._chars = CharGrams(as_terms(vocab), self.split, spec.ngram_range, spec.name)
            self.n_features += len(vocab)
        self._names = [spec.name for spec in model.vectorizers]
        self._vocabularies = model.vocabularies
        self._followers: dict[str, dict[str, bytes]] = {}
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

    def _followers_of(self, token: str, index: int | None) -> dict[str, bytes]:
        """The bigrams that start with ``token`` (a unigram term at ``index``, or None): second token ->
        feature index, as int64 bytes. Remembered for the tokens met, those without bigrams included, up to
        the cache limit."""
        hit = self._followers.get(token)
        if hit is None:
            vocab, n, start = self._word_vocab, len(self._word_vocab), token + " "
            # In sorted order the terms "token <anything>" lie between "token " and "token!" (the next
            # character): right after the unigram itself, up to the next unigram (``_next_unigram``), when
            # the ends of that run say so; a bisection otherwise.
            lo = hi = -1
            if index is not None:
                a, b = index + 1, int(self._next_unigram[index])
                if a == b and (a == n or vocab[a] >= start):  # the next term is a unigram past every "token x"
                    lo = hi = a
                elif a < b and vocab[a].startswith(start) and vocab[b - 1].startswith(start):
                    lo, hi = a, b
            if lo < 0:
                lo = bisect.bisect_left(vocab, start, 0 if index is None else index + 1)
                hi = bisect.bisect_left(vocab, token + "!", lo)
            if lo >= hi:
                hit = _NO_FOLLOWERS
            else:
                second = operator.itemgetter(slice(len(start), None))
                indices = np.arange(lo, hi, dtype=np.int64).tobytes()
                hit = {sys.intern(second(term)): indices[8 * i : 8 * i + 8] for i, term in enumerate(vocab[lo:hi])}
            if len(self._followers) >= WORD_CACHE_LIMIT:
                self._followers.clear()
            self._followers[token] = hit
        return hit

    def _analyze(self, words: Sequence[str]) -> list[WordEntry]:
        """The cache entries of distinct whitespace-separated words (see ``WordEntry``): their character
        n-grams looked up together, then their tokens' unigrams and inner bigrams together."""
        chars = self._chars.lookup(words) if self._chars is not None else [_EMPTY_INT64] * len(words)
        tokens_of = [self._token_re.findall(word) for word in words]
        queries: list[str] = []
        for tokens in tokens_of:
            queries += tokens
            if self._bigrams and len(tokens) > 1:
                queries += map(" ".join, zip(tokens, tokens[1:]))
        found = self._words.find(queries)
        entries: list[WordEntry] = []
        at = 0
        for grams, tokens in zip(chars, tokens_of):
            n = len(tokens) + (len(tokens) - 1 if self._bigrams and len(tokens) > 1 else 0)
            own = grams.tobytes() + array.array("q", [j for j in found[at : at + n] if j is not None]).tobytes()
            if not tokens:
                entries.append((own, None, None))
            else:
                last = self._followers_of(tokens[-1], found[at + len(tokens) - 1]) if self._bigrams else None
                entries.append((own, sys.intern(tokens[0]), last))
            at += n
        return entries

    def prepare(self, texts: Iterable[str]) -> None:
        """Analyse and cache, together, the words of ``texts`` that are not cached yet (a batch's texts
        then cost cache lookups only). Optional: ``term_indices`` analyses what it finds missing."""
        cache = self.cache
        new: dict[str, None] = {}
        for text in texts:
            for word in self.words(text):
                if word not in cache:
                    new[word] = None
        self._add(list(new))

    def _add(self, words: list[str]) -> None:
        for start in range(0, len(words), WORD_CACHE_LIMIT):
            part = words[start : start + WORD_CACHE_LIMIT]
            self._store(dict(zip(part, self._analyze(part))))

    def _store(self, entries: dict[str, WordEntry]) -> None:
        if len(self.cache) + len(entries) > WORD_CACHE_LIMIT:
            self.cache.clear()  # a bounded cache; one dict operation, safe beside readers in other threads
        self.cache.update(entries)

    def term_indices(self, text: str) -> npt.NDArray[np.int64]:
        """All feature occurrences of ``text`` (indices with repeats), as the vectorizers would count them."""
        if self._lowercase:  # preprocess(), inlined: this is the hot path
            text = text.lower()
        words = (self._accents(text) if self._accents is not None else text).split()
        if not words:
            return np.zeros(0, dtype=np.int64)
        hits: list[Any] = list(map(self.cache.get, words))
        if None in hits:
            missing = list(dict.fromkeys(w for h, w in zip(hits, words) if h is None))
            analysed = dict(zip(missing, self._analyze(missing)))
            hits = [h or analysed[w] for h, w in zip(hits, words)]
            self._store(analysed)
        if not self._bigrams:
            return np.frombuffer(bytearray().join([h[0] for h in hits]), dtype=np.int64)
        # Each word's own features, and after each word with tokens the bigram (if any) its first token
        # makes with the last token of the previous word that has tokens; one loop (cheaper than three
        # comprehensions here, the hot path).
        parts: list[bytes] = []
        add = parts.append
        before: dict[str, bytes] | None = None
        for own, first, followers in hits:
            add(own)
            if first is not None:
                if before:
                    bigram = before.get(first)
                    if bigram is not None:
                        add(bigram)
                before = followers
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
