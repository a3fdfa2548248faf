"""The CUDA-graph training step, checked on the CPU with a stand-in for the graph: capturing
leaves every tensor as it was (as a real capture, which only records), replaying re-runs the
captured step. Training with graphs must then equal training without them, step for step;
the largest bucket is captured first; anything a graph cannot hold stays eager."""
import random

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.module.cuda_graph import CudaGraphs

V, H, N = 17, 6, 4


class StandInGraphs:
    """Records like torch.cuda.graph: the captured function's effects on `state()` are undone
    (a capture computes nothing), and replay runs it."""

    def __init__(self, state, shapes=lambda: None):
        self.state = state
        self.shapes = shapes
        self.captured = []
        self.replays = 0

    def capture(self, fn):
        self.captured.append(self.shapes())
        saved = [t.clone() for t in self.state()]
        fn()
        with torch.no_grad():
            for t, s in zip(self.state(), saved):
                t.copy_(s)

        def replay():
            self.replays += 1
            fn()
        return replay


def module_state(mod):
    args, aux = mod.get_param_arrays()
    updater = mod._curr_module._updater if hasattr(mod, "_curr_module") else mod._updater
    tensors = [a.tensor for a in list(args.values()) + list(aux.values())]
    tensors += [g.tensor for g in mod.get_grads().values()]
    for state in updater.states.values():
        for s in state if isinstance(state, tuple) else [state]:
            if s is not None:
                tensors.append(s.tensor)
    return tensors


def sym_gen(seq_len):
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(H, prefix="l0_"))
    data = mx.sym.Variable("data")
    embed = mx.sym.Embedding(data=data, input_dim=V, output_dim=H, name="embed")
    outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
    pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, H)), num_hidden=V,
                                 name="pred")
    label = mx.sym.Reshape(mx.sym.Variable("softmax_label"), shape=(-1,))
    return mx.sym.SoftmaxOutput(pred, label=label, name="softmax"), ("data",), \
        ("softmax_label",)


def train(graphs, optimizer="sgd", params=None, epochs=2):
    random.seed(3)
    np.random.seed(3)
    mx.random.seed(3)
    rng = np.random.RandomState(3)
    sentences = [list(rng.randint(1, V, size=rng.randint(2, 9))) for _ in range(60)]
    it = mx.rnn.BucketSentenceIter(sentences, N, buckets=[3, 6, 8], invalid_label=0)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=it.default_bucket_key)
    backend = None
    if graphs:
        backend = StandInGraphs(lambda: module_state(mod), lambda: mod.data_shapes[0].shape)
        mod._cuda_graphs.backend = backend
    else:
        mod.cuda_graphs = False
    metric = mx.metric.Perplexity(0)
    mod.fit(it, eval_metric=metric, optimizer=optimizer,
            optimizer_params=params or {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4},
            initializer=mx.init.Xavier(), num_epoch=epochs)
    args, _ = mod.get_params()
    return {k: v.asnumpy() for k, v in args.items()}, metric.get_global()[1], backend, mod


@pytest.mark.parametrize("optimizer,params", [
    ("sgd", None), ("adam", {"learning_rate": 0.01, "clip_gradient": 1.0})])
def test_graph_replays_train_exactly_as_eager_steps(optimizer, params):
    eager, ppl_eager, _, _ = train(False, optimizer, params)
    graphed, ppl_graphed, backend, mod = train(True, optimizer, params)
    assert len(backend.captured) == 3 and backend.replays > 10
    for name, value in eager.items():
        np.testing.assert_allclose(graphed[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    assert ppl_graphed == pytest.approx(ppl_eager, rel=1e-6)


def test_default_bucket_is_captured_first():
    _, _, backend, _ = train(True, epochs=1)
    assert backend.captured[0] == (N, 8) and sorted(backend.captured) == [(N, 3), (N, 6),
                                                                           (N, 8)]


def test_what_a_graph_cannot_hold_stays_eager():
    policy = CudaGraphs()
    data = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3), name="softmax")
    mod = mx.mod.Module(net)
    mod.bind([("data", (2, 4))], [("softmax_label", (2,))])
    mod.init_params()
    mod.init_optimizer(optimizer="sgd")
    assert "is not a GPU" in policy.unsupported_reason(mod)
    policy.backend = StandInGraphs(lambda: [])
    assert policy.unsupported_reason(mod) is None
    mod.init_optimizer(optimizer="rmsprop", force_init=True)
    assert "no multi-tensor step" in policy.unsupported_reason(mod)
    policy.enabled = False
    assert "turned off" in policy.unsupported_reason(mod)
