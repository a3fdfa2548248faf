"""SequentialModule: chains trained against MXNet 1.9.1 (tests/golden/make_sequential.py),
backward wiring against one equivalent Module, bucketed batches through a chain, and the
errors that name the module in the chain."""
import json
import pathlib
import random

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.base import MXNetError
from bucketmod.rnn.io import BucketSentenceIter

DATA = pathlib.Path(__file__).resolve().parent.parent / "golden" / "data" / "sequential"
GOLDEN = np.load(DATA / "cases.npz")
FACTS = json.loads((DATA / "behaviour.json").read_text())
INIT = {k[len("init:"):]: GOLDEN[k] for k in GOLDEN.files if k.startswith("init:")}
OPT_PARAMS = {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.001}
MLP_PARAMS = ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"]
BATCH, VOCAB, EMBED = 8, 7, 4


def body(with_fc2=False):
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=6, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    if with_fc2:
        net = mx.sym.FullyConnected(net, num_hidden=3, name="fc2")
    return net


def head(data_name="relu1_output"):
    net = mx.sym.FullyConnected(mx.sym.Variable(data_name), num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def sym_gen(seq_len):
    """Embedding -> Reshape -> FullyConnected, scores `[N, T, VOCAB]`; no loss."""
    embed = mx.sym.Embedding(mx.sym.Variable("data"), input_dim=VOCAB, output_dim=EMBED,
                             name="embed")
    pred = mx.sym.FullyConnected(mx.sym.Reshape(embed, shape=(-1, EMBED)), num_hidden=VOCAB,
                                 name="pred")
    return mx.sym.Reshape(pred, shape=(-1, seq_len, VOCAB)), ("data",), None


def two_modules():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(), label_names=None))
    return seq.add(mx.mod.Module(head(), data_names=["relu1_output"]), take_labels=True)


def init_of(names):
    return {n: mx.nd.array(INIT[n]) for n in names}


def assert_params(case, arg_params):
    for name, value in arg_params.items():
        np.testing.assert_allclose(value.asnumpy(), GOLDEN[f"{case}:{name}"], rtol=1e-5,
                                   atol=1e-6, err_msg=f"{case}: {name}")


def fit_mlp_chain(seq):
    x, y = GOLDEN["x"], GOLDEN["y"]
    seq.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), num_epoch=2, optimizer="sgd",
            optimizer_params=OPT_PARAMS, arg_params=init_of(MLP_PARAMS), aux_params={},
            eval_metric="acc")
    return seq.predict(mx.io.NDArrayIter(x, y, batch_size=BATCH)).asnumpy()


def test_fit_two_modules_matches_mxnet():
    seq = two_modules()
    pred = fit_mlp_chain(seq)
    arg_params, aux_params = seq.get_params()
    assert sorted(arg_params) == sorted(MLP_PARAMS) and aux_params == {}
    assert_params("two_modules", arg_params)
    np.testing.assert_allclose(pred, GOLDEN["two_modules:predict"], rtol=1e-5, atol=1e-6)
    assert seq.output_names == ["softmax_output"]
    assert seq.output_shapes == [("softmax_output", (BATCH, 3))]
    assert seq.data_names == ["data"] and seq.label_names == ["softmax_label"]
    assert [d[0] for d in seq.label_shapes] == ["softmax_label"]


def test_fit_module_then_python_loss_matches_mxnet():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(with_fc2=True), label_names=None))
    seq.add(mx.mod.PythonLossModule(), take_labels=True, auto_wiring=True)
    pred = fit_mlp_chain(seq)
    assert_params("pyloss", seq.get_params()[0])
    np.testing.assert_allclose(pred, GOLDEN["pyloss:predict"], rtol=1e-5, atol=1e-5)


def bucket_batch(key, data):
    label = np.roll(data, -1, axis=1)
    return mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)], pad=0, bucket_key=key,
                           provide_data=[mx.io.DataDesc("data", data.shape)],
                           provide_label=[mx.io.DataDesc("softmax_label", label.shape)])


def bucketed_chain():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.BucketingModule(sym_gen, default_bucket_key=5))
    return seq.add(mx.mod.PythonLossModule(), take_labels=True, auto_wiring=True)


def test_bucketing_then_python_loss_matches_mxnet():
    seq = bucketed_chain()
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH, 5))])
    seq.init_params(arg_params=init_of(["embed_weight", "pred_weight", "pred_bias"]))
    seq.init_optimizer(optimizer="sgd", optimizer_params=OPT_PARAMS)
    rows = {5: GOLDEN["rows5"].astype(np.float32), 3: GOLDEN["rows3"].astype(np.float32)}
    used, outputs = {5: 0, 3: 0}, []
    for key in (5, 3, 5, 3, 5):
        seq.forward(bucket_batch(key, rows[key][used[key]:used[key] + BATCH]), is_train=True)
        used[key] += BATCH
        assert seq.get_outputs()[0].shape == (BATCH, key, VOCAB)
        outputs.append(seq.get_outputs()[0].asnumpy().reshape(-1, VOCAB))
        seq.backward()
        seq.update()
    assert_params("bucketed", seq.get_params()[0])
    np.testing.assert_allclose(np.concatenate(outputs), GOLDEN["bucketed:predict"], rtol=1e-5,
                               atol=1e-5)
    assert seq.modules[0].bucket_keys == [5, 3]


def logit_ce(label, pred):
    """Mean softmax cross-entropy of scores `[N, T, V]` against labels `[N, T]`."""
    pred = pred.reshape(-1, pred.shape[-1]).astype(np.float64)
    logp = pred - pred.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(logp)), label.reshape(-1).astype(np.int64)].mean()


def test_bucketing_chain_fits_bucket_sentence_iter():
    random.seed(1)
    np.random.seed(1)
    rng = np.random.RandomState(0)
    sentences = []
    for _ in range(48):
        start = int(rng.randint(0, VOCAB))
        length = int(rng.choice([3, 4, 5]))
        sentences.append([(start + t) % VOCAB for t in range(length)])
    train = BucketSentenceIter(sentences, BATCH, buckets=[3, 5], invalid_label=0)
    seq = bucketed_chain()
    seq.bind(train.provide_data, train.provide_label)
    torch.manual_seed(42)
    seq.init_params(initializer=mx.init.Xavier())
    before = seq.score(train, mx.metric.np(logit_ce))[0][1]
    train.reset()
    seq.fit(train, num_epoch=6, optimizer="adam", optimizer_params={"learning_rate": 0.1},
            eval_metric=mx.metric.Accuracy(axis=-1))
    bucketing = seq.modules[0]
    assert sorted(bucketing.bucket_keys) == [3, 5]
    small, large = bucketing.get_bucket_module(3), bucketing.get_bucket_module(5)
    assert small.get_param_arrays()[0]["pred_weight"].tensor.data_ptr() == \
        large.get_param_arrays()[0]["pred_weight"].tensor.data_ptr()
    after = seq.score(train, mx.metric.np(logit_ce))[0][1]
    assert after < 0.6 * before
    assert seq.score(train, mx.metric.Accuracy(axis=-1))[0][1] > 0.6


def test_backward_wiring_matches_one_module():
    """Two chained Modules give the outputs and gradients of the same net as one Module."""
    x, y = GOLDEN["x"][:BATCH], GOLDEN["y"][:BATCH]
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    seq = two_modules()
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], inputs_need_grad=True)
    seq.init_params(arg_params=init_of(MLP_PARAMS), aux_params={})
    seq.forward_backward(batch)
    whole = mx.mod.Module(mx.sym.SoftmaxOutput(body(with_fc2=True), name="softmax"))
    whole.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], inputs_need_grad=True)
    whole.init_params(arg_params=init_of(MLP_PARAMS), aux_params={})
    whole.forward_backward(batch)
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), whole.get_outputs()[0].asnumpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(seq.get_input_grads()[0].asnumpy(),
                               whole.get_input_grads()[0].asnumpy(), rtol=1e-5, atol=1e-7)
    grads = {**seq.modules[0].get_grads(), **seq.modules[1].get_grads()}
    for name, grad in whole.get_grads().items():
        np.testing.assert_allclose(grads[name].asnumpy(), grad.asnumpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=name)


def test_nested_chain_and_states():
    inner = mx.mod.SequentialModule().add(mx.mod.Module(body(), label_names=None))
    seq = mx.mod.SequentialModule().add(inner)
    seq.add(mx.mod.Module(head(), data_names=["relu1_output"]), take_labels=True)
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    seq.init_params()
    seq.init_optimizer()
    assert seq.binded and seq.params_initialized and seq.optimizer_initialized
    seq.add(mx.mod.PythonLossModule(data_names=["softmax_output"]))
    assert not (seq.binded or seq.params_initialized or seq.optimizer_initialized)
    assert seq.output_names == ["pyloss_output"]


def test_labels_only_for_take_labels_modules():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(), label_names=None))
    seq.add(mx.mod.PythonModule(["relu1_output"], None, ["same"]))
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], for_training=False)
    assert seq.label_shapes is None and seq.label_names == []
    seq.init_params(arg_params=init_of(["fc1_weight", "fc1_bias"]))
    batch = mx.io.DataBatch([mx.nd.array(GOLDEN["x"][:BATCH])], [mx.nd.zeros((BATCH,))])
    seq.forward(batch)
    metric = mx.metric.Accuracy()
    seq.update_metric(metric, batch.label)
    assert metric.num_inst == 0
    assert seq.get_outputs()[0].shape == (BATCH, 6)


def test_extra_and_duplicated_parameters():
    seq = two_modules()
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    extra = dict(init_of(MLP_PARAMS), bogus=mx.nd.zeros((2,)))
    with pytest.raises(ValueError, match="bogus"):
        seq.init_params(arg_params=extra)
    assert not seq.params_initialized
    seq.init_params(arg_params=extra, allow_extra=True)
    assert seq.params_initialized
    twice = mx.mod.SequentialModule()
    twice.add(mx.mod.Module(body(), label_names=None))
    twice.add(mx.mod.Module(body(), data_names=["data"], label_names=None), auto_wiring=True)
    twice.bind([("data", (BATCH, 5))])
    with pytest.raises(AssertionError, match=r"'fc1_bias' in module 1 \(Module\).*module 0"):
        twice.init_params()


def test_bind_empty_chain():
    assert FACTS["bind_empty"] == "AssertionError"
    seq = mx.mod.SequentialModule()
    with pytest.raises(AssertionError, match="empty SequentialModule"):
        seq.bind([("data", (BATCH, 5))])
    assert not seq.binded


def test_bind_mismatched_names_names_the_module():
    assert FACTS["bind_mismatched_names"] == "ValueError"
    first = mx.mod.Module(body(), label_names=None)
    seq = mx.mod.SequentialModule().add(first)
    seq.add(mx.mod.Module(head("data")), take_labels=True)
    with pytest.raises(ValueError, match=r"module 1 \(Module\).*\['data'\].*relu1_output"):
        seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    assert not seq.binded and not first.binded
    with pytest.raises(ValueError, match=r"module 0 \(Module\).*data_shapes \['x'\]"):
        seq.bind([("x", (BATCH, 5))], [("softmax_label", (BATCH,))])
    loss = mx.mod.SequentialModule().add(mx.mod.Module(body(), label_names=None))
    loss.add(mx.mod.PythonLossModule(data_names=("a", )), auto_wiring=False, take_labels=True)
    with pytest.raises(ValueError, match=r"module 1 \(PythonLossModule\)"):
        loss.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])



def test_bind_after_a_failed_bind_rebinds_the_chain():
    # module 1 accepts (6, 4) but not (2, 4); the failed bind leaves module 0 bound on (2, 5)
    first = mx.mod.Module(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4,
                                                name="fc1"), label_names=None)
    second = mx.mod.Module(mx.sym.Reshape(mx.sym.Variable("fc1_output"), shape=(3, -1)),
                           data_names=["fc1_output"], label_names=None)
    seq = mx.mod.SequentialModule().add(first).add(second)
    with pytest.raises(MXNetError, match=r"module 1 \(Module\)"):
        seq.bind([("data", (2, 5))], for_training=False)
    assert not seq.binded
    seq.bind([("data", (6, 5))], for_training=False)
    assert seq.binded and first.data_shapes[0].shape == (6, 5)
    assert [tuple(s[1]) for s in seq.output_shapes] == [(3, 8)]

def test_auto_wiring_count_mismatch():
    seq = mx.mod.SequentialModule().add(mx.mod.Module(body(), label_names=None))
    seq.add(mx.mod.PythonModule(["a", "b"], None, ["c", "d"]), auto_wiring=True)
    with pytest.raises(ValueError, match=r"module 1 \(PythonModule\): auto_wiring renames 1"):
        seq.bind([("data", (BATCH, 5))])


def test_add_arguments():
    seq = mx.mod.SequentialModule()
    with pytest.raises(TypeError, match="BaseModule"):
        seq.add("not a module")
    with pytest.raises(TypeError):
        seq.add(mx.mod.PythonLossModule(), bogus=True)
    assert seq.modules == []


def test_grad_func_wrong_shape_names_the_module():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(with_fc2=True), label_names=None))
    seq.add(mx.mod.PythonLossModule(grad_func=lambda scores, labels: np.zeros((3, 3))),
            take_labels=True, auto_wiring=True)
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    seq.init_params(arg_params=init_of(MLP_PARAMS))
    seq.forward(mx.io.DataBatch([mx.nd.array(GOLDEN["x"][:BATCH])],
                                [mx.nd.array(GOLDEN["y"][:BATCH])]))
    with pytest.raises(MXNetError, match=r"module 1 \(PythonLossModule\).*\(3, 3\).*\(8, 3\)"):
        seq.backward()


def test_python_loss_without_take_labels():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(with_fc2=True), label_names=None))
    seq.add(mx.mod.PythonLossModule(), auto_wiring=True)
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    seq.init_params()
    batch = mx.io.DataBatch([mx.nd.array(GOLDEN["x"][:BATCH])], [mx.nd.zeros((BATCH,))])
    with pytest.raises(ValueError, match=r"module 1 \(PythonLossModule\).*take_labels=True"):
        seq.forward(batch)


def test_state_guards():
    seq = two_modules()
    with pytest.raises(AssertionError, match="bind"):
        seq.forward(mx.io.DataBatch([mx.nd.zeros((BATCH, 5))]))
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    with pytest.raises(AssertionError, match="init_params"):
        seq.get_outputs()
    seq.init_params()
    with pytest.raises(AssertionError, match="init_optimizer"):
        seq.update()
    with pytest.raises(AssertionError, match="inputs_need_grad"):
        seq.get_input_grads()
    with pytest.raises(AssertionError, match="shared_module"):
        seq.bind([("data", (BATCH, 5))], force_rebind=True, shared_module=two_modules())


def test_auto_wiring_first_module_keeps_layout():
    """The batch's `data` is renamed to the first module's `x`; the layout survives."""
    net = mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=2, name="fc", flatten=False)
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(net, data_names=["x"], label_names=None), auto_wiring=True)
    seq.bind([mx.io.DataDesc("data", (3, 4, 5), layout="TNC")], for_training=False)
    assert seq.data_shapes[0].name == "x" and seq.data_shapes[0].layout == "TNC"
    seq.init_params()
    x = mx.nd.array(np.ones((3, 4, 5)))
    seq.forward(mx.io.DataBatch([x], provide_data=[mx.io.DataDesc("data", (3, 4, 5),
                                                                  layout="TNC")]))
    assert seq.get_outputs()[0].shape == (3, 4, 2)
    assert seq.data_shapes[0].name == "x"
