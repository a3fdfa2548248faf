"""Module against MXNet 1.9.1: one forward_backward, two fit epochs with SGD+momentum and Adam,
score and predict afterwards (fixtures from tests/golden/make_module.py)."""
import importlib.util
import os

import numpy as np
import pytest

import bucketmod as mx

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "golden", "make_module.py")
_spec = importlib.util.spec_from_file_location("make_module", _SCRIPT)
make_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_module)
BATCH = make_module.BATCH
FIT_CASES = make_module.FIT_CASES


def golden_path(name):
    return os.path.join(make_module.OUT, name)


def mlp():
    return make_module.mlp(mx)


@pytest.fixture(scope="module")
def golden_data():
    with np.load(golden_path("data.npz")) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def init_params():
    return {k: v.asnumpy() for k, v in mx.nd.load(golden_path("init.params")).items()}


def as_nd(params):
    return {k: mx.nd.array(v) for k, v in params.items()}


def batch_of(x, y, start=0):
    return mx.io.DataBatch([mx.nd.array(x[start:start + BATCH])],
                           [mx.nd.array(y[start:start + BATCH])])


def load_golden(case):
    with np.load(golden_path(f"fit_{case}.npz")) as f:
        results = {k: f[k] for k in f.files}
    params = {k: v.asnumpy() for k, v in mx.nd.load(golden_path(f"fit_{case}.params")).items()}
    return results, params


def test_one_forward_backward_matches_mxnet(golden_data, init_params):
    expected, _ = load_golden("sgd")
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], inputs_need_grad=True)
    mod.set_params(as_nd(init_params), {})
    mod.forward_backward(batch_of(golden_data["x"], golden_data["y"]))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), expected["step_output"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mod.get_input_grads()[0].asnumpy(), expected["step_input_grad"],
                               rtol=1e-4, atol=1e-6)
    grads = mod.get_grads()
    for name in init_params:
        np.testing.assert_allclose(grads[name].asnumpy(), expected["grad_" + name],
                                   rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_two_fit_epochs_match_mxnet(case, golden_data, init_params):
    expected, expected_params = load_golden(case)
    optimizer, optimizer_params = FIT_CASES[case]
    train = mx.io.NDArrayIter(golden_data["x"], golden_data["y"], batch_size=BATCH,
                              shuffle=False)
    mod = mx.mod.Module(mlp())
    mod.fit(train, num_epoch=2, optimizer=optimizer, optimizer_params=optimizer_params,
            arg_params=as_nd(init_params), aux_params={}, eval_metric="acc")
    arg_params, aux_params = mod.get_params()
    assert aux_params == {}
    assert sorted(arg_params) == sorted(expected_params)
    for name, value in expected_params.items():
        np.testing.assert_allclose(arg_params[name].asnumpy(), value, rtol=1e-4, atol=1e-4,
                                   err_msg=name)

    score = dict(mod.score(train, ["acc", "ce"]))
    assert score["accuracy"] == pytest.approx(float(expected["score_acc"]), abs=1e-9)
    assert score["cross-entropy"] == pytest.approx(float(expected["score_ce"]), rel=1e-3)

    eval_iter = mx.io.NDArrayIter(golden_data["ex"], golden_data["ey"], batch_size=BATCH)
    predicted = mod.predict(eval_iter)
    assert predicted.shape == (len(golden_data["ex"]), 3)
    np.testing.assert_allclose(predicted.asnumpy(), expected["predict"], rtol=1e-4, atol=1e-5)


def test_fit_from_set_params_matches_fit_from_arg_params(golden_data, init_params):
    """Parameters given through set_params before fit are the ones fit trains (no re-init)."""
    _, expected_params = load_golden("sgd")
    train = mx.io.NDArrayIter(golden_data["x"], golden_data["y"], batch_size=BATCH)
    mod = mx.mod.Module(mlp())
    mod.bind(train.provide_data, train.provide_label)
    mod.set_params(as_nd(init_params), {})
    optimizer, optimizer_params = FIT_CASES["sgd"]
    with pytest.warns(UserWarning, match="already initialized"):
        mod.fit(train, num_epoch=2, optimizer=optimizer, optimizer_params=optimizer_params)
    arg_params, _ = mod.get_params()
    for name, value in expected_params.items():
        np.testing.assert_allclose(arg_params[name].asnumpy(), value, rtol=1e-4, atol=1e-4,
                                   err_msg=name)


def test_fit_with_batchnorm_matches_mxnet():
    """Aux states (moving mean/var) through fit, get_params and predict, as MXNet 1.9.1."""
    expected = mx.nd.load(golden_path("fit_bn.params"))
    with np.load(golden_path("fit_bn.npz")) as f:
        expected_pred = f["predict"]
    x, y, ex, ey = make_module.make_data()
    arg_params, aux_params = make_module.make_bn_params(mx)
    optimizer, optimizer_params = FIT_CASES["sgd"]
    mod = mx.mod.Module(make_module.mlp_bn(mx))
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), num_epoch=2, optimizer=optimizer,
            optimizer_params=optimizer_params, arg_params=arg_params, aux_params=aux_params)
    got_args, got_aux = mod.get_params()
    got = {"arg:" + k: v for k, v in got_args.items()}
    got.update({"aux:" + k: v for k, v in got_aux.items()})
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name].asnumpy(), value.asnumpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=name)
    predicted = mod.predict(mx.io.NDArrayIter(ex, ey, batch_size=BATCH)).asnumpy()
    np.testing.assert_allclose(predicted, expected_pred, rtol=1e-4, atol=1e-5)
