"""mx.io against batch sequences recorded from MXNet 1.9.1 (tests/golden/make_io.py)."""
import gc
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.io import DataBatch, DataDesc, DataIter, NDArrayIter, PrefetchingIter, ResizeIter

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "golden" / "data"
                     / "io_ndarray_iter.json").read_text())

DATA10 = np.arange(40, dtype=np.float32).reshape(10, 2, 2)
LABEL10 = np.arange(10, dtype=np.float32).reshape(10, 1) * 10

# the constructor arguments make_io.py used for each recorded case
CASES = {
    "pad": (dict(data=DATA10, label=LABEL10, batch_size=3, last_batch_handle="pad"), 2),
    "discard": (dict(data=DATA10, label=LABEL10, batch_size=3, last_batch_handle="discard"), 2),
    "roll_over": (dict(data=DATA10, label=LABEL10, batch_size=3, last_batch_handle="roll_over"),
                  3),
    "roll_over_no_label": (dict(data=DATA10, batch_size=4, last_batch_handle="roll_over"), 3),
    "roll_over_exact": (dict(data=DATA10[:9], label=LABEL10[:9], batch_size=3,
                             last_batch_handle="roll_over"), 2),
    "pad_tile": (dict(data=DATA10[:4], label=LABEL10[:4], batch_size=10,
                      last_batch_handle="pad"), 2),
    "pad_tile_exact": (dict(data=DATA10[:4], label=LABEL10[:4], batch_size=8,
                            last_batch_handle="pad"), 1),
    "dict_and_list": (dict(data={"b": DATA10[:, 0], "a": np.arange(10, dtype=np.float32)},
                           label=[LABEL10[:, 0], -LABEL10[:, 0]], batch_size=4), 2),
    "int_input": (dict(data=np.arange(12, dtype=np.int64).reshape(6, 2), batch_size=4,
                       data_name="x", label_name="y"), 1),
    "shuffle_pad": (dict(data=DATA10, label=LABEL10, batch_size=3, shuffle=True,
                         last_batch_handle="pad"), 3),
    "shuffle_roll_over": (dict(data=DATA10, label=LABEL10, batch_size=4, shuffle=True,
                               last_batch_handle="roll_over"), 3),
}


def _descs(descs):
    return [[d.name, list(d.shape), np.dtype(d.dtype).name, d.layout] for d in descs]


def _run(it, epochs):
    out = []
    for epoch in range(epochs):
        if epoch:
            it.reset()
        for batch in it:
            out.append({"data": [d.asnumpy().tolist() for d in batch.data],
                        "label": [l.asnumpy().tolist() for l in batch.label],
                        "pad": batch.pad, "epoch": epoch})
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_ndarray_iter_matches_mxnet(case):
    kwargs, epochs = CASES[case]
    np.random.seed(7)
    it = NDArrayIter(**kwargs)
    want = GOLDEN[case]
    assert _descs(it.provide_data) == want["provide_data"]
    assert _descs(it.provide_label) == want["provide_label"]
    got = _run(it, epochs)
    assert len(got) == len(want["batches"])
    for g, w in zip(got, want["batches"]):
        assert (g["epoch"], g["pad"]) == (w["epoch"], w["pad"])
        assert g["data"] == w["data"]
        assert g["label"] == w["label"]


@pytest.mark.parametrize("make", [mx.nd.array, torch.as_tensor], ids=["ndarray", "torch"])
def test_ndarray_iter_accepts_ndarray_and_torch(make):
    data = make(np.arange(12, dtype=np.float32).reshape(6, 2))
    it = NDArrayIter(data, make(np.arange(6, dtype=np.float32)), batch_size=4)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 2]
    np.testing.assert_array_equal(batches[1].data[0].asnumpy(),
                                  [[8, 9], [10, 11], [0, 1], [2, 3]])
    np.testing.assert_array_equal(batches[0].label[0].asnumpy(), [0, 1, 2, 3])


def test_ndarray_iter_keeps_torch_dtype_and_shares_memory():
    t = torch.arange(8, dtype=torch.int32).reshape(4, 2)
    it = NDArrayIter(t, batch_size=2)
    assert it.provide_data[0].dtype is np.int32
    batch = next(it)
    assert batch.data[0].tensor.dtype == torch.int32
    assert batch.data[0].tensor.data_ptr() == t.data_ptr()


def test_ndarray_iter_layout_batch_axis():
    data = np.arange(30, dtype=np.float32).reshape(3, 5, 2)
    it = NDArrayIter(data, batch_size=2, layout="TNC", last_batch_handle="pad")
    assert it.provide_data[0].shape == (3, 2, 2)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 1]
    np.testing.assert_array_equal(batches[2].data[0].asnumpy(), data[:, [4, 0]])


def test_ndarray_iter_roll_over_keeps_remainder_until_hard_reset():
    it = NDArrayIter(np.arange(5, dtype=np.float32), batch_size=2, last_batch_handle="roll_over")
    assert [b.data[0].asnumpy().tolist() for b in it] == [[0, 1], [2, 3]]
    it.reset()
    first = next(it)
    assert first.data[0].asnumpy().tolist() == [4, 0] and first.pad == 1
    list(it)
    it.hard_reset()
    assert next(it).data[0].asnumpy().tolist() == [0, 1]


def test_ndarray_iter_shuffle_follows_numpy_seed():
    np.random.seed(3)
    a = [b.data[0].asnumpy().tolist() for b in NDArrayIter(np.arange(9), batch_size=3,
                                                             shuffle=True)]
    np.random.seed(3)
    b = [b.data[0].asnumpy().tolist() for b in NDArrayIter(np.arange(9), batch_size=3,
                                                             shuffle=True)]
    assert a == b and sorted(sum(a, [])) == list(range(9)) and sum(a, []) != list(range(9))


@pytest.mark.parametrize("kwargs, err, words", [
    (dict(data=np.ones((4, 2)), label=np.ones(5)), ValueError, "same number of examples"),
    (dict(data=np.ones((4, 2)), last_batch_handle="drop"), ValueError, "last_batch_handle"),
    (dict(data=np.ones((4, 2)), batch_size=0), ValueError, "batch_size"),
    (dict(data=np.ones((4, 2)), layout="TC"), ValueError, "layout"),
    (dict(data=None), AssertionError, "data"),
    (dict(data="abc"), TypeError, "str"),
    (dict(data={"x": object()}), TypeError, "'x'"),
])
def test_ndarray_iter_bad_input(kwargs, err, words):
    with pytest.raises(err, match=words):
        NDArrayIter(**kwargs)


def test_data_desc():
    d = DataDesc("x", (1, 2))
    assert repr(d) == "DataDesc[x,(1, 2),<class 'numpy.float32'>,NCHW]"
    assert d == ("x", (1, 2)) and tuple(d) == ("x", (1, 2)) and d.layout == "NCHW"
    name, shape = DataDesc("y", (3,), np.int32, "NT")
    assert (name, shape) == ("y", (3,))
    assert DataDesc.get_batch_axis("TNC") == 1 and DataDesc.get_batch_axis(None) == 0
    descs = DataDesc.get_list([("a", (1, 2)), ("b", (3,))], [("a", np.int32), ("b", np.float16)])
    assert [(x.name, x.dtype) for x in descs] == [("a", np.int32), ("b", np.float16)]
    assert DataDesc.get_list([("a", (1,))], None)[0].dtype is np.float32


def test_data_batch_str_and_checks():
    b = DataBatch([mx.nd.ones((2, 3))], [mx.nd.ones((2,))], bucket_key=5)
    assert str(b) == "DataBatch: data shapes: [(2, 3)] label shapes: [(2,)]"
    assert str(DataBatch([mx.nd.ones((2, 3))])).endswith("label shapes: None")
    assert b.bucket_key == 5 and b.pad is None and b.provide_data is None
    with pytest.raises(AssertionError, match="data must be a list"):
        DataBatch(mx.nd.ones((2, 3)))


def test_data_iter_subclass_protocol():
    class Countdown(DataIter):
        def __init__(self):
            super().__init__(batch_size=1)
            self.n = 3

        def iter_next(self):
            self.n -= 1
            return self.n >= 0

        def getdata(self):
            return [mx.nd.full((1,), self.n)]

        def getlabel(self):
            return []

        def getpad(self):
            return 0

    assert [b.data[0].asscalar() for b in Countdown()] == [2, 1, 0]
    assert list(DataIter()) == []


def test_resize_iter():
    inner = NDArrayIter(np.arange(10, dtype=np.float32), batch_size=4, last_batch_handle="discard")
    it = ResizeIter(inner, 5)
    got = [b.data[0].asnumpy().tolist() for b in it]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7]] * 2 + [[0, 1, 2, 3]]
    it.reset()
    assert next(it).data[0].asnumpy().tolist() == [0, 1, 2, 3]
    no_reset = ResizeIter(NDArrayIter(np.arange(8, dtype=np.float32), batch_size=4), 1,
                          reset_internal=False)
    list(no_reset)
    no_reset.reset()
    assert next(no_reset).data[0].asnumpy().tolist() == [4, 5, 6, 7]
    assert it.provide_data == inner.provide_data and it.batch_size == 4


def test_prefetching_iter_renames_and_joins():
    a = NDArrayIter({"data": np.arange(10, dtype=np.float32)}, np.zeros(10), batch_size=4)
    b = NDArrayIter({"data": -np.arange(10, dtype=np.float32)}, batch_size=4)
    it = PrefetchingIter([a, b], rename_data=[{"data": "d1"}, {"data": "d2"}])
    assert [d.name for d in it.provide_data] == ["d1", "d2"]
    assert [d.name for d in it.provide_label] == ["softmax_label"]
    assert it.batch_size == 4
    for _ in range(2):
        batches = list(it)
        assert [x.pad for x in batches] == [0, 0, 2]
        assert batches[1].data[0].asnumpy().tolist() == [4, 5, 6, 7]
        assert batches[1].data[1].asnumpy().tolist() == [-4, -5, -6, -7]
        assert len(batches[1].label) == 1
        assert [d.name for d in batches[0].provide_data] == ["d1", "d2"]
        it.reset()
    it.close()
    assert not it._thread.is_alive()


def test_prefetching_iter_runs_ahead_on_another_thread():
    seen = []

    class Recording(NDArrayIter):
        def next(self):
            seen.append(threading.current_thread() is threading.main_thread())
            return super().next()

    it = PrefetchingIter(Recording(np.arange(4, dtype=np.float32), batch_size=2))
    assert len(list(it)) == 2 and seen and not any(seen)
    it.close()


def test_prefetching_iter_mismatch_and_errors():
    short = NDArrayIter(np.arange(4, dtype=np.float32), batch_size=2)
    long = NDArrayIter(np.arange(6, dtype=np.float32), batch_size=2)
    it = PrefetchingIter([short, long])
    with pytest.raises(AssertionError, match="different numbers of batches"):
        list(it)
    it.close()

    class Broken(NDArrayIter):
        def next(self):
            raise RuntimeError("disk on fire")

    it = PrefetchingIter(Broken(np.arange(4, dtype=np.float32), batch_size=2))
    with pytest.raises(RuntimeError, match="disk on fire"):
        next(it)
    it.close()
    with pytest.raises(ValueError, match="rename_data"):
        PrefetchingIter([short], rename_data=[{}, {}])


def test_prefetching_iter_keeps_bucket_key():
    from bucketmod.rnn.io import BucketSentenceIter
    sents = [[1, 2, 3]] * 4 + [[1, 2, 3, 4, 5]] * 4
    inner = BucketSentenceIter(sents, batch_size=2)
    it = PrefetchingIter(inner)
    assert it.default_bucket_key == 5
    keys = sorted(b.bucket_key for b in it)
    assert keys == [3, 3, 5, 5]
    it.close()


def test_prefetching_iter_thread_ends_when_collected():
    it = PrefetchingIter(NDArrayIter(np.arange(8, dtype=np.float32), batch_size=2))
    next(it)
    thread = it._thread
    del it
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_prefetching_iter_reset_mid_epoch():
    it = PrefetchingIter(NDArrayIter(np.arange(8, dtype=np.float32), batch_size=2))
    next(it)
    it.reset()
    assert [b.data[0].asnumpy().tolist() for b in it] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert not it.iter_next()
    it.close()
    it.close()


_EXIT_WHILE_FETCHING = """
import torch
import bucketmod as mx

class Slow(mx.io.DataIter):
    provide_data = [mx.io.DataDesc("data", (2, 2))]
    provide_label = []

    def next(self):
        a = torch.ones(256, 256)
        for _ in range(200):
            a = (a @ a).clamp_(-1, 1)
        return mx.io.DataBatch([mx.nd.array(a[:2, :2])], [])

it = mx.io.PrefetchingIter(Slow(2))
next(it)  # the worker starts the next fetch, in torch, as the interpreter exits
"""


def test_prefetching_iter_exit_while_fetching():
    done = subprocess.run([sys.executable, "-c", _EXIT_WHILE_FETCHING], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]


def test_ndarray_iter_parts_are_equal_and_disjoint():
    parts = [NDArrayIter(DATA10, LABEL10, batch_size=2, num_parts=3, part_index=k)
             for k in range(3)]
    labels = [[b.label[0].asnumpy().ravel().tolist() for b in it] for it in parts]
    assert labels == [[[0, 10], [20, 0]], [[30, 40], [50, 30]], [[60, 70], [80, 60]]]
    assert [b.pad for b in parts[2]] == []          # consumed above
    parts[2].reset()
    assert [b.pad for b in parts[2]] == [0, 1]
    assert parts[0].provide_data[0].shape == (2, 2, 2)
    for kwargs, words in (({"num_parts": 0}, "at least 1"),
                          ({"num_parts": 2, "part_index": 2}, r"part_index must be in \[0, 2\)"),
                          ({"num_parts": 11}, "10 examples cannot be split into 11"),
                          ({"num_parts": 2.0}, "num_parts must be an int")):
        with pytest.raises(ValueError, match=words):
            NDArrayIter(DATA10, LABEL10, batch_size=2, **kwargs)


def test_shard_iter_gives_each_part_every_nth_batch():
    full = [b.label[0].asnumpy().ravel().tolist()
            for b in NDArrayIter(DATA10, LABEL10, batch_size=2)]
    shards = [mx.io.ShardIter(NDArrayIter(DATA10, LABEL10, batch_size=2), 2, k)
              for k in range(2)]
    for _ in range(2):
        got = [[b.label[0].asnumpy().ravel().tolist() for b in it] for it in shards]
        assert got == [full[0:4:2], full[1:4:2]]   # the 5th batch has no partner: left out
        for it in shards:
            it.reset()
    assert shards[0].batch_size == 2 and shards[0].provide_label[0].name == "softmax_label"
    with pytest.raises(ValueError, match="part_index must be in"):
        mx.io.ShardIter(NDArrayIter(DATA10, batch_size=2), 2, -1)


def test_prefetching_iter_serves_several_consumers():
    it = PrefetchingIter(NDArrayIter(np.arange(80, dtype=np.float32), batch_size=2))
    got, lock = [], threading.Lock()

    def consume():
        for batch in it:
            with lock:
                got.append(int(batch.data[0].asnumpy()[0]))

    for _ in range(3):
        threads = [threading.Thread(target=consume) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads), "a consumer is blocked"
        assert sorted(got) == list(range(0, 80, 2))
        got.clear()
        it.reset()
    it.close()


def test_prefetching_iter_error_repeats_until_reset():
    class FailsOnce(NDArrayIter):
        calls = 0

        def next(self):
            FailsOnce.calls += 1
            if FailsOnce.calls == 2:
                raise RuntimeError("disk on fire")
            return super().next()

    it = PrefetchingIter(FailsOnce(np.arange(8, dtype=np.float32), batch_size=2))
    assert next(it).data[0].asnumpy().tolist() == [0, 1]
    for _ in range(3):
        with pytest.raises(RuntimeError, match="disk on fire"):
            next(it)
    with pytest.raises(RuntimeError, match="disk on fire"):
        it.iter_next()
    it.reset()
    assert len(list(it)) == 4
    it.close()
    with pytest.raises(mx.MXNetError, match="worker thread has ended"):
        it.reset()
        next(it)


_EXIT_WHILE_BLOCKED = """
import threading
import bucketmod as mx

class Blocking(mx.io.DataIter):
    provide_data = [mx.io.DataDesc("data", (2, 2))]
    provide_label = []

    def next(self):
        threading.Event().wait()

it = mx.io.PrefetchingIter(Blocking(2))
print("exiting", flush=True)
"""


def test_prefetching_iter_blocked_in_the_wrapped_iterator_does_not_block_exit():
    done = subprocess.run([sys.executable, "-c", _EXIT_WHILE_BLOCKED], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and "exiting" in done.stdout, done.stderr[-2000:]
