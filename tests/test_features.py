"""The feature lookup without a string per term: ``Terms`` is the vocabulary as a sequence, and the hashed
lookups (``TermIndex``, ``CharGrams``) are exact against scikit-learn's own analyzers, collisions included."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

import marksales._features as features
from marksales import ModelFileError
from marksales._features import CharGrams, TermIndex
from marksales._format import Terms

WORDS = ["brand", "brands", "b2b/b2c", "naïve", "café", "emoji🙂ok", "x", "ab", "sales-led", "über", "日本語"]


def test_terms_is_the_vocabulary_as_a_sequence():
    terms = ["a", "bb", "", "ccc", "🙂", "d d"]
    t = Terms("\n".join(terms))
    assert len(t) == len(terms) and list(t) == terms and t == terms and t == Terms("\n".join(terms))
    assert [t[i] for i in range(-len(terms), len(terms))] == terms + terms
    assert t.lengths().tolist() == [len(term) for term in terms]
    assert t[1:4] == tuple(terms[1:4]) and t[::2] == tuple(terms[::2]) and t[4:1] == ()
    with pytest.raises(IndexError):
        t[len(terms)]
    assert len(Terms("")) == 0 and list(Terms("")) == []


def test_terms_iterates_in_chunks_to_the_same_terms():
    terms = [f"t{i}" for i in range(10_000)]
    t = Terms("\n".join(terms))
    assert list(t) == terms
    assert [first for first, _, _ in t.chunks(4096)] == [0, 4096, 8192]
    assert sum(len(chunk.split("\n")) for _, _, chunk in t.chunks(4096)) == len(terms)


@pytest.mark.parametrize("ngram_range", [(2, 5), (3, 5), (1, 3), (4, 8)])
def test_char_grams_find_what_char_wb_counts(ngram_range):
    rng = random.Random(sum(ngram_range))
    docs = [" ".join(rng.sample(WORDS, 4)) for _ in range(60)]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=False).fit(docs)
    vocab = sorted(vec.vocabulary_)
    grams = CharGrams(Terms("\n".join(vocab)), 100, ngram_range, "char")
    analyze = vec.build_analyzer()
    alphabet = "abcé-/ü🙂本2"
    words = WORDS + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))) for _ in range(300)]
    index = {t: i + 100 for i, t in enumerate(vocab)}
    for word, found in zip(words, grams.lookup(words)):
        assert sorted(found.tolist()) == sorted(index[g] for g in analyze(word) if g in index), word


def test_term_index_is_exact_when_hashes_collide(monkeypatch):
    # With multiplier 1 the hash is the sum of the code points: "ab" and "ba" collide.
    monkeypatch.setattr(features, "_MULTIPLIERS", (1,))
    index = TermIndex(Terms("ab\ncd"), 5, "word")
    assert index.find(["ba", "ab", "cd", "dc", "abc", ""]) == [None, 5, 6, None, None, None]
    with pytest.raises(ModelFileError, match="cannot be indexed"):
        TermIndex(Terms("ab\nba"), 0, "word")
    monkeypatch.setattr(features, "_MULTIPLIERS", (1, 3))  # the next multiplier is tried
    assert TermIndex(Terms("ab\nba"), 0, "word").find(["ba", "ab"]) == [1, 0]


def test_char_grams_are_exact_when_hashes_collide(monkeypatch):
    monkeypatch.setattr(features, "_MULTIPLIERS", (1,))
    grams = CharGrams(Terms("ab\ncd"), 0, (2, 2), "char")
    assert [g.tolist() for g in grams.lookup(["ba", "ab"])] == [[], [0]]  # " ab " holds "ab"; " ba " does not


@pytest.mark.parametrize("build", [lambda t: TermIndex(t, 0, "word"), lambda t: CharGrams(t, 0, (1, 3), "char")])
def test_a_repeated_term_is_refused(build):
    with pytest.raises(ModelFileError, match="repeats terms"):
        build(Terms("ab\ncd\nab"))


def test_char_terms_longer_than_the_range_are_refused():
    with pytest.raises(ModelFileError, match="outside its n-gram range"):
        CharGrams(Terms("ab\nabcdef"), 0, (2, 5), "char")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_accents_are_stripped_as_scikit_learn_strips_them(text):
    from sklearn.feature_extraction.text import strip_accents_unicode

    from marksales._features import _strip_accents_unicode

    assert _strip_accents_unicode(text) == strip_accents_unicode(text)
