"""The single-process stores ('local', 'device') and what the dist stores share with them: one
flat buffer per dtype in initialisation order, MXNet's push/pull/pushpull/updater semantics,
clear refusals (row_sparse_pull, gradient compression, dist_async), the DMLC_* environment and
metrics reduced over workers (with the other worker's statistics given in-process)."""
import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.kvstore import dist as kv_dist
from bucketmod.kvstore.flat import FlatLayout
from bucketmod.kvstore.metric_sync import _stats, reduce_metric


def test_flat_layout_one_buffer_per_dtype_in_key_order():
    shapes = [torch.Size([2, 3]), torch.Size([4]), torch.Size([5])]
    dtypes = [torch.float32, torch.float64, torch.float32]
    layout = FlatLayout(shapes, dtypes, torch.device("cpu"))
    assert [(d, p, b.numel()) for d, p, b in layout.groups] == [
        (torch.float32, [0, 2], 11), (torch.float64, [1], 4)]
    values = [[torch.full(s, float(i + c), dtype=d) for c in range(3)]
              for i, (s, d) in enumerate(zip(shapes, dtypes))]
    layout.gather_sum(values)
    assert layout.views[1].data_ptr() == layout.groups[1][2].data_ptr()
    outs = [[torch.zeros(s, dtype=d) for _ in range(2)] for s, d in zip(shapes, dtypes)]
    layout.scatter(outs)
    for i, per_key in enumerate(outs):
        for out in per_key:
            torch.testing.assert_close(out, torch.full_like(out, 3.0 * i + 3.0))


def test_pushpull_sums_contexts_in_one_call_whatever_the_key_order():
    kv = mx.kv.create("device")
    kv.init(["w", "b", 3], [mx.nd.zeros((2, 3)), mx.nd.zeros((4,), dtype="float64"),
                            mx.nd.zeros((1,))])
    grads = [[mx.nd.ones((4,), dtype="float64") * (c + 1) for c in range(2)],
             [mx.nd.ones((2, 3)) * (c + 1) for c in range(2)]]
    kv.pushpull(["b", "w"], grads)
    for per_key in grads:
        for g in per_key:
            np.testing.assert_array_equal(g.asnumpy(), np.full(g.shape, 3.0))
    assert grads[0][0].dtype == np.float64
    out = mx.nd.zeros((2, 3))
    kv.pull("w", out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 3), 3.0))


def test_allreduce_leaves_the_store_and_optimizer_alone():
    kv = mx.kv.create("local")
    kv.init("w", mx.nd.ones((3,)) * 7)
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=1.0))
    grads = [mx.nd.ones((3,)), mx.nd.ones((3,)) * 2]
    kv.allreduce("w", grads)
    assert [g.asnumpy().tolist() for g in grads] == [[3.0] * 3, [3.0] * 3]
    out = mx.nd.zeros((3,))
    kv.pull("w", out=out)
    assert out.asnumpy().tolist() == [7.0] * 3


def test_push_with_optimizer_and_with_a_custom_updater():
    kv = mx.kv.create("local")
    kv.init(["a", "b"], [mx.nd.ones((2,)), mx.nd.ones((2,))])
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5))
    kv.push(["a", "b"], [[mx.nd.ones((2,)), mx.nd.ones((2,))], mx.nd.ones((2,)) * 4])
    outs = [mx.nd.zeros((2,)), mx.nd.zeros((2,))]
    kv.pull(["a", "b"], out=outs)
    assert [o.asnumpy().tolist() for o in outs] == [[0.0, 0.0], [-1.0, -1.0]]
    seen = []

    def update(key, value, stored):
        seen.append(key)
        stored[:] = stored.asnumpy() + 2 * value.asnumpy()
    kv._set_updater(update)
    kv.push("b", mx.nd.ones((2,)))
    kv.pull("b", out=outs[1])
    assert seen == [1] and outs[1].asnumpy().tolist() == [1.0, 1.0]


def test_push_without_optimizer_stores_the_sum_and_init_checks():
    kv = mx.kv.create()
    kv.init(5, mx.nd.zeros((2,)))
    kv.pushpull(5, [mx.nd.ones((2,)), mx.nd.ones((2,)) * 3], out=mx.nd.zeros((2,)))
    out = mx.nd.zeros((2,))
    kv.pull(5, out=out)
    assert out.asnumpy().tolist() == [4.0, 4.0]
    with pytest.raises(mx.MXNetError, match="already initialised"):
        kv.init(5, mx.nd.zeros((2,)))
    with pytest.raises(mx.MXNetError, match="not been initialised"):
        kv.push(6, mx.nd.zeros((2,)))
    with pytest.raises(mx.MXNetError, match=r"holds shape \(2,\), got a value of shape"):
        kv.push(5, mx.nd.zeros((3,)))
    with pytest.raises(ValueError, match="one entry per key"):
        kv.push([5, 6], [mx.nd.zeros((2,))])


def test_refusals_name_the_alternative():
    kv = mx.kv.create("local")
    kv.init("w", mx.nd.zeros((2,)))
    with pytest.raises(mx.MXNetError, match="dense arrays only.*use pull"):
        kv.row_sparse_pull("w", out=mx.nd.zeros((2,)), row_ids=mx.nd.array([0]))
    with pytest.raises(mx.MXNetError, match="does not compress gradients"):
        kv.set_gradient_compression({"type": "2bit", "threshold": 0.5})
    with pytest.raises(mx.MXNetError, match="use 'dist_sync'"):
        mx.kv.create("dist_async")
    with pytest.raises(ValueError, match="unknown type 'horovod'"):
        mx.kv.create("horovod")
    with pytest.raises(TypeError, match="expected a str"):
        mx.kv.create(3)
    assert kv.is_capable("optimizer") and kv.num_dead_node(4) == 0
    with pytest.raises(ValueError, match="unknown capability"):
        kv.is_capable("sparse")


def test_compression_params_reach_the_kvstore():
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2),
                               name="softmax")
    mod = mx.mod.Module(net, context=[mx.cpu(0), mx.cpu(1)],
                        compression_params={"type": "2bit", "threshold": 0.5})
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))])
    mod.init_params()
    with pytest.raises(mx.MXNetError, match="does not compress gradients"):
        mod.init_optimizer(kvstore="device")


def _clear_launch_env(monkeypatch):
    for name in [n for pair in kv_dist._DMLC for n in pair] + ["DMLC_ROLE"]:
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)


def test_environment_maps_dmlc_variables(monkeypatch):
    _clear_launch_env(monkeypatch)
    assert kv_dist._environment() is False
    for name, value in (("DMLC_PS_ROOT_URI", "10.0.0.1"), ("DMLC_PS_ROOT_PORT", "9091"),
                        ("DMLC_NUM_WORKER", "4"), ("DMLC_WORKER_ID", "2"),
                        ("DMLC_ROLE", "worker")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", "29500")
    assert kv_dist._environment() is True
    import os
    assert [os.environ[n] for n in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")] == [
        "10.0.0.1", "29500", "4", "2"]


def test_environment_errors(monkeypatch):
    _clear_launch_env(monkeypatch)
    monkeypatch.setenv("DMLC_ROLE", "server")
    with pytest.raises(mx.MXNetError, match="no server processes.*start only the workers"):
        kv_dist._environment()
    monkeypatch.setenv("DMLC_ROLE", "worker")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(mx.MXNetError,
                       match="RANK set but MASTER_ADDR, MASTER_PORT, WORLD_SIZE not"):
        kv_dist._environment()
    monkeypatch.setenv(kv_dist.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="BUCKETMOD_DIST_TIMEOUT: expected a positive number"):
        kv_dist._seconds(kv_dist.TIMEOUT_ENV, 1.0)


class _Pair:
    """A two-worker group seen from worker 0: all_gather returns this worker's statistics and
    those the other worker would send."""

    def __init__(self, other):
        self.other = torch.tensor([v for n in _nodes_stats(other) for v in n],
                                  dtype=torch.float64)

    def all_gather(self, tensor, what):
        return torch.stack([tensor, self.other])


def _nodes_stats(metric):
    from bucketmod.kvstore.metric_sync import _nodes
    return [_stats(n) for n in _nodes(metric)]


def _classification():
    return mx.metric.create(["acc", "ce", mx.metric.F1(average="micro"),
                             mx.metric.F1(average="macro"), mx.metric.MCC(average="micro")])


def _regression():
    return mx.metric.create(["mse", "mae", mx.metric.PearsonCorrelation(average="micro"),
                             mx.metric.PearsonCorrelation(average="macro")])


@pytest.mark.parametrize("make", [_classification, _regression])
def test_metric_reduction_equals_one_metric_over_all_batches(make):
    rng = np.random.RandomState(0)
    batches = []
    for size in (5, 3, 6):
        if make is _classification:
            pred = rng.rand(size, 2).astype(np.float32)
            pred /= pred.sum(1, keepdims=True)
            label = rng.randint(0, 2, size).astype(np.float32)
        else:
            label = rng.randn(size).astype(np.float32)
            pred = (label + rng.randn(size)).astype(np.float32)
        batches.append(([mx.nd.array(label)], [mx.nd.array(pred)]))
    mine, theirs, everything = make(), make(), make()
    for i, (label, pred) in enumerate(batches):
        (mine if i < 2 else theirs).update(label, pred)
        everything.update(label, pred)
    reduced = reduce_metric(mine, _Pair(theirs))
    names, values = reduced.get_global()
    expected_names, expected = everything.get_global()
    assert names == expected_names
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    np.testing.assert_allclose(reduced.get()[1], everything.get()[1], rtol=1e-9)
    assert not np.allclose(mine.get()[1], everything.get()[1])
    np.testing.assert_allclose(reduce_metric(mine, _Pair(make())).get()[1], mine.get()[1])


def test_perplexity_reduction():
    mine, theirs, everything = (mx.metric.Perplexity(ignore_label=0) for _ in range(3))
    rng = np.random.RandomState(1)
    for i in range(3):
        pred = mx.nd.array(rng.dirichlet(np.ones(4), 6).astype(np.float32))
        label = mx.nd.array(rng.randint(0, 4, 6).astype(np.float32))
        (mine if i == 0 else theirs).update([label], [pred])
        everything.update([label], [pred])
    reduced = reduce_metric(mine, _Pair(theirs))
    assert reduced.get()[1] == pytest.approx(everything.get()[1], rel=1e-12)
    assert reduced.get_global()[1] == pytest.approx(everything.get_global()[1], rel=1e-12)


def test_one_process_dist_sync_is_a_single_worker(monkeypatch):
    """Without torchrun's variables 'dist_sync' trains as the only worker: what 'local'
    gives, with the rescale of a one-worker global batch."""
    _clear_launch_env(monkeypatch)
    monkeypatch.setattr(kv_dist._Group, "_instance", None)
    kv = mx.kv.create("dist_sync")
    assert (kv.rank, kv.num_workers, kv.type) == (0, 1, "dist_sync")
    kv.init("w", mx.nd.ones((2,)))
    kv.barrier()
    value = mx.nd.ones((2,)) * 3
    kv.pushpull("w", value)
    assert value.asnumpy().tolist() == [3.0, 3.0]
    assert kv.reduce_metric(mx.metric.Accuracy()).get()[0] == "accuracy"
    assert kv_dist.writes_checkpoints()
