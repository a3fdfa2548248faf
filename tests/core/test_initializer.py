"""mx.init: MXNet 1.9.1 goldens (tests/golden/make_initializer.py), statistics and name rules."""
import json
import logging
import os

import numpy as np
import pytest
import torch

from bucketmod import initializer as init
from bucketmod import random as mx_random
from bucketmod import registry
from bucketmod.ndarray import array, save, zeros
from bucketmod.ndarray.ndarray import NDArray

DATA = os.path.join(os.path.dirname(__file__), "..", "golden", "data")
with open(os.path.join(DATA, "initializer_cases.json")) as _f:
    GOLDEN = json.load(_f)

MAKERS = {
    "zero": lambda: init.Zero(), "one": lambda: init.One(), "constant": lambda: init.Constant(0.5),
    "uniform": lambda: init.Uniform(0.1), "normal": lambda: init.Normal(0.2),
    "xavier": lambda: init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2),
    "msraprelu": lambda: init.MSRAPrelu(slope=0.1), "orthogonal": lambda: init.Orthogonal(),
    "bilinear": lambda: init.Bilinear(), "lstmbias": lambda: init.LSTMBias(forget_bias=2.0),
}


@pytest.mark.parametrize("key", sorted(MAKERS))
def test_dumps_and_create_round_trip(key):
    made = MAKERS[key]()
    assert made.dumps() == GOLDEN["dumps"][key]
    again = init.create(made.dumps())
    assert again == made and type(again) is type(made)


def test_deterministic_kernels_match_mxnet():
    arr = zeros((2, 1, 4, 5))
    init.Bilinear()(init.InitDesc("up_weight"), arr)
    np.testing.assert_allclose(arr.asnumpy(), GOLDEN["bilinear"], rtol=1e-6)
    bias = zeros((8,))
    init.LSTMBias(forget_bias=2.0)(init.InitDesc("lstm_bias"), bias)
    np.testing.assert_array_equal(bias.asnumpy(), GOLDEN["lstmbias"])


@pytest.mark.parametrize("name", ["fc_bias", "bn_gamma", "bn_beta", "q_min", "q_max"])
def test_name_rules_match_mxnet(name):
    arr = array(np.full(3, 7.0))
    init.Uniform()(init.InitDesc(name), arr)
    np.testing.assert_array_equal(arr.asnumpy(), GOLDEN["rules"][name])


def test_init_attribute_wins_and_global_init_is_set():
    arr = zeros((2, 3))
    desc = init.InitDesc("fc_weight", attrs={"__init__": init.Constant(0.25).dumps()})
    uni = init.Uniform()
    uni(desc, arr)
    np.testing.assert_array_equal(arr.asnumpy(),
                                  GOLDEN["rules"]["fc_weight:__init__=constant(0.25)"])
    assert desc.global_init is uni
    stat = zeros((3,))
    init.Uniform()(init.InitDesc("bn_moving_var", attrs={"__init__": '["one", {}]'}), stat)
    np.testing.assert_array_equal(stat.asnumpy(), np.ones(3))


def test_stat_names_and_unknown_name():
    mean, var = array(np.full(3, 5.0)), array(np.full(3, 5.0))
    init.Xavier()(init.InitDesc("bn_moving_mean"), mean)
    init.Xavier()(init.InitDesc("bn_moving_var"), var)
    assert mean.asnumpy().tolist() == [0, 0, 0] and var.asnumpy().tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="Unknown initialization pattern for data"):
        init.Uniform()(init.InitDesc("data"), zeros((2,)))


def test_legacy_str_names_warn():
    arr = array(np.full(2, 3.0))
    with pytest.warns(DeprecationWarning):
        init.Uniform()("bn_moving_var", arr)
    assert arr.asnumpy().tolist() == [1, 1]


def _stats(initializer, shape, name="w_weight", seed=0):
    mx_random.seed(seed)
    arr = zeros(shape)
    tensor = arr.tensor
    initializer(init.InitDesc(name), arr)
    assert arr.tensor is tensor
    return arr.asnumpy()


def test_uniform_and_normal_statistics():
    u = _stats(init.Uniform(0.3), (200, 100))
    assert u.min() >= -0.3 and u.max() <= 0.3
    assert abs(u.mean()) < 0.01 and abs(u.std() - 0.3 / np.sqrt(3)) < 0.005
    n = _stats(init.Normal(0.5), (200, 100))
    assert abs(n.mean()) < 0.01 and abs(n.std() - 0.5) < 0.01


@pytest.mark.parametrize("rnd_type,factor_type,shape", [
    ("uniform", "avg", (64, 32)), ("gaussian", "in", (32, 16, 3, 3)),
    ("uniform", "out", (100, 50)), ("gaussian", "avg", (80, 40))])
def test_xavier_scale(rnd_type, factor_type, shape):
    w = _stats(init.Xavier(rnd_type=rnd_type, factor_type=factor_type, magnitude=2.5), shape)
    hw = np.prod(shape[2:]) if len(shape) > 2 else 1
    fan_in, fan_out = shape[1] * hw, shape[0] * hw
    factor = {"avg": (fan_in + fan_out) / 2, "in": fan_in, "out": fan_out}[factor_type]
    scale = np.sqrt(2.5 / factor)
    if rnd_type == "uniform":
        assert np.abs(w).max() <= scale
        assert abs(w.std() - scale / np.sqrt(3)) < 0.05 * scale
    else:
        assert abs(w.std() - scale) < 0.05 * scale


def test_msraprelu_scale():
    w = _stats(init.MSRAPrelu(factor_type="in", slope=0.0), (128, 64))
    assert abs(w.std() - np.sqrt(2.0 / 64)) < 0.05 * np.sqrt(2.0 / 64)


def test_xavier_rejects_vectors_and_bad_types():
    with pytest.raises(ValueError, match="Xavier initializer cannot be applied to vector "
                                         "fc_weight"):
        init.Xavier()(init.InitDesc("fc_weight"), zeros((4,)))
    with pytest.raises(ValueError, match="'bad'"):
        init.Xavier(factor_type="bad")(init.InitDesc("fc_weight"), zeros((4, 4)))
    with pytest.raises(ValueError, match="'bad'"):
        init.Xavier(rnd_type="bad")(init.InitDesc("fc_weight"), zeros((4, 4)))


@pytest.mark.parametrize("shape", [(8, 20), (20, 8), (6, 2, 3)])
def test_orthogonal(shape):
    w = _stats(init.Orthogonal(scale=2.0, rand_type="normal"), shape).reshape(shape[0], -1)
    if w.shape[0] <= w.shape[1]:
        np.testing.assert_allclose(w @ w.T, 4.0 * np.eye(w.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(w.shape[1]), atol=1e-5)


def test_seed_reproduces_and_torch_tensor_target():
    a = _stats(init.Uniform(), (5, 5), seed=3)
    b = _stats(init.Uniform(), (5, 5), seed=3)
    np.testing.assert_array_equal(a, b)
    t = torch.zeros(3, 4)
    init.One()(init.InitDesc("x_weight"), t)
    assert torch.equal(t, torch.ones(3, 4))


def test_constant_array_and_dumps():
    c = init.Constant(array(np.arange(3)))
    arr = zeros((2, 3))
    c(init.InitDesc("c_weight"), arr)
    np.testing.assert_array_equal(arr.asnumpy(), [[0, 1, 2], [0, 1, 2]])
    assert c.dumps() == '["constant", {"value": [0.0, 1.0, 2.0]}]'


def test_mixed_and_load(tmp_path):
    mixed = init.Mixed(["fc_", ".*"], [init.Constant(3.0), init.One()])
    b, w = zeros((2,)), zeros((2, 2))
    mixed(init.InitDesc("fc_weight"), b)
    mixed(init.InitDesc("z_weight"), w)
    assert b.asnumpy().tolist() == [3, 3] and w.asnumpy().sum() == 4
    with pytest.raises(ValueError, match="did not match any pattern"):
        init.Mixed(["^a"], [init.One()])("b", b)

    fname = str(tmp_path / "p.params")
    save(fname, {"arg:fc_weight": array([[1.0, 2.0], [3.0, 4.0]])})
    loader = init.Load(fname, default_init=init.Constant(9.0))
    loader("fc_weight", w)
    loader(init.InitDesc("other_weight"), b)
    assert w.asnumpy().tolist() == [[1, 2], [3, 4]] and b.asnumpy().tolist() == [9, 9]
    with pytest.raises(AssertionError, match="Shape mismatch"):
        loader("fc_weight", zeros((3,)))
    with pytest.raises(AssertionError, match="Cannot Initialize nope"):
        init.Load({"a": array([1.0])})("nope", zeros((1,)))


def test_registry_and_create_errors():
    assert isinstance(init.create("zeros"), init.Zero)
    assert isinstance(init.create("Xavier", magnitude=2), init.Xavier)
    with pytest.raises(AssertionError, match="nope is not registered"):
        init.create("nope")

    @init.register
    class Twos(init.Initializer):
        def _init_weight(self, _, arr):
            arr.tensor.fill_(2.0)
    try:
        arr = zeros((2,))
        init.Uniform()(init.InitDesc("x_weight", attrs={"__init__": Twos().dumps()}), arr)
        assert arr.asnumpy().tolist() == [2, 2]
    finally:
        registry._REGISTRY[init.Initializer].pop("twos")


def test_verbosity_logs(caplog):
    with caplog.at_level(logging.INFO):
        init.One().set_verbosity(True)(init.InitDesc("a_weight"), NDArray(torch.zeros(4)))
    assert "Initialized a_weight as weight: 1.0" in caplog.text
