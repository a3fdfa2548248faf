"""The generated corpus: deterministic, PTB-shaped lengths, grammatical structure; PTB reader."""
import math
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bucketmod.rnn import corpus
from bucketmod.rnn.corpus import (
    PTB_LENGTH_MEAN,
    PTB_LENGTH_STD,
    generate_corpus,
    generate_sentences,
    load_ptb_style,
    sample_lengths,
    vocabulary,
)

PTB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ptb"


@pytest.fixture(scope="module")
def sentences():
    return generate_sentences(20000, seed=3)


def test_deterministic_given_seed():
    assert generate_sentences(300, seed=5) == generate_sentences(300, seed=5)
    assert generate_sentences(300, seed=5) != generate_sentences(300, seed=6)
    train, valid = generate_corpus(200, 50, seed=1)
    assert (len(train), len(valid)) == (200, 50)
    assert train == generate_sentences(200, seed=1) and valid != train[:50]


def test_lengths_follow_ptb_spread(sentences):
    lengths = np.array([len(s) for s in sentences])
    assert abs(lengths.mean() - PTB_LENGTH_MEAN) < 0.4
    assert abs(lengths.std() - PTB_LENGTH_STD) < 0.5
    assert lengths.min() >= 1 and lengths.max() <= 80
    assert 0.13 < (lengths > 30).mean() < 0.21
    assert np.median(lengths) == 20


def test_grammar_builds_exact_lengths():
    grammar = corpus._Grammar(random.Random(0))
    for n in list(range(1, 81)) * 20:
        assert len(grammar.sentence(n)) == n
    want = sample_lengths(500, np.random.default_rng(9))
    assert [len(s) for s in generate_sentences(500, seed=9)] == want.tolist()


def test_ptb_length_distribution_matches_the_real_file():
    path = PTB / "ptb.train.txt"
    if not path.is_file():
        pytest.skip(f"PTB is not at {PTB}")
    real = np.sort([len(s) for s in load_ptb_style(path)])
    gen = np.sort([len(s) for s in generate_sentences(20000, seed=0)])
    grid = np.arange(1, 81)
    ks = np.abs(np.searchsorted(real, grid, side="right") / real.size
                - np.searchsorted(gen, grid, side="right") / gen.size).max()
    assert ks < 0.03


def test_vocabulary_and_zipf(sentences):
    vocab = vocabulary()
    assert 3000 <= len(vocab) <= 6000 and len(set(vocab)) == len(vocab)
    counts = Counter(w for s in sentences for w in s)
    assert set(counts) <= set(vocab) and len(counts) > 2500
    nouns = set(corpus._lexicon().words[corpus.N_SG])
    freq = np.sort([c for w, c in counts.items() if w in nouns])[::-1][:300]
    slope = np.polyfit(np.log(np.arange(1, freq.size + 1)), np.log(freq), 1)[0]
    assert -1.3 < slope < -0.8


def test_subject_verb_and_determiner_agreement(sentences):
    words = corpus._lexicon().words
    singular_verbs = set(words[corpus.VT_SG]) | set(words[corpus.VI_SG]) | {"says", "believes"}
    plural_verbs = set(words[corpus.VT_PL]) | set(words[corpus.VI_PL]) | {"say", "believe"}
    plural_nouns = set(words[corpus.N_PL])
    checked = Counter()
    for s in sentences:
        if s[0] in ("he", "she") and len(s) > 1:
            assert s[1] not in plural_verbs, s
            checked["sg"] += s[1] in singular_verbs
        if s[0] in ("they", "we") and len(s) > 1:
            assert s[1] not in singular_verbs, s
            checked["pl"] += s[1] in plural_verbs
        for a, b in zip(s, s[1:]):
            if a in ("a", "every", "another"):
                assert b not in plural_nouns, s
            if a in ("these", "those", "several"):
                checked["det"] += b in plural_nouns
    assert min(checked.values()) > 50


def test_next_word_is_predictable(sentences):
    unigram = Counter(w for s in sentences for w in s)
    bigram = Counter(pair for s in sentences for pair in zip(s, s[1:]))
    total = sum(unigram.values())
    h_uni = -sum(c / total * math.log2(c / total) for c in unigram.values())
    prev = Counter(a for a, _ in bigram.elements())
    n_pairs = sum(bigram.values())
    h_cond = -sum(c / n_pairs * math.log2(c / prev[a]) for (a, _), c in bigram.items())
    assert h_cond < h_uni - 2.0


def test_fast_enough():
    start = time.perf_counter()
    generate_sentences(50000, seed=11)
    assert time.perf_counter() - start < 8.0


def test_bad_num():
    with pytest.raises(ValueError, match="num"):
        generate_sentences(-1)


def test_load_ptb_style(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(" the cat  sat \n\n   \n a dog <unk> N\n")
    assert load_ptb_style(path) == [["the", "cat", "sat"], ["a", "dog", "<unk>", "N"]]
    with pytest.raises(OSError, match="no such file"):
        load_ptb_style(tmp_path / "missing.txt")


def test_load_ptb_style_reads_ptb():
    path = PTB / "ptb.train.txt"
    if not path.is_file():
        pytest.skip(f"PTB is not at {PTB}")
    sents = load_ptb_style(path)
    assert len(sents) == 6778 and sum(map(len, sents)) == 144288
