"""Golden fixtures for mx.io and mx.rnn's data side, written by real MXNet 1.9.1.

Run with the MXNet venv: `/tmp/mxnet-ref/bin/python tests/golden/make_io.py`.
Writes `tests/golden/data/io_ndarray_iter.json`, `io_bucket_sentence_iter.json` and
`io_encode_sentences.json`. Arrays are stored as nested lists (they are tiny).
"""
import json
import random
from pathlib import Path

import mxnet as mx
import numpy as np

OUT = Path(__file__).resolve().parent / "data"


def _batches(it, epochs):
    """Every batch of `epochs` epochs, with a reset between them (as fit does)."""
    out = []
    for epoch in range(epochs):
        if epoch:
            it.reset()
        for batch in it:
            out.append({
                "data": [d.asnumpy().tolist() for d in batch.data],
                "label": [l.asnumpy().tolist() for l in batch.label] if batch.label else [],
                "pad": batch.pad,
                "epoch": epoch,
                "bucket_key": batch.bucket_key,
            })
    return out


def _descs(descs):
    return [[d.name, list(d.shape), np.dtype(d.dtype).name, d.layout] for d in descs]


def ndarray_iter_cases():
    data10 = np.arange(40, dtype=np.float32).reshape(10, 2, 2)
    label10 = np.arange(10, dtype=np.float32).reshape(10, 1) * 10
    cases = [
        ("pad", dict(data=data10, label=label10, batch_size=3, last_batch_handle="pad"), 2),
        ("discard", dict(data=data10, label=label10, batch_size=3, last_batch_handle="discard"), 2),
        ("roll_over", dict(data=data10, label=label10, batch_size=3,
                           last_batch_handle="roll_over"), 3),
        ("roll_over_no_label", dict(data=data10, batch_size=4, last_batch_handle="roll_over"), 3),
        ("roll_over_exact", dict(data=data10[:9], label=label10[:9], batch_size=3,
                                 last_batch_handle="roll_over"), 2),
        ("pad_tile", dict(data=data10[:4], label=label10[:4], batch_size=10,
                          last_batch_handle="pad"), 2),
        ("pad_tile_exact", dict(data=data10[:4], label=label10[:4], batch_size=8,
                                last_batch_handle="pad"), 1),
        ("dict_and_list", dict(data={"b": data10[:, 0], "a": np.arange(10, dtype=np.float32)},
                               label=[label10[:, 0], -label10[:, 0]], batch_size=4), 2),
        ("int_input", dict(data=np.arange(12, dtype=np.int64).reshape(6, 2), batch_size=4,
                           data_name="x", label_name="y"), 1),
        ("shuffle_pad", dict(data=data10, label=label10, batch_size=3, shuffle=True,
                             last_batch_handle="pad"), 3),
        ("shuffle_roll_over", dict(data=data10, label=label10, batch_size=4, shuffle=True,
                                   last_batch_handle="roll_over"), 3),
    ]
    out = {}
    for name, kwargs, epochs in cases:
        np.random.seed(7)
        it = mx.io.NDArrayIter(**kwargs)
        record = {"provide_data": _descs(it.provide_data),
                  "provide_label": _descs(it.provide_label)}
        record["batches"] = _batches(it, epochs)
        out[name] = record
    return out


def _sentences(rng, n, max_len):
    return [rng.randint(1, 30, size=rng.randint(1, max_len + 1)).tolist() for _ in range(n)]


def bucket_sentence_cases():
    rng = np.random.RandomState(3)
    sents = _sentences(rng, 60, 12)
    cases = [
        ("auto", dict(sentences=sents, batch_size=4), 2),
        ("given", dict(sentences=sents, batch_size=5, buckets=[4, 8, 10]), 2),
        ("given_unsorted_with_empty", dict(sentences=sents, batch_size=3,
                                           buckets=[12, 3, 100, 6]), 2),
        ("tn_invalid0", dict(sentences=sents, batch_size=4, buckets=[6, 12], invalid_label=0,
                             layout="TN", data_name="x", label_name="y"), 2),
        ("int32", dict(sentences=sents, batch_size=6, buckets=[5, 9, 12], dtype="int32"), 1),
    ]
    out = {"sentences": sents}
    for name, kwargs, epochs in cases:
        random.seed(11)
        np.random.seed(11)
        it = mx.rnn.BucketSentenceIter(**kwargs)
        out[name] = {
            "buckets": list(it.buckets),
            "default_bucket_key": it.default_bucket_key,
            "provide_data": _descs(it.provide_data),
            "provide_label": _descs(it.provide_label),
            "batches": _batches(it, epochs),
        }
    return out


def encode_cases():
    sents = [["the", "cat", "sat"], ["a", "\n", "cat"], ["dog", "the"]]
    out = {}
    for name, kwargs in [("default", {}), ("invalid0_start1", dict(invalid_label=0, start_label=1)),
                         ("start3", dict(start_label=3)),
                         ("invalid_key", dict(invalid_key="dog", invalid_label=2))]:
        coded, vocab = mx.rnn.encode_sentences(sents, **kwargs)
        out[name] = {"kwargs": kwargs, "coded": coded, "vocab": vocab}
    coded, vocab = mx.rnn.encode_sentences([["cat", "the"]], vocab=dict(out["default"]["vocab"]))
    out["given_vocab"] = {"coded": coded, "vocab": vocab}
    return {"sentences": sents, "cases": out, "unknown_token": unknown_token_cases()}


def unknown_token_cases():
    """encode_sentences with unknown_token: MXNet's ids, which bucketmod matches where the id
    MXNet gives the token at its first use is free (see tests/rnn/test_rnn_io.py)."""
    cases = {
        "start_free": ([["the", "zebra", "cat"]], {"\n": -1, "the": 5, "cat": 6}, {}),
        "start_free_twice": ([["the", "zebra", "cat", "yak", "zebra"]],
                             {"\n": -1, "the": 5, "cat": 6}, {}),
        "start_taken": ([["the", "zebra", "cat", "yak"]], {"\n": -1, "the": 0, "cat": 1}, {}),
        "skips_invalid": ([["a", "x"]], {"\n": 0, "a": 2}, dict(invalid_label=0)),
        "start1_taken": ([["the", "zebra", "cat"]], {"\n": 0, "the": 1, "cat": 2},
                         dict(invalid_label=0, start_label=1)),
        "token_in_vocab": ([["the", "zebra"]], {"\n": -1, "the": 0, "<unk>": 7}, {}),
    }
    out = {}
    for name, (sents, vocab, kwargs) in cases.items():
        coded, result = mx.rnn.encode_sentences(sents, vocab=dict(vocab), unknown_token="<unk>",
                                                **kwargs)
        out[name] = {"sentences": sents, "vocab": vocab, "kwargs": kwargs, "coded": coded,
                     "result_vocab": result}
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, fn in [("io_ndarray_iter", ndarray_iter_cases),
                     ("io_bucket_sentence_iter", bucket_sentence_cases),
                     ("io_encode_sentences", encode_cases)]:
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(fn(), separators=(",", ":")))
        print("wrote", path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
