"""encode_sentences and BucketSentenceIter against MXNet 1.9.1 (tests/golden/make_io.py)."""
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bucketmod.io import DataDesc
from bucketmod.rnn.io import BucketSentenceIter, encode_sentences

DATA = Path(__file__).resolve().parents[1] / "golden" / "data"
BUCKET_GOLDEN = json.loads((DATA / "io_bucket_sentence_iter.json").read_text())
ENCODE_GOLDEN = json.loads((DATA / "io_encode_sentences.json").read_text())

SENTS = BUCKET_GOLDEN["sentences"]
# the constructor arguments make_io.py used for each recorded case
CASES = {
    "auto": (dict(batch_size=4), 2),
    "given": (dict(batch_size=5, buckets=[4, 8, 10]), 2),
    "given_unsorted_with_empty": (dict(batch_size=3, buckets=[12, 3, 100, 6]), 2),
    "tn_invalid0": (dict(batch_size=4, buckets=[6, 12], invalid_label=0, layout="TN",
                         data_name="x", label_name="y"), 2),
    "int32": (dict(batch_size=6, buckets=[5, 9, 12], dtype="int32"), 1),
}


def _descs(descs):
    return [[d.name, list(d.shape), np.dtype(d.dtype).name, d.layout] for d in descs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bucket_sentence_iter_matches_mxnet(case, capsys):
    kwargs, epochs = CASES[case]
    random.seed(11)
    np.random.seed(11)
    it = BucketSentenceIter(SENTS, **kwargs)
    want = BUCKET_GOLDEN[case]
    assert "WARNING: discarded" in capsys.readouterr().out
    assert it.buckets == want["buckets"]
    assert it.default_bucket_key == want["default_bucket_key"]
    assert _descs(it.provide_data) == want["provide_data"]
    assert _descs(it.provide_label) == want["provide_label"]
    got = []
    for epoch in range(epochs):
        if epoch:
            it.reset()
        for batch in it:
            assert batch.pad == 0
            assert batch.provide_data[0].shape == batch.data[0].shape
            assert batch.provide_data[0].layout == it.layout
            assert batch.data[0].dtype == np.dtype(kwargs.get("dtype", "float32"))
            got.append((epoch, batch.bucket_key, batch.data[0].asnumpy().tolist(),
                        batch.label[0].asnumpy().tolist()))
    assert len(got) == len(want["batches"])
    for g, w in zip(got, want["batches"]):
        assert g == (w["epoch"], w["bucket_key"], w["data"][0], w["label"][0])


def test_bucket_sentence_iter_semantics(capsys):
    sents = [[1, 2, 3]] * 5 + [[4, 5, 6, 7, 8]] * 4 + [[9] * 9]
    it = BucketSentenceIter(sents, batch_size=2, buckets=[3, 6], invalid_label=-1)
    assert "discarded 1 sentences" in capsys.readouterr().out
    assert it.buckets == [3, 6] and it.default_bucket_key == 6
    assert it.provide_data == [DataDesc("data", (2, 6), layout="NT")]
    batches = list(it)
    assert sorted(b.bucket_key for b in batches) == [3, 3, 6, 6]  # one 3-sentence left over
    long_batch = next(b for b in batches if b.bucket_key == 6)
    np.testing.assert_array_equal(long_batch.data[0].asnumpy()[0], [4, 5, 6, 7, 8, -1])
    np.testing.assert_array_equal(long_batch.label[0].asnumpy()[0], [5, 6, 7, 8, -1, -1])


def test_bucket_sentence_iter_small_bucket_is_kept_but_never_served():
    sents = [[1, 2]] * 4 + [[1, 2, 3, 4]]
    it = BucketSentenceIter(sents, batch_size=2, buckets=[2, 4])
    assert it.buckets == [2, 4] and it.default_bucket_key == 4
    assert [b.bucket_key for b in it] == [2, 2]


def test_bucket_sentence_iter_does_not_mutate_buckets():
    buckets = [6, 3]
    BucketSentenceIter([[1, 2, 3]] * 2, batch_size=1, buckets=buckets)
    assert buckets == [6, 3]


@pytest.mark.parametrize("kwargs, words", [
    (dict(sentences=[[1, 2]] * 4, batch_size=2, layout="NTC"), "layout"),
    (dict(sentences=[[1, 2]] * 4, batch_size=0), "batch_size"),
    (dict(sentences=[[1, 2, 3]] * 4, batch_size=2, buckets=[2]), "no sentence fits"),
    (dict(sentences=[], batch_size=2), "no sentence fits"),
])
def test_bucket_sentence_iter_bad_input(kwargs, words):
    with pytest.raises(ValueError, match=words):
        BucketSentenceIter(**kwargs)


@pytest.mark.parametrize("case", ["default", "invalid0_start1", "start3", "invalid_key"])
def test_encode_sentences_matches_mxnet(case):
    want = ENCODE_GOLDEN["cases"][case]
    coded, vocab = encode_sentences(ENCODE_GOLDEN["sentences"], **want["kwargs"])
    assert coded == want["coded"]
    assert vocab == want["vocab"]


def test_encode_sentences_with_given_vocab():
    vocab = dict(ENCODE_GOLDEN["cases"]["default"]["vocab"])
    coded, out = encode_sentences([["cat", "the"]], vocab=vocab)
    assert (coded, out) == (ENCODE_GOLDEN["cases"]["given_vocab"]["coded"],
                            ENCODE_GOLDEN["cases"]["given_vocab"]["vocab"])
    with pytest.raises(AssertionError, match="'zebra'"):
        encode_sentences([["zebra"]], vocab=vocab)


def test_encode_sentences_unknown_token_gets_one_id():
    vocab = {"\n": 0, "a": 1, "<unk>": 2, "b": 3}
    coded, out = encode_sentences([["a", "x", "b", "y"]], vocab=dict(vocab), unknown_token="<unk>")
    assert coded == [[1, 2, 3, 2]] and out == vocab
    coded, out = encode_sentences([["x", "a", "y"]], vocab={"\n": 0, "a": 1}, invalid_label=0,
                                  start_label=1, unknown_token="<unk>")
    assert coded == [[2, 1, 2]] and out == {"\n": 0, "a": 1, "<unk>": 2}


@pytest.mark.parametrize("case", sorted(ENCODE_GOLDEN["unknown_token"]))
def test_encode_sentences_unknown_token_against_mxnet(case):
    """Known words get MXNet's ids; the unknown token gets the id MXNet gives it at its first
    use where that id is free (all of it agrees then, when one unknown word occurs), else the
    next free one, and keeps it for every unknown word (MXNet renumbers it at each)."""
    want = ENCODE_GOLDEN["unknown_token"][case]
    sents, vocab = want["sentences"], want["vocab"]
    coded, out = encode_sentences(sents, vocab=dict(vocab), unknown_token="<unk>",
                                  **want["kwargs"])
    unknown = [(i, j) for i, s in enumerate(sents) for j, w in enumerate(s) if w not in vocab]
    unk_id = out["<unk>"]
    assert out == dict(vocab, **{"<unk>": unk_id})
    for i, sent in enumerate(sents):
        for j in range(len(sent)):
            assert coded[i][j] == (unk_id if (i, j) in unknown else want["coded"][i][j])
    first_use = want["coded"][unknown[0][0]][unknown[0][1]]
    if "<unk>" in vocab:
        assert unk_id == vocab["<unk>"]
    elif first_use not in vocab.values():
        assert unk_id == first_use
        if len(unknown) == 1:
            assert (coded, out) == (want["coded"], want["result_vocab"])
    else:
        assert unk_id not in vocab.values() and unk_id > first_use


def test_bucket_sentence_iter_parts_serve_the_same_batches_per_bucket(capsys):
    full = BucketSentenceIter(SENTS, 2, buckets=[4, 8, 10])
    parts = [BucketSentenceIter(SENTS, 2, buckets=[4, 8, 10], num_parts=2, part_index=k)
             for k in range(2)]
    for b, whole in enumerate(full.data):
        rows = [Counter(map(tuple, part.data[b].tolist())) for part in parts]
        assert [sum(r.values()) for r in rows] == [len(whole) // 2] * 2
        assert rows[0] + rows[1] <= Counter(map(tuple, whole.tolist()))
    assert parts[0].buckets == parts[1].buckets == full.buckets
    keys = [sorted(b.bucket_key for b in part) for part in parts]
    assert keys[0] == keys[1] and len(keys[0]) == sum(len(d) // 2 // 2 for d in full.data)
    with pytest.raises(ValueError, match="part_index must be in"):
        BucketSentenceIter(SENTS, 2, num_parts=2, part_index=3)
