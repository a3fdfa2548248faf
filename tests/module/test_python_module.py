"""PythonModule and PythonLossModule: the do-nothing defaults, the loss gradient (default and
grad_func), MXNet 1.9.1's exception types (tests/golden/make_sequential.py), and a Python loss
training exactly like SoftmaxOutput."""
import json
import pathlib

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.base import MXNetError
from bucketmod.module.python_module import softmax_ce_grad

DATA = pathlib.Path(__file__).resolve().parent.parent / "golden" / "data" / "sequential"
FACTS = json.loads((DATA / "behaviour.json").read_text())
BATCH = 8


def bound_loss(classes=3, **kwargs):
    loss = mx.mod.PythonLossModule(**kwargs)
    loss.bind([("data", (BATCH, classes))], [("softmax_label", (BATCH,))])
    return loss


def batch_of(scores, labels=None):
    return mx.io.DataBatch([mx.nd.array(scores)], None if labels is None else
                           [mx.nd.array(labels)])


@pytest.mark.parametrize("shape", [(BATCH, 3), (2, 5, 7), (1, 1)], ids=str)
def test_softmax_ce_grad(shape):
    torch.manual_seed(42)
    scores = torch.randn(*shape, dtype=torch.float64)
    labels = torch.randint(0, shape[-1], shape[:-1])
    leaf = scores.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(leaf.reshape(-1, shape[-1]), labels.reshape(-1),
                                      reduction="sum").backward()
    grad = softmax_ce_grad(mx.nd.array(scores.numpy(), dtype="float64"),
                           mx.nd.array(labels.numpy().astype(np.float32)))
    assert grad.shape == shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad.asnumpy(), leaf.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_softmax_ce_grad_label_count():
    with pytest.raises(ValueError, match=r"labels: expected 8 class indices.*\(8, 3\).*\(7,\)"):
        softmax_ce_grad(mx.nd.zeros((BATCH, 3)), np.zeros(7))


def test_python_loss_forward_backward():
    loss = bound_loss()
    assert loss.output_names == FACTS["pyloss_output_names"]
    assert [[n, list(s)] for n, s in loss.output_shapes] == FACTS["pyloss_output_shapes"]
    assert loss.binded and loss.data_names == ["data"] and loss.label_names == ["softmax_label"]
    scores = np.random.RandomState(0).randn(BATCH, 3).astype(np.float32)
    labels = np.arange(BATCH) % 3
    loss.forward(batch_of(scores, labels))
    np.testing.assert_array_equal(loss.get_outputs()[0].asnumpy(), scores)
    loss.backward()
    expected = softmax_ce_grad(mx.nd.array(scores), labels).asnumpy()
    np.testing.assert_allclose(loss.get_input_grads()[0].asnumpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(expected.sum(axis=1), 0, atol=1e-6)


@pytest.mark.parametrize("as_numpy", [True, False], ids=["numpy", "ndarray"])
def test_grad_func(as_numpy):
    seen = []

    def grad_func(scores, labels):
        seen.append((type(scores), type(labels)))
        grad = scores.asnumpy() * 2 - labels.asnumpy()[:, None]
        return grad if as_numpy else mx.nd.array(grad)

    loss = bound_loss(grad_func=grad_func)
    scores = np.ones((BATCH, 3), dtype=np.float32)
    loss.forward(batch_of(scores, np.ones(BATCH)), is_train=True)
    loss.backward()
    assert seen == [(mx.nd.NDArray, mx.nd.NDArray)]
    grad = loss.get_input_grads()[0]
    assert isinstance(grad, mx.nd.NDArray) and grad.dtype == np.float32
    np.testing.assert_array_equal(grad.asnumpy(), np.ones((BATCH, 3)))


def test_grad_func_wrong_shape():
    loss = bound_loss(grad_func=lambda scores, labels: np.zeros((BATCH, 4)))
    loss.forward(batch_of(np.zeros((BATCH, 3)), np.zeros(BATCH)))
    with pytest.raises(MXNetError, match=r"'pyloss'.*\(8, 4\).*\(8, 3\)"):
        loss.backward()
    with pytest.raises(AssertionError, match="backward"):
        loss.get_input_grads()


def test_constructor_errors():
    assert FACTS["pyloss_two_data_names"] == "AssertionError"
    with pytest.raises(AssertionError, match=r"data_names.*exactly one.*\('a', 'b'\)"):
        mx.mod.PythonLossModule(data_names=("a", "b"))
    with pytest.raises(AssertionError, match="label_names"):
        mx.mod.PythonLossModule(label_names=())
    assert FACTS["pyloss_grad_func_not_callable"] == "AssertionError"
    with pytest.raises(AssertionError, match="grad_func: expected a callable, got int"):
        mx.mod.PythonLossModule(grad_func=3)


def test_bind_errors_leave_module_unbound():
    assert FACTS["pyloss_bind_wrong_name"] == "AssertionError"
    loss = mx.mod.PythonLossModule()
    with pytest.raises(AssertionError, match=r"expects data named \['data'\], got \['x'\]"):
        loss.bind([("x", (BATCH, 3))])
    with pytest.raises(AssertionError, match=r"labels named \['softmax_label'\], got \['y'\]"):
        loss.bind([("data", (BATCH, 3))], [("y", (BATCH,))])
    assert FACTS["pyloss_bind_grad_req_add"] == "AssertionError"
    with pytest.raises(AssertionError, match="grad_req.*'write'.*'add'"):
        loss.bind([("data", (BATCH, 3))], grad_req="add")
    assert not loss.binded and loss.output_shapes is None


def test_usage_errors():
    loss = mx.mod.PythonLossModule()
    with pytest.raises(AssertionError, match="bind"):
        loss.forward(batch_of(np.zeros((BATCH, 3))))
    loss = bound_loss()
    with pytest.raises(ValueError, match="needs data_batch.label"):
        loss.forward(batch_of(np.zeros((BATCH, 3))), is_train=True)
    loss.forward(batch_of(np.zeros((BATCH, 3))), is_train=False)
    assert FACTS["pyloss_backward_out_grads"] == "AssertionError"
    with pytest.raises(AssertionError, match="out_grads should be None"):
        loss.backward(mx.nd.ones((BATCH, 3)))
    with pytest.raises(AssertionError, match="forward"):
        loss.backward()
    with pytest.raises(AssertionError, match="merge_multi_context"):
        loss.get_outputs(merge_multi_context=False)


def test_do_nothing_defaults():
    module = mx.mod.PythonModule(["data"], None, ["out"])
    assert [len(d) for d in module.get_params()] == FACTS["pyloss_get_params"]
    module.bind([("data", (BATCH, 3))], for_training=True)
    module.init_params()
    module.init_optimizer()
    module.update()
    module.install_monitor(mx.monitor.Monitor(1))
    assert module.params_initialized and module.optimizer_initialized
    assert module.output_shapes == [("out", (BATCH, 3))] and module.label_shapes is None
    x = mx.nd.array(np.arange(BATCH * 3).reshape(BATCH, 3))
    module.forward(mx.io.DataBatch([x]))
    assert module.get_outputs()[0] is x
    module.backward([x * 2])
    np.testing.assert_array_equal(module.get_input_grads()[0].asnumpy(), x.asnumpy() * 2)
    with pytest.raises(AssertionError, match="give out_grads"):
        module.backward()
    metric = mx.metric.Accuracy()
    module.update_metric(metric, [mx.nd.zeros((BATCH,))])
    assert metric.num_inst == 0


def test_output_shapes_need_override():
    module = mx.mod.PythonModule(["a"], None, ["b", "c"])
    with pytest.raises(MXNetError, match=r"2 outputs \['b', 'c'\] from 1 data.*override"):
        module.bind([("a", (BATCH, 3))])
    assert not module.binded


class Scale(mx.mod.PythonModule):
    """y = 3x in Python, between two symbolic modules."""

    def forward(self, data_batch, is_train=None):
        self._outputs = [data_batch.data[0] * 3]

    def backward(self, out_grads=None):
        self._input_grads = [out_grads[0] * 3]


def test_python_module_subclass_in_chain():
    """Module(fc1) -> Scale -> Module(fc2, SoftmaxOutput) has the gradients of the net with a
    `* 3` between the layers."""
    fc1 = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc1")
    fc2 = mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=3, name="fc2")
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(fc1, label_names=None))
    seq.add(Scale(["scaled"], None, ["scale_output"]), auto_wiring=True)
    seq.add(mx.mod.Module(mx.sym.SoftmaxOutput(fc2, name="softmax"), data_names=["x"]),
            take_labels=True, auto_wiring=True)
    whole = mx.mod.Module(mx.sym.SoftmaxOutput(mx.sym.FullyConnected(
        fc1 * 3, num_hidden=3, name="fc2"), name="softmax"))
    rng = np.random.RandomState(1)
    params = {"fc1_weight": rng.randn(4, 5), "fc1_bias": rng.randn(4),
              "fc2_weight": rng.randn(3, 4), "fc2_bias": rng.randn(3)}
    params = {k: mx.nd.array(v) for k, v in params.items()}
    batch = mx.io.DataBatch([mx.nd.array(rng.randn(BATCH, 5))],
                            [mx.nd.array(rng.randint(0, 3, BATCH))])
    for mod in (seq, whole):
        mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
        mod.init_params(arg_params=params)
        mod.forward_backward(batch)
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), whole.get_outputs()[0].asnumpy(),
                               rtol=1e-5, atol=1e-6)
    grads = {**seq.modules[0].get_grads(), **seq.modules[2].get_grads()}
    for name, grad in whole.get_grads().items():
        np.testing.assert_allclose(grads[name].asnumpy(), grad.asnumpy(), rtol=1e-5, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_python_loss_trains_like_softmax_output(optimizer):
    """Module(no loss) -> PythonLossModule (default gradient) reaches the parameters of the
    same net ending in SoftmaxOutput."""
    rng = np.random.RandomState(3)
    x = rng.randn(40, 6).astype(np.float32)
    y = rng.randint(0, 4, 40).astype(np.float32)
    init = {"fc1_weight": rng.uniform(-0.5, 0.5, (8, 6)), "fc1_bias": np.zeros(8),
            "fc2_weight": rng.uniform(-0.5, 0.5, (4, 8)), "fc2_bias": np.zeros(4)}

    def net():
        hidden = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=8,
                                                         name="fc1"), act_type="tanh")
        return mx.sym.FullyConnected(hidden, num_hidden=4, name="fc2")

    chain = mx.mod.SequentialModule()
    chain.add(mx.mod.Module(net(), label_names=None))
    chain.add(mx.mod.PythonLossModule(), take_labels=True, auto_wiring=True)
    single = mx.mod.Module(mx.sym.SoftmaxOutput(net(), name="softmax"))
    results = []
    for mod in (chain, single):
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), num_epoch=3, optimizer=optimizer,
                optimizer_params={"learning_rate": 0.05},
                arg_params={k: mx.nd.array(v) for k, v in init.items()}, eval_metric="acc")
        results.append(mod.get_params()[0])
    for name in init:
        assert not np.allclose(results[1][name].asnumpy(), init[name])
        np.testing.assert_allclose(results[0][name].asnumpy(), results[1][name].asnumpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
