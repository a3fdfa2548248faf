"""A training step reads nothing back to the host: forward, backward, update and the metric
update run under `forbid_host_sync`, which makes every host read of a tensor raise."""
import numpy as np
import pytest

import bucketmod as mx
from bucketmod.testing import HostSyncError, forbid_host_sync

V, H, N = 20, 8, 4


def lm_sym_gen(cell):
    def sym_gen(seq_len):
        stack = mx.rnn.SequentialRNNCell()
        for i in range(2):
            stack.add(cell(i))
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=V, output_dim=H, name="embed")
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, H)), num_hidden=V,
                                     name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        return mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax"), ("data",), \
            ("softmax_label",)
    return sym_gen


CELLS = {"lstm": lambda i: mx.rnn.LSTMCell(H, prefix=f"l{i}_"),
         "gru": lambda i: mx.rnn.GRUCell(H, prefix=f"g{i}_"),
         "rnn": lambda i: mx.rnn.RNNCell(H, prefix=f"r{i}_")}


def batches(rng, keys):
    for key in keys:
        data = rng.randint(1, V, size=(N, key)).astype(np.float32)
        label = np.concatenate([data[:, 1:], np.zeros((N, 1), np.float32)], axis=1)
        yield mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)], bucket_key=key,
                              provide_data=[mx.io.DataDesc("data", (N, key))],
                              provide_label=[mx.io.DataDesc("softmax_label", (N, key))])


@pytest.mark.parametrize("cell,optimizer,params", [
    ("lstm", "sgd", {"momentum": 0.9, "wd": 1e-4}), ("gru", "sgd", {}),
    ("rnn", "nag", {"momentum": 0.9}), ("lstm", "adam", {"clip_gradient": 1.0})])
def test_bucketing_training_step_has_no_host_sync(cell, optimizer, params):
    rng = np.random.RandomState(0)
    mod = mx.mod.BucketingModule(lm_sym_gen(CELLS[cell]), default_bucket_key=6)
    mod.bind([mx.io.DataDesc("data", (N, 6))], [mx.io.DataDesc("softmax_label", (N, 6))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer=optimizer, optimizer_params=params)
    metric = mx.metric.Perplexity(0)
    keys = [6, 3, 6, 4]
    for batch in batches(rng, keys[:2]):
        mod.prepare(batch)
        mod.forward_backward(batch)
        mod.update()
    for batch in batches(rng, keys):
        mod.prepare(batch)
        with forbid_host_sync():
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(metric, batch.label)
    name, value = metric.get()
    assert name == "perplexity" and np.isfinite(value) and value > 1.0


@pytest.mark.parametrize("metric", ["acc", "ce", "nll_loss", "top_k_accuracy", "mse", "mae",
                                    "rmse", "loss"])
def test_module_metrics_update_without_host_sync(metric):
    rng = np.random.RandomState(1)
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=5, name="fc")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(net)
    mod.bind([("data", (N, 3))], [("softmax_label", (N,))])
    mod.init_params()
    mod.init_optimizer()
    m = mx.metric.create(metric) if metric != "top_k_accuracy" else \
        mx.metric.TopKAccuracy(top_k=2)
    x = mx.nd.array(rng.randn(N, 3))
    y = mx.nd.array(rng.randint(0, 5, size=N))
    batch = mx.io.DataBatch([x], [y])
    with forbid_host_sync():
        for _ in range(2):
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(m, batch.label)
    assert np.isfinite(m.get()[1])


def test_forbid_host_sync_catches_reads():
    t = mx.nd.ones((3,)).tensor
    with forbid_host_sync():
        for read in (lambda: t.sum().item(), lambda: bool(t.any()), lambda: t[t > 0],
                     lambda: t.tolist(), lambda: float(t[0])):
            with pytest.raises(HostSyncError):
                read()
    assert t.sum().item() == 3.0
