"""Data parallelism over several contexts (`context=[mx.cpu(0), mx.cpu(1)]`): each batch is split
by `work_load_list` as MXNet 1.9.1 splits it, and outputs, summed gradients, parameters after
fit, metrics and predictions equal those of one context."""
import importlib.util
import json
import os

import numpy as np
import pytest

import bucketmod as mx
from bucketmod.module.executor_group import split_batch

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "golden", "make_module.py")
_spec = importlib.util.spec_from_file_location("make_module", _SCRIPT)
make_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_module)
BATCH = make_module.BATCH
TWO = [mx.cpu(0), mx.cpu(1)]
LAYOUTS = {"even": (TWO, None), "uneven": (TWO, [1, 3]),
           "three": ([mx.cpu(0), mx.cpu(1), mx.cpu(2)], [1, 2, 2])}

with open(os.path.join(make_module.OUT, "behaviour.json")) as _f:
    SPLITS = json.load(_f)["splits"]


@pytest.fixture(scope="module")
def data():
    x, y, ex, ey = make_module.make_data()
    return {"x": x, "y": y, "ex": ex, "ey": ey}


def batch_of(data, size=BATCH):
    return mx.io.DataBatch([mx.nd.array(data["x"][:size])], [mx.nd.array(data["y"][:size])])


def module(context=None, work_load_list=None, inputs_need_grad=False, batch=BATCH):
    kwargs = {} if context is None else {"context": context, "work_load_list": work_load_list}
    mod = mx.mod.Module(make_module.mlp(mx), **kwargs)
    mod.bind([("data", (batch, 5))], [("softmax_label", (batch,))],
             inputs_need_grad=inputs_need_grad)
    mod.set_params(make_module.make_init_params(mx), {})
    return mod


def params_np(mod):
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


@pytest.mark.parametrize("batch,loads,expected", SPLITS)
def test_batch_split_matches_mxnet(batch, loads, expected):
    if isinstance(expected, str):
        with pytest.raises(ValueError, match="work_load_list"):
            split_batch(batch, loads)
    else:
        assert [s.stop - s.start for s in split_batch(batch, loads)] == expected


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_forward_backward_equals_one_context(layout, data):
    contexts, loads = LAYOUTS[layout]
    single = module(inputs_need_grad=True)
    multi = module(contexts, loads, inputs_need_grad=True)
    for mod in (single, multi):
        mod.forward_backward(batch_of(data))
    np.testing.assert_allclose(multi.get_outputs()[0].asnumpy(),
                               single.get_outputs()[0].asnumpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(multi.get_input_grads()[0].asnumpy(),
                               single.get_input_grads()[0].asnumpy(), rtol=1e-5, atol=1e-7)
    group = multi._exec_group
    for name, grad in single.get_grads().items():
        per_context = group.grad_arrays(name)
        assert len(per_context) == len(contexts)
        summed = sum(g.asnumpy() for g in per_context)
        np.testing.assert_allclose(summed, grad.asnumpy(), rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_per_context_lists_without_merging(layout, data):
    contexts, loads = LAYOUTS[layout]
    multi = module(contexts, loads, inputs_need_grad=True)
    multi.forward_backward(batch_of(data))
    sizes = [s.stop - s.start for s in split_batch(BATCH, loads or [1] * len(contexts))]
    (outputs,) = multi.get_outputs(merge_multi_context=False)
    assert [o.shape for o in outputs] == [(n, 3) for n in sizes]
    (grads,) = multi.get_input_grads(merge_multi_context=False)
    assert [g.shape for g in grads] == [(n, 5) for n in sizes]
    merged = multi.get_outputs()[0].asnumpy()
    np.testing.assert_array_equal(np.concatenate([o.asnumpy() for o in outputs]), merged)
    assert [o.context for o in outputs] == contexts


@pytest.mark.parametrize("case,layout,kvstore", [
    ("sgd", "even", "local"), ("sgd", "uneven", "device"), ("sgd", "three", "local"),
    ("adam", "uneven", "local"), ("adam", "even", "device"), ("sgd", "uneven", None)])
def test_fit_equals_one_context_and_mxnet(case, layout, kvstore, data):
    """Two fit epochs over several contexts land on MXNet 1.9.1's one-context result. Without a
    kvstore the gradients are still summed over the contexts (MXNet would let each context's
    copy drift with its own slice)."""
    contexts, loads = LAYOUTS[layout]
    expected = {k: v.asnumpy() for k, v in
                mx.nd.load(os.path.join(make_module.OUT, f"fit_{case}.params")).items()}
    optimizer, optimizer_params = make_module.FIT_CASES[case]
    train = mx.io.NDArrayIter(data["x"], data["y"], batch_size=BATCH)
    mod = mx.mod.Module(make_module.mlp(mx), context=contexts, work_load_list=loads)
    mod.fit(train, num_epoch=2, kvstore=kvstore, optimizer=optimizer,
            optimizer_params=optimizer_params, arg_params=make_module.make_init_params(mx),
            aux_params={})
    assert mod._optimizer.rescale_grad == pytest.approx(1.0 / BATCH)
    after = params_np(mod)
    for name, value in expected.items():
        np.testing.assert_allclose(after[name], value, rtol=1e-4, atol=1e-4, err_msg=name)
    for name in expected:
        copies = [a.asnumpy() for a in mod._exec_group.param_arrays(name)]
        for copy in copies[1:]:
            np.testing.assert_array_equal(copy, copies[0], err_msg=name)


def test_score_predict_and_metric_equal_one_context(data):
    single = module()
    multi = module(TWO, [1, 3])
    evaluation = mx.io.NDArrayIter(data["ex"], data["ey"], batch_size=BATCH)
    np.testing.assert_allclose(multi.predict(evaluation).asnumpy(),
                               single.predict(evaluation).asnumpy(), rtol=1e-5, atol=1e-7)
    assert multi.predict(evaluation).shape == (21, 3)
    ce_single = dict(single.score(evaluation, "ce"))["cross-entropy"]
    ce_multi = dict(multi.score(evaluation, "ce"))["cross-entropy"]
    assert ce_multi == pytest.approx(ce_single, rel=1e-6)

    batch = batch_of(data)
    multi.forward(batch, is_train=False)
    plain, sliced = mx.metric.Accuracy(), mx.metric.Accuracy()
    multi.update_metric(plain, batch.label)
    label = batch.label[0].asnumpy()
    multi.update_metric(sliced, [[mx.nd.array(label[:2])], [mx.nd.array(label[2:])]],
                        pre_sliced=True)
    assert plain.num_inst == sliced.num_inst == BATCH
    assert plain.get() == sliced.get()


def test_reshape_by_forward_keeps_the_split(data):
    multi = module(TWO, [1, 3])
    single = module()
    for mod in (single, multi):
        mod.forward(batch_of(data, size=4), is_train=False)
    (outputs,) = multi.get_outputs(merge_multi_context=False)
    assert [o.shape[0] for o in outputs] == [1, 3]
    np.testing.assert_allclose(multi.get_outputs()[0].asnumpy(),
                               single.get_outputs()[0].asnumpy(), rtol=1e-5, atol=1e-7)


def test_batchnorm_statistics_are_averaged_over_contexts():
    """Each context updates its moving mean from its own slice; get_params (and so checkpoints)
    report their mean, as MXNet does, which here equals the one-context statistics."""
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    net = mx.sym.SoftmaxOutput(mx.sym.BatchNorm(fc, name="bn"), name="softmax")
    x = np.random.RandomState(0).randn(8, 4).astype(np.float32)
    x[4:] += 3.0
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.zeros((8,))])
    stats = []
    for contexts in ([mx.cpu(0)], TWO):
        mod = mx.mod.Module(net, context=contexts)
        mod.bind([("data", (8, 4))], [("softmax_label", (8,))])
        mod.init_params(mx.init.One())
        mod.forward(batch, is_train=True)
        stats.append({k: v.asnumpy() for k, v in mod.get_params()[1].items()})
    copies = [a.asnumpy() for a in mod._exec_group.param_arrays("bn_moving_mean")]
    assert not np.allclose(copies[0], copies[1])
    np.testing.assert_allclose(stats[1]["bn_moving_mean"], (copies[0] + copies[1]) / 2,
                               rtol=1e-6)
    np.testing.assert_allclose(stats[1]["bn_moving_mean"], stats[0]["bn_moving_mean"],
                               rtol=1e-5)
    assert sorted(stats[1]) == ["bn_moving_mean", "bn_moving_var"]


def test_states_over_contexts():
    net = mx.sym.Variable("data") + mx.sym.Variable("state")
    mod = mx.mod.Module(net, label_names=None, state_names=["state"], context=TWO)
    mod.bind([("data", (4, 3))], for_training=False)
    mod.init_params()
    mod.set_states(value=2.0)
    (per_context,) = mod.get_states(merge_multi_context=False)
    assert [s.shape for s in per_context] == [(2, 3), (2, 3)]
    mod.set_states(states=[[mx.nd.zeros((2, 3)), mx.nd.ones((2, 3))]])
    mod.forward(mx.io.DataBatch([mx.nd.zeros((4, 3))]))
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(),
                                  np.repeat([[0.0], [0.0], [1.0], [1.0]], 3, axis=1))


def test_checkpoint_from_several_contexts_loads_into_one(tmp_path, data):
    multi = module(TWO)
    multi.init_optimizer(optimizer_params={"learning_rate": 0.5, "momentum": 0.9},
                         kvstore="device")
    multi.forward_backward(batch_of(data))
    multi.update()
    prefix = str(tmp_path / "multi")
    multi.save_checkpoint(prefix, 1)
    single = mx.mod.Module.load(prefix, 1)
    single.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], for_training=False)
    evaluation = mx.io.NDArrayIter(data["ex"], data["ey"], batch_size=BATCH)
    np.testing.assert_allclose(single.predict(evaluation).asnumpy(),
                               multi.predict(evaluation).asnumpy(), rtol=1e-5, atol=1e-7)


def test_work_load_list_that_empties_a_context_is_refused():
    mod = mx.mod.Module(make_module.mlp(mx), context=[mx.cpu(0), mx.cpu(1), mx.cpu(2)])
    with pytest.raises(ValueError, match="work_load_list"):
        mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    assert not mod.binded
    mod.bind([("data", (3, 5))], [("softmax_label", (3,))])
    assert mod.binded
