"""Module and BaseModule: every method and property of the seed text, state flags, defaults, and
misuse (exception types from MXNet 1.9.1, recorded in tests/golden/data/module/behaviour.json)."""
import importlib.util
import inspect
import json
import logging
import os
from collections import namedtuple

import numpy as np
import pytest

import bucketmod as mx

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "golden", "make_module.py")
_spec = importlib.util.spec_from_file_location("make_module", _SCRIPT)
make_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_module)
BATCH = make_module.BATCH
EXCEPTIONS = {"AssertionError": AssertionError, "RuntimeError": RuntimeError,
              "ValueError": ValueError, "KeyError": KeyError, "MXNetError": mx.MXNetError}
Batch = namedtuple("Batch", ["data"])

with open(os.path.join(make_module.OUT, "behaviour.json")) as _f:
    BEHAVIOUR = json.load(_f)
with open(os.path.join(make_module.OUT, "signatures.json")) as _f:
    SIGNATURES = json.load(_f)


def mxnet_raises(fact):
    """pytest.raises for the exception type MXNet 1.9.1 raised in case `fact`."""
    return pytest.raises(EXCEPTIONS[BEHAVIOUR[fact]])


def mlp():
    return make_module.mlp(mx)


@pytest.fixture(scope="module")
def data():
    x, y, ex, ey = make_module.make_data()
    return {"x": x, "y": y, "ex": ex, "ey": ey}


@pytest.fixture
def init():
    return make_module.make_init_params(mx)


def batch_of(data, start=0, size=BATCH):
    return mx.io.DataBatch([mx.nd.array(data["x"][start:start + size])],
                           [mx.nd.array(data["y"][start:start + size])])


def bound(init, for_training=True, **kwargs):
    mod = mx.mod.Module(mlp(), **kwargs)
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], for_training=for_training)
    mod.set_params(init, {})
    return mod


def params_np(mod):
    arg_params, _ = mod.get_params()
    return {k: v.asnumpy() for k, v in arg_params.items()}


def outputs_np(mod):
    return mod.get_outputs()[0].asnumpy()


# -- construction, properties, state flags -----------------------------------------------------
def test_initial_state_and_names():
    mod = mx.mod.Module(mlp())
    assert (mod.binded, mod.for_training, mod.inputs_need_grad, mod.params_initialized,
            mod.optimizer_initialized) == (False,) * 5
    assert mod.data_names == ["data"]
    assert mod.label_names == ["softmax_label"]
    assert mod.output_names == BEHAVIOUR["output_names"]
    assert mod.symbol.list_outputs() == ["softmax_output"]
    with mxnet_raises("data_shapes_before_bind"):
        _ = mod.data_shapes


def test_module_rejects_data_names_not_in_symbol():
    with mxnet_raises("module_bad_data_name") as info:
        mx.mod.Module(mlp(), data_names=["x"])
    assert "x" in str(info.value)


def test_context_and_work_load_list_are_checked():
    with pytest.raises(TypeError, match="context"):
        mx.mod.Module(mlp(), context="cpu")
    with pytest.raises(ValueError, match="work_load_list"):
        mx.mod.Module(mlp(), context=[mx.cpu(0), mx.cpu(1)], work_load_list=[1])


@pytest.mark.parametrize("style", ["tuples", "descs"])
def test_bind_with_tuples_or_datadescs(style):
    mod = mx.mod.Module(mlp())
    if style == "tuples":
        mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    else:
        mod.bind([mx.io.DataDesc("data", (BATCH, 5))],
                 [mx.io.DataDesc("softmax_label", (BATCH,))])
    assert mod.binded and mod.for_training and not mod.inputs_need_grad
    assert not mod.params_initialized
    assert [(d.name, tuple(d.shape)) for d in mod.data_shapes] == [("data", (BATCH, 5))]
    assert all(isinstance(d, mx.io.DataDesc) for d in mod.data_shapes + mod.label_shapes)
    assert [[d.name, list(d.shape)] for d in mod.label_shapes] == BEHAVIOUR["label_shapes"]
    assert [[n, list(s)] for n, s in mod.output_shapes] == BEHAVIOUR["output_shapes"]


@pytest.mark.parametrize("shapes", [[("data", 8)], [("data", (2, -1))], [("data", ("a", 5))],
                                    "data", [("data",)], [("data", (2, 5), 3)]])
def test_bind_with_malformed_shapes_is_clear(shapes):
    mod = mx.mod.Module(mlp())
    with pytest.raises(ValueError, match="data_shapes"):
        mod.bind(shapes, [("softmax_label", (2,))])
    assert not mod.binded
    mod.bind(iter([("data", [2, 5])]), [("softmax_label", (2,))])
    assert mod.data_shapes[0].shape == (2, 5)


def test_bind_for_inference_without_labels():
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (3, 5))], for_training=False)
    assert mod.binded and not mod.for_training
    assert mod.label_shapes is None
    mod.init_params()
    mod.forward(Batch([mx.nd.ones((3, 5))]))
    assert mod.get_outputs()[0].shape == (3, 3)


def test_bind_again_is_ignored_unless_force_rebind(init, caplog):
    mod = bound(init)
    with caplog.at_level(logging.WARNING):
        mod.bind([("data", (4, 5))], [("softmax_label", (4,))])
    assert "Already bound" in caplog.text
    assert mod.data_shapes[0].shape == (BATCH, 5)
    before = params_np(mod)
    mod.bind([("data", (4, 5))], [("softmax_label", (4,))], force_rebind=True)
    assert mod.data_shapes[0].shape == (4, 5)
    assert mod.params_initialized
    mod.forward(mx.io.DataBatch([mx.nd.ones((4, 5))]), is_train=False)
    assert mod.get_outputs()[0].shape == (4, 3)
    after = params_np(mod)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_failed_force_rebind_keeps_parameters_and_optimizer(data, init):
    """As MXNet 1.9.1: a refused rebind leaves the module unbound with its parameters and
    optimizer kept; the next bind brings the parameters back."""
    mod = bound(init)
    mod.init_optimizer(optimizer_params={"learning_rate": 0.5})
    with pytest.raises(ValueError, match="data_names"):
        mod.bind([("x", (4, 5))], [("softmax_label", (4,))], force_rebind=True)
    assert (mod.binded, mod.params_initialized, mod.optimizer_initialized) == (False, True, True)
    mod.bind([("data", (4, 5))], [("softmax_label", (4,))])
    after = params_np(mod)
    for name, value in init.items():
        np.testing.assert_array_equal(after[name], value.asnumpy(), err_msg=name)
    mod.forward_backward(batch_of(data, size=4))
    mod.update()
    assert not np.array_equal(params_np(mod)["fc3_bias"], init["fc3_bias"].asnumpy())


def test_bind_inputs_need_grad_requires_training():
    mod = mx.mod.Module(mlp())
    with pytest.raises(ValueError, match="for_training"):
        mod.bind([("data", (2, 5))], for_training=False, inputs_need_grad=True)
    assert not mod.binded
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))], inputs_need_grad=True)
    assert mod.inputs_need_grad


def test_shared_module_shares_parameter_memory(data, init):
    first = bound(init)
    first.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    second = mx.mod.Module(mlp())
    second.bind([("data", (4, 5))], [("softmax_label", (4,))], shared_module=first)
    assert second.params_initialized
    first.forward_backward(batch_of(data))
    first.update()
    np.testing.assert_array_equal(params_np(second)["fc1_weight"], params_np(first)["fc1_weight"])
    second.forward(batch_of(data, size=4), is_train=False)
    first.forward(batch_of(data), is_train=False)
    np.testing.assert_allclose(outputs_np(second), outputs_np(first)[:4], rtol=1e-6)


def test_shared_module_must_be_ready():
    unready = mx.mod.Module(mlp())
    with pytest.raises(AssertionError, match="shared_module"):
        mx.mod.Module(mlp()).bind([("data", (2, 5))], [("softmax_label", (2,))],
                                  shared_module=unready)


def test_grad_req_add_accumulates(data, init):
    write = bound(init)
    write.forward_backward(batch_of(data))
    single = write.get_grads()["fc2_weight"].asnumpy()
    add = mx.mod.Module(mlp())
    add.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], grad_req="add")
    add.set_params(init, {})
    for _ in range(2):
        add.forward_backward(batch_of(data))
    np.testing.assert_allclose(add.get_grads()["fc2_weight"].asnumpy(), 2 * single, rtol=1e-5,
                               atol=1e-7)


def test_grad_req_dict_null_skips_a_parameter(data, init):
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))],
             grad_req={"fc1_weight": "null"})
    mod.set_params(init, {})
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0})
    mod.forward_backward(batch_of(data))
    mod.update()
    after = params_np(mod)
    np.testing.assert_array_equal(after["fc1_weight"], init["fc1_weight"].asnumpy())
    assert not np.array_equal(after["fc1_bias"], init["fc1_bias"].asnumpy())


# -- parameters ---------------------------------------------------------------------------------
def test_init_params_uses_initializer_and_sets_flag():
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    mod.init_params(initializer=mx.init.Constant(0.25))
    assert mod.params_initialized
    arg_params, aux_params = mod.get_params()
    assert aux_params == {}
    assert sorted(arg_params) == sorted(["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias",
                                         "fc3_weight", "fc3_bias"])
    np.testing.assert_array_equal(arg_params["fc2_weight"].asnumpy(), np.full((12, 16), 0.25))


def test_init_params_default_is_uniform_001():
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    mod.init_params()
    weight = mod.get_params()[0]["fc2_weight"].asnumpy()
    assert np.abs(weight).max() <= 0.01 and weight.std() > 0.001
    assert not mod.get_params()[0]["fc2_bias"].asnumpy().any()


def test_init_params_missing_raises_runtime_error_and_changes_nothing(init):
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    missing = dict(init)
    del missing["fc2_weight"]
    with mxnet_raises("init_params_missing") as info:
        mod.init_params(arg_params=missing)
    assert "fc2_weight" in str(info.value)
    assert mod.params_initialized is BEHAVIOUR["params_initialized_after_missing"]
    with mxnet_raises("set_params_missing"):
        mod.set_params(missing, {})
    assert not mod.params_initialized
    mod.init_params(initializer=mx.init.Constant(3.0), arg_params=missing, allow_missing=True)
    arg_params = mod.get_params()[0]
    np.testing.assert_array_equal(arg_params["fc2_weight"].asnumpy(), np.full((12, 16), 3.0))
    np.testing.assert_array_equal(arg_params["fc1_weight"].asnumpy(),
                                  init["fc1_weight"].asnumpy())


def test_extra_params_follow_mxnet(init):
    """MXNet ignores names the symbol lacks in init_params/set_params, but set_params with
    allow_missing=True raises ValueError for them unless allow_extra."""
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    extra = dict(init)
    extra["bogus"] = mx.nd.zeros((2,))
    for fact, call in [("init_params_extra", lambda: mod.init_params(arg_params=extra,
                                                                      force_init=True)),
                       ("set_params_extra", lambda: mod.set_params(extra, {})),
                       ("set_params_extra_allowed",
                        lambda: mod.set_params(extra, {}, allow_extra=True)),
                       ("set_params_extra_allow_missing_allowed",
                        lambda: mod.set_params(extra, {}, allow_missing=True, allow_extra=True))]:
        if BEHAVIOUR[fact] is None:
            call()
        else:
            with mxnet_raises(fact):
                call()
    mod.set_params({k: v * 0 for k, v in init.items()}, {})
    with mxnet_raises("set_params_extra_allow_missing") as info:
        mod.set_params(extra, {}, allow_missing=True)
    assert "bogus" in str(info.value)
    assert not params_np(mod)["fc1_weight"].any(), "a refused set_params wrote parameters"


def test_init_params_twice_needs_force_init(init):
    mod = bound(init)
    with pytest.warns(UserWarning, match="force_init"):
        mod.init_params(initializer=mx.init.Zero())
    assert params_np(mod)["fc1_weight"].any()
    mod.init_params(initializer=mx.init.Zero(), force_init=True)
    assert not params_np(mod)["fc1_weight"].any()


def test_init_params_wrong_shape_is_clear_and_writes_nothing(init):
    mod = bound(init)
    wrong = {k: v * 0 for k, v in init.items()}
    wrong["fc3_weight"] = mx.nd.zeros((3, 3))
    with pytest.raises(ValueError, match=r"fc3_weight.*\(3, 3\)"):
        mod.set_params(wrong, {})
    assert params_np(mod)["fc1_weight"].any()


def test_get_params_returns_copies(init):
    mod = bound(init)
    arg_params, _ = mod.get_params()
    arg_params["fc1_weight"][:] = 0
    assert params_np(mod)["fc1_weight"].any()


def test_save_and_load_params(tmp_path, data, init):
    mod = bound(init)
    fname = str(tmp_path / "m.params")
    mod.save_params(fname)
    saved = mx.nd.load(fname)
    assert sorted(saved) == sorted("arg:" + k for k in init)
    other = mx.mod.Module(mlp())
    other.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    other.init_params()
    other.load_params(fname)
    for m in (mod, other):
        m.forward(batch_of(data), is_train=False)
    np.testing.assert_array_equal(outputs_np(other), outputs_np(mod))


# -- optimizer ----------------------------------------------------------------------------------
def test_init_optimizer_defaults_rescale_grad_to_one_over_batch(init):
    mod = bound(init)
    mod.init_optimizer()
    assert mod.optimizer_initialized
    assert mod._optimizer.rescale_grad == pytest.approx(BEHAVIOUR["rescale_grad"])
    assert mod._optimizer.lr == pytest.approx(0.01)
    assert isinstance(mod._optimizer, mx.optimizer.SGD)


def test_init_optimizer_with_an_optimizer_object(init, data):
    mod = bound(init)
    opt = mx.optimizer.Adam(learning_rate=0.01, rescale_grad=1.0 / BATCH)
    mod.init_optimizer(optimizer=opt)
    assert mod._optimizer is opt
    mod.forward_backward(batch_of(data))
    mod.update()
    other = bound(init)
    with pytest.warns(UserWarning, match="rescale_grad"):
        other.init_optimizer(optimizer=mx.optimizer.SGD(learning_rate=0.1))


def test_init_optimizer_twice_needs_force_init(init):
    mod = bound(init)
    mod.init_optimizer(optimizer="sgd")
    first = mod._optimizer
    mod.init_optimizer(optimizer="adam")
    assert mod._optimizer is first
    mod.init_optimizer(optimizer="adam", force_init=True)
    assert isinstance(mod._optimizer, mx.optimizer.Adam)


def test_unknown_optimizer_name_then_module_still_works(init, data):
    mod = bound(init)
    with mxnet_raises("init_optimizer_unknown_name") as info:
        mod.init_optimizer(optimizer="no_such_optimizer")
    assert "no_such_optimizer" in str(info.value)
    assert mod.optimizer_initialized is BEHAVIOUR["optimizer_initialized_after_unknown"]
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    mod.forward_backward(batch_of(data))
    mod.update()
    assert not np.array_equal(params_np(mod)["fc3_bias"], init["fc3_bias"].asnumpy())


def test_sgd_update_is_one_sgd_step(init, data):
    mod = bound(init)
    mod.init_optimizer(optimizer_params={"learning_rate": 0.5})
    mod.forward_backward(batch_of(data))
    grads = {k: v.asnumpy() for k, v in mod.get_grads().items()}
    mod.update()
    after = params_np(mod)
    for name, value in init.items():
        np.testing.assert_allclose(after[name], value.asnumpy() - 0.5 * grads[name] / BATCH,
                                   rtol=1e-5, atol=1e-7, err_msg=name)


def test_borrow_optimizer_shares_updater(init, data):
    owner = bound(init)
    owner.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1,
                                                            "momentum": 0.9})
    borrower = mx.mod.Module(mlp())
    borrower.bind([("data", (4, 5))], [("softmax_label", (4,))], shared_module=owner)
    borrower.borrow_optimizer(owner)
    assert borrower.optimizer_initialized
    assert borrower._optimizer is owner._optimizer
    borrower.forward_backward(batch_of(data, size=4))
    borrower.update()
    assert not np.array_equal(params_np(owner)["fc3_bias"], init["fc3_bias"].asnumpy())
    with pytest.raises(AssertionError, match="optimizer"):
        mx.mod.Module(mlp()).borrow_optimizer(bound(init))


def test_fixed_param_names_are_not_updated(data, init):
    mod = mx.mod.Module(mlp(), fixed_param_names=["fc1_weight", "fc2_bias"])
    train = mx.io.NDArrayIter(data["x"], data["y"], batch_size=BATCH)
    mod.fit(train, num_epoch=1, arg_params=init, optimizer_params={"learning_rate": 0.5})
    after = params_np(mod)
    for name in ("fc1_weight", "fc2_bias"):
        np.testing.assert_array_equal(after[name], init[name].asnumpy())
    assert not np.array_equal(after["fc1_bias"], init["fc1_bias"].asnumpy())
    with pytest.raises(ValueError, match="nope"):
        mx.mod.Module(mlp(), fixed_param_names=["nope"])


# -- computation --------------------------------------------------------------------------------
def test_forward_with_other_shape_reshapes_as_in_the_seed():
    mod = mx.mod.Module(symbol=mx.sym.Variable("data") * 2, label_names=None)
    mod.bind(data_shapes=[("data", (1, 10))])
    mod.init_params()
    mod.forward(Batch([mx.nd.ones((1, 10))]))
    assert mod.get_outputs()[0].asnumpy().tolist() == BEHAVIOUR["reshape_out_1"]
    mod.forward(Batch([mx.nd.ones((3, 5))]))
    assert mod.get_outputs()[0].asnumpy().tolist() == BEHAVIOUR["reshape_out_2"]
    assert [[d.name, list(d.shape)] for d in mod.data_shapes] == BEHAVIOUR["reshape_data_shapes"]
    assert mod.label_shapes is BEHAVIOUR["unlabelled_label_shapes"] is None


def test_forward_reshape_keeps_parameters_and_training(data, init):
    mod = bound(init)
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1})
    mod.forward_backward(batch_of(data, size=5))
    assert mod.get_outputs()[0].shape == (5, 3)
    assert mod.data_shapes[0].shape == (5, 5) and mod.label_shapes[0].shape == (5,)
    mod.update()
    reference = bound(init)
    reference.forward(batch_of(data, size=BATCH), is_train=False)
    mod.forward(batch_of(data, size=BATCH), is_train=False)
    assert not np.allclose(outputs_np(mod), outputs_np(reference))


def test_explicit_reshape(data, init):
    mod = bound(init)
    mod.reshape([("data", (3, 5))], [("softmax_label", (3,))])
    assert mod.data_shapes[0].shape == (3, 5)
    mod.forward(batch_of(data, size=3), is_train=False)
    full = bound(init)
    full.forward(batch_of(data), is_train=False)
    np.testing.assert_allclose(outputs_np(mod), outputs_np(full)[:3], rtol=1e-6)
    with pytest.raises(ValueError, match="data_names"):
        mod.reshape([("x", (3, 5))], [("softmax_label", (3,))])
    assert mod.data_shapes[0].shape == (3, 5)


def test_get_input_grads_needs_inputs_need_grad(data, init):
    mod = bound(init)
    mod.forward_backward(batch_of(data))
    with mxnet_raises("get_input_grads_without_inputs_need_grad"):
        mod.get_input_grads()
    needy = mx.mod.Module(mlp())
    needy.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], inputs_need_grad=True)
    needy.set_params(init, {})
    needy.forward_backward(batch_of(data))
    (grad,) = needy.get_input_grads()
    assert grad.shape == (BATCH, 5) and np.abs(grad.asnumpy()).sum() > 0
    (per_context,) = needy.get_input_grads(merge_multi_context=False)
    assert len(per_context) == 1
    np.testing.assert_array_equal(per_context[0].asnumpy(), grad.asnumpy())


def test_backward_with_out_grads(init):
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind([("data", (2, 3))], inputs_need_grad=True)
    mod.init_params(initializer=mx.init.One())
    mod.forward(Batch([mx.nd.ones((2, 3))]))
    mod.backward(out_grads=[mx.nd.array([[1.0, 0.0], [0.0, 2.0]])])
    np.testing.assert_allclose(mod.get_input_grads()[0].asnumpy(),
                               [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(mod.get_grads()["fc_weight"].asnumpy(), [[1, 1, 1], [2, 2, 2]])


def test_backward_needs_for_training(data, init):
    mod = bound(init, for_training=False)
    mod.forward(batch_of(data))
    with pytest.raises(mx.MXNetError, match="for_training"):
        mod.backward()


@pytest.mark.parametrize("is_train", [True, False])
def test_backward_without_gradients_is_a_no_op(data, init, is_train):
    """Every parameter fixed and no inputs_need_grad: backward does nothing, as in MXNet."""
    mod = bound(init, fixed_param_names=list(init))
    mod.init_optimizer()
    mod.forward(batch_of(data), is_train=is_train)
    mod.backward()
    mod.update()
    assert mod.get_grads() == {}
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(value.asnumpy(), init[name].asnumpy())
    exe = mlp().simple_bind(mx.cpu(), data=(BATCH, 5), grad_req="null")
    exe.forward(is_train=is_train)
    exe.backward()


def test_states_get_and_set():
    data, state = mx.sym.Variable("data"), mx.sym.Variable("state")
    mod = mx.mod.Module(data + state, label_names=None, state_names=["state"])
    mod.bind([("data", (2, 3))], for_training=False)
    mod.init_params()
    assert mod.state_names == ["state"]
    mod.set_states(value=1.5)
    mod.forward(Batch([mx.nd.ones((2, 3))]))
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), np.full((2, 3), 2.5))
    (states,) = mod.get_states()
    np.testing.assert_array_equal(states.asnumpy(), np.full((2, 3), 1.5))
    mod.set_states(states=[[mx.nd.array(np.arange(6).reshape(2, 3))]])
    mod.forward(Batch([mx.nd.zeros((2, 3))]))
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), np.arange(6).reshape(2, 3))
    assert len(mod.get_states(merge_multi_context=False)[0]) == 1
    with pytest.raises(ValueError, match="states"):
        mod.set_states()


def test_update_metric_plain_and_pre_sliced(data, init):
    mod = bound(init)
    batch = batch_of(data)
    mod.forward(batch, is_train=False)
    plain, sliced = mx.metric.Accuracy(), mx.metric.Accuracy()
    mod.update_metric(plain, batch.label)
    mod.update_metric(sliced, [batch.label], pre_sliced=True)
    expected = (outputs_np(mod).argmax(1) == data["y"][:BATCH]).mean()
    assert plain.get()[1] == pytest.approx(expected)
    assert sliced.get() == plain.get()
    assert plain.num_inst == BATCH


def test_prepare_is_a_no_op_and_warns_about_sparse_row_id_fn(data, init, caplog):
    mod = bound(init)
    mod.prepare(batch_of(data))
    with caplog.at_level(logging.WARNING):
        mod.prepare(batch_of(data), sparse_row_id_fn=lambda batch: {})
    assert "sparse_row_id_fn" in caplog.text
    with pytest.raises(AssertionError, match="bind"):
        mx.mod.Module(mlp()).prepare(batch_of(data))


def test_install_monitor_collects_statistics(data, init):
    mod = bound(init)
    mon = mx.mon.Monitor(1, pattern=".*")
    mod.install_monitor(mon)
    mon.tic()
    mod.forward_backward(batch_of(data))
    stats = mon.toc()
    names = [name for _, name, _ in stats]
    assert names[:6] == ["fc1_output", "relu1_output", "fc2_output", "tanh2_output",
                         "fc3_output", "softmax_output"]
    assert "fc1_weight" in names and "fc1_weight_grad" in names
    assert all(step == 1 and text.endswith("\t") for step, _, text in stats)
    assert mon.toc() == [], "toc without a tic reports nothing"
    only_fc2 = mx.mon.Monitor(1, pattern="fc2.*")
    other = bound(init)
    other.install_monitor(only_fc2)
    only_fc2.tic()
    other.forward(batch_of(data))
    stats = only_fc2.toc()
    assert stats and all(name.startswith("fc2") for _, name, _ in stats)


def test_monitor_reports_aux_states():
    net = mx.sym.BatchNorm(mx.sym.Variable("data"), name="bn")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind([("data", (4, 3))], for_training=False)
    mod.init_params()
    mon = mx.mon.Monitor(1, pattern="bn_moving.*")
    mod.install_monitor(mon)
    mon.tic()
    mod.forward(Batch([mx.nd.ones((4, 3))]))
    assert sorted(name for _, name, _ in mon.toc()) == ["bn_moving_mean", "bn_moving_var"]


# -- fit, score, predict ------------------------------------------------------------------------
def test_fit_calls_callbacks_and_scores_eval_data(data, init, caplog):
    train = mx.io.NDArrayIter(data["x"], data["y"], batch_size=BATCH)
    evaluation = mx.io.NDArrayIter(data["ex"], data["ey"], batch_size=BATCH)
    batches, epochs, eval_ends, eval_batches = [], [], [], []
    mod = mx.mod.Module(mlp())
    with caplog.at_level(logging.INFO):
        mod.fit(train, eval_data=evaluation, num_epoch=3, begin_epoch=1, arg_params=init,
                batch_end_callback=lambda p: batches.append((p.epoch, p.nbatch)),
                epoch_end_callback=lambda e, sym, arg, aux: epochs.append((e, sorted(arg))),
                eval_end_callback=lambda p: eval_ends.append(p.epoch),
                eval_batch_end_callback=lambda p: eval_batches.append(p.nbatch),
                validation_metric="ce")
    per_epoch = len(data["x"]) // BATCH
    assert batches == [(e, n) for e in (1, 2) for n in range(per_epoch)]
    assert epochs == [(1, sorted(init)), (2, sorted(init))]
    assert eval_ends == [1, 2]
    assert eval_batches == list(range(3)) * 2
    assert "Epoch[1] Train-accuracy" in caplog.text
    assert "Epoch[2] Validation-cross-entropy" in caplog.text
    assert mod.optimizer_initialized and mod.params_initialized


def test_fit_requires_num_epoch(data):
    train = mx.io.NDArrayIter(data["x"], data["y"], batch_size=BATCH)
    with pytest.raises(ValueError, match="num_epoch"):
        mx.mod.Module(mlp()).fit(train)


def test_fit_with_monitor(data, init):
    train = mx.io.NDArrayIter(data["x"][:16], data["y"][:16], batch_size=BATCH)
    mon = mx.mon.Monitor(1, pattern="fc3_output")
    seen = []
    mon.toc_print = lambda: seen.append([name for _, name, _ in mon.toc()])
    mx.mod.Module(mlp()).fit(train, num_epoch=1, arg_params=init, monitor=mon)
    assert seen == [["fc3_output"], ["fc3_output"]]


def test_score_options(data, init):
    mod = bound(init, for_training=False)
    it = mx.io.NDArrayIter(data["x"], data["y"], batch_size=BATCH)
    calls, ends = [], []
    full = dict(mod.score(it, "acc"))
    two = dict(mod.score(it, mx.metric.Accuracy(), num_batch=2,
                         batch_end_callback=lambda p: calls.append(p.nbatch),
                         score_end_callback=lambda p: ends.append(p.nbatch)))
    assert calls == [0, 1] and ends == [2]
    preds = mod.predict(it).asnumpy()
    assert full["accuracy"] == pytest.approx((preds.argmax(1) == data["y"]).mean())
    assert two["accuracy"] == pytest.approx((preds[:16].argmax(1) == data["y"][:16]).mean())


def test_predict_forms(data, init):
    mod = bound(init, for_training=False)
    it = mx.io.NDArrayIter(data["ex"], data["ey"], batch_size=BATCH)
    merged = mod.predict(it)
    assert isinstance(merged, mx.nd.NDArray) and merged.shape == (21, 3)
    (as_list,) = mod.predict(it, always_output_list=True)
    np.testing.assert_array_equal(as_list.asnumpy(), merged.asnumpy())
    per_batch = mod.predict(it, merge_batches=False)
    assert [len(out) for out in per_batch] == [1, 1, 1]
    assert [out[0].shape[0] for out in per_batch] == [8, 8, 5]
    assert mod.predict(it, num_batch=1).shape == (8, 3)
    from_numpy = mod.predict(data["ex"])
    from_nd = mod.predict(mx.nd.array(data["ex"]))
    np.testing.assert_allclose(from_numpy.asnumpy(), merged.asnumpy(), rtol=1e-6)
    np.testing.assert_array_equal(from_nd.asnumpy(), from_numpy.asnumpy())
    with pytest.raises(TypeError, match="eval_data"):
        mod.predict([1, 2, 3])


def test_predict_with_several_outputs(data, init):
    net = mlp()
    internals = net.get_internals()
    group = mx.sym.Group([net, internals["fc1_output"]])
    mod = mx.mod.Module(group)
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], for_training=False)
    mod.set_params(init, {})
    it = mx.io.NDArrayIter(data["ex"], data["ey"], batch_size=BATCH)
    probs, hidden = mod.predict(it)
    assert probs.shape == (21, 3) and hidden.shape == (21, 16)


def test_iter_predict_removes_padding(data, init):
    mod = bound(init, for_training=False)
    it = mx.io.NDArrayIter(data["ex"], data["ey"], batch_size=BATCH)
    seen = [(n, outs[0].shape[0], batch.pad) for outs, n, batch in mod.iter_predict(it)]
    assert seen == [(0, 8, 0), (1, 8, 0), (2, 5, 3)]
    assert len(list(mod.iter_predict(it, num_batch=2))) == 2


# -- misuse -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fact,call", [
    ("forward_before_bind", lambda m, b: m.forward(b)),
    ("backward_before_bind", lambda m, b: m.backward()),
    ("update_before_bind", lambda m, b: m.update()),
    ("get_outputs_before_bind", lambda m, b: m.get_outputs()),
    ("init_params_before_bind", lambda m, b: m.init_params()),
    ("init_optimizer_before_bind", lambda m, b: m.init_optimizer()),
])
def test_calls_before_bind(fact, call, data):
    mod = mx.mod.Module(mlp())
    with mxnet_raises(fact) as info:
        call(mod, batch_of(data))
    assert "bind" in str(info.value)
    assert not mod.binded


@pytest.mark.parametrize("fact,call", [
    ("forward_before_init_params", lambda m, b: m.forward(b)),
    ("get_outputs_before_init_params", lambda m, b: m.get_outputs()),
    ("init_optimizer_before_init_params", lambda m, b: m.init_optimizer()),
])
def test_calls_before_init_params(fact, call, data, init):
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    with mxnet_raises(fact) as info:
        call(mod, batch_of(data))
    assert "init_params" in str(info.value)
    mod.set_params(init, {})
    mod.forward(batch_of(data))
    assert mod.get_outputs()[0].shape == (BATCH, 3)


def test_update_before_init_optimizer_then_works(data, init):
    mod = bound(init)
    mod.forward_backward(batch_of(data))
    with mxnet_raises("update_before_init_optimizer") as info:
        mod.update()
    assert "init_optimizer" in str(info.value)
    mod.init_optimizer()
    mod.update()


def test_bind_with_wrong_names_leaves_module_unbound(init, data):
    mod = mx.mod.Module(mlp())
    with mxnet_raises("bind_wrong_data_name") as info:
        mod.bind([("x", (BATCH, 5))], [("softmax_label", (BATCH,))])
    assert "data" in str(info.value) and "x" in str(info.value)
    # MXNet 1.9.1 warns, then fails with a KeyError deep in shape inference; a ValueError that
    # names both label lists is the clear version of that.
    with pytest.raises(ValueError, match="lbl"):
        mod.bind([("data", (BATCH, 5))], [("lbl", (BATCH,))])
    assert not mod.binded
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    mod.set_params(init, {})
    mod.forward(batch_of(data))


def test_batch_with_wrong_number_of_arrays(data, init):
    mod = bound(init)
    two = mx.io.DataBatch([mx.nd.array(data["x"][:BATCH])] * 2,
                          [mx.nd.array(data["y"][:BATCH])])
    with pytest.raises(ValueError, match="data"):
        mod.forward(two)
    no_label = mx.io.DataBatch([mx.nd.array(data["x"][:BATCH])],
                               [mx.nd.array(data["y"][:BATCH])] * 2)
    with pytest.raises(ValueError, match="label"):
        mod.forward(no_label)
    mod.forward(batch_of(data))
    assert mod.get_outputs()[0].shape == (BATCH, 3)


def test_batch_with_wrong_shape_is_clear(data, init):
    mod = bound(init)
    bad = mx.io.DataBatch([mx.nd.zeros((BATCH, 4))], [mx.nd.zeros((BATCH,))])
    with pytest.raises(mx.MXNetError, match="fc1_weight"):
        mod.forward(bad)
    assert mod.data_shapes[0].shape == (BATCH, 5)
    mod.forward(batch_of(data), is_train=False)
    reference = bound(init)
    reference.forward(batch_of(data), is_train=False)
    np.testing.assert_array_equal(outputs_np(mod), outputs_np(reference))


def test_label_for_module_without_labels(data):
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    mod = mx.mod.Module(net, label_names=None)
    with pytest.raises(ValueError, match="label"):
        mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    assert not mod.binded
    mod.bind([("data", (BATCH, 5))])
    mod.init_params()
    with pytest.raises(ValueError, match="label"):
        mod.forward(batch_of(data), is_train=True)
    mod.forward(mx.io.DataBatch([mx.nd.array(data["x"][:BATCH])]))
    assert mod.get_outputs()[0].shape == (BATCH, 2)


# -- end to end ---------------------------------------------------------------------------------
def test_mlp_fit_reaches_95_percent_on_synthetic_classes(caplog):
    """The issue's end-to-end check: fit with progress shown, then > 95% held-out accuracy."""
    rng = np.random.RandomState(0)
    centers = rng.randn(4, 10).astype(np.float32) * 1.5
    labels = rng.randint(0, 4, size=600)
    x = centers[labels] + 0.5 * rng.randn(600, 10).astype(np.float32)
    y = labels.astype(np.float32)
    train = mx.io.NDArrayIter(x[:480], y[:480], batch_size=48, shuffle=True)
    valid = mx.io.NDArrayIter(x[480:], y[480:], batch_size=40)
    mod = mx.mod.Module(_mlp(classes=4))
    with caplog.at_level(logging.INFO):
        mod.fit(train, eval_data=valid, num_epoch=4, optimizer="adam",
                optimizer_params={"learning_rate": 0.02}, initializer=mx.init.Xavier(),
                batch_end_callback=mx.callback.Speedometer(48, 5))
    assert "Speed" in caplog.text and "samples/sec" in caplog.text
    assert "Epoch[3] Validation-accuracy" in caplog.text
    assert dict(mod.score(valid, "acc"))["accuracy"] > 0.95


def _mlp(classes):
    data = mx.sym.Variable("data")
    net = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=32, name="fc1"),
                            act_type="relu")
    net = mx.sym.Activation(mx.sym.FullyConnected(net, num_hidden=32, name="fc2"),
                            act_type="relu")
    net = mx.sym.FullyConnected(net, num_hidden=classes, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


# -- signatures ---------------------------------------------------------------------------------
@pytest.mark.parametrize("qualname", sorted(SIGNATURES))
def test_signature_matches_mxnet(qualname):
    """Parameter names and defaults as MXNet 1.9.1. BaseModule's abstract intermediate API
    (bind, forward, ...) lives only on the concrete classes here, so it is checked on Module."""
    cls_name, name = qualname.split(".")
    cls = getattr(mx.mod, cls_name)
    if cls is mx.mod.BaseModule and name not in vars(mx.mod.BaseModule):
        cls = mx.mod.Module
    func = getattr(cls, name)
    got = [[p.name, make_module.describe_default(p.default)]
           for p in inspect.signature(func).parameters.values()]
    assert got == SIGNATURES[qualname]
