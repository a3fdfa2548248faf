"""mx.optimizer against MXNet 1.9.1 goldens (tests/golden/make_optimizer.py) and its contracts."""
import json
import os
import warnings

import numpy as np
import pytest
import torch

from bucketmod import lr_scheduler, optimizer
from bucketmod.base import MXNetError
from bucketmod.ndarray import array
from bucketmod.ndarray.ndarray import NDArray

DATA = os.path.join(os.path.dirname(__file__), "..", "golden", "data")
with open(os.path.join(DATA, "optimizer_cases.json")) as _f:
    GOLDEN = json.load(_f)
UPDATES = np.load(os.path.join(DATA, "optimizer_updates.npz"))


def _make(case):
    kwargs = dict(case["kwargs"])
    dtype = kwargs.pop("dtype", "float32")
    if "lr_scheduler" in kwargs:
        spec = GOLDEN["schedulers"][kwargs["lr_scheduler"]]
        kwargs["lr_scheduler"] = getattr(lr_scheduler, spec["class"])(**spec["kwargs"])
    opt = optimizer.create(case["name"], param_idx2name={0: "fc_weight", 1: "fc_bias"},
                           **kwargs)
    return opt, dtype


@pytest.mark.parametrize("case", GOLDEN["optimizers"], ids=[c["key"] for c in
                                                            GOLDEN["optimizers"]])
def test_update_matches_mxnet(case):
    opt, dtype = _make(case)
    updater = optimizer.get_updater(opt)
    weights = [array(UPDATES["weight0"], dtype=dtype), array(UPDATES["weight1"], dtype=dtype)]
    tensors = [w.tensor for w in weights]
    atol = 1e-5 if dtype == "float32" else 2e-3
    for step in range(GOLDEN["steps"]):
        for i in range(2):
            updater(i, array(UPDATES[f"grad{i}"][step], dtype=dtype), weights[i])
            assert weights[i].tensor is tensors[i]
            np.testing.assert_allclose(weights[i].asnumpy(), UPDATES[f"{case['key']}/{i}"][step],
                                       rtol=1e-5, atol=atol, err_msg=f"step {step} param {i}")


def test_update_does_not_touch_grad_and_accepts_torch_and_numpy():
    opt = optimizer.AdaDelta(rescale_grad=0.5)
    updater = optimizer.get_updater(opt)
    w = torch.ones(3)
    g = np.full(3, 2.0, dtype=np.float32)
    updater(0, g, w)
    np.testing.assert_array_equal(g, np.full(3, 2.0))
    assert not torch.equal(w, torch.ones(3))


def test_update_in_place_keeps_sharing_views():
    base = torch.zeros(4, 3)
    view = NDArray(base)
    opt = optimizer.SGD(learning_rate=1.0, momentum=0.5)
    updater = optimizer.get_updater(opt)
    updater(0, NDArray(torch.ones(4, 3)), view)
    assert view.tensor is base
    np.testing.assert_allclose(base.numpy(), -np.ones((4, 3)))


def test_shape_mismatch_raises_and_keeps_state():
    updater = optimizer.get_updater(optimizer.SGD())
    w = array(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"grad: expected the weight's shape \(2, 2\)"):
        updater(0, array(np.ones(3)), w)
    assert updater.states == {}
    np.testing.assert_array_equal(w.asnumpy(), np.ones((2, 2)))


def test_create_unknown_and_register():
    with pytest.raises(ValueError, match=r"Cannot find optimizer nope.*'sgd'"):
        optimizer.create("nope")
    assert isinstance(optimizer.create("SGD"), optimizer.SGD)
    assert isinstance(optimizer.Optimizer.create_optimizer("adam"), optimizer.Adam)

    class MyOpt(optimizer.SGD):
        pass
    optimizer.register(MyOpt)
    try:
        assert isinstance(optimizer.create("myopt", momentum=0.1), MyOpt)
        with pytest.warns(UserWarning, match="overriding"):
            optimizer.register(MyOpt)
    finally:
        del optimizer.Optimizer.opt_registry["myopt"]


class _FakeSymbol:
    def attr_dict(self):
        return {"a_weight": {"__lr_mult__": "0.5", "__wd_mult__": "2"},
                "b_bias": {"__wd_mult__": "3"}}

    def list_arguments(self):
        return ["data", "a_weight", "b_bias", "c_gamma", "d_beta"]


def test_lr_wd_mult_rules():
    names = {0: "a_weight", 1: "b_bias", 2: "c_gamma", 3: "d_beta", 4: "e_moving_mean"}
    opt = optimizer.SGD(learning_rate=0.1, wd=0.01, param_idx2name=names, sym=_FakeSymbol())
    assert opt.wd_mult == {"d_beta": 0.0, "e_moving_mean": 0.0, "b_bias": 3.0, "a_weight": 2.0}
    assert opt.lr_mult == {"a_weight": 0.5}
    assert opt._get_lr(0) == pytest.approx(0.05)
    assert opt._get_wd(0) == pytest.approx(0.02)
    assert opt._get_wd(1) == pytest.approx(0.03)
    assert opt._get_wd(2) == pytest.approx(0.01)
    assert opt._get_wd(3) == 0.0
    opt.set_lr_mult({"c_gamma": 2.0})
    assert opt._get_lr(2) == pytest.approx(0.2)
    assert opt._get_lr(0) == pytest.approx(0.05)
    opt.set_wd_mult({"d_beta": 1.0})
    assert opt._get_wd(3) == pytest.approx(0.01)


def test_learning_rate_and_scheduler_rules():
    sched = lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=1.0)
    opt = optimizer.SGD(learning_rate=0.4, lr_scheduler=sched)
    assert sched.base_lr == 0.4
    with pytest.raises(UserWarning):
        opt.set_learning_rate(0.1)
    plain = optimizer.SGD()
    assert plain.learning_rate == 0.01
    plain.set_learning_rate(0.3)
    assert plain.learning_rate == 0.3
    assert optimizer.Ftrl().lr == 0.1
    assert optimizer.Adam().lr == 0.001


def test_begin_num_update_drives_adam_bias_correction():
    w0 = np.linspace(-1, 1, 6).astype(np.float32)
    g = np.linspace(0.5, -0.5, 6).astype(np.float32)
    a, b = array(w0), array(w0)
    optimizer.get_updater(optimizer.Adam(begin_num_update=10))(0, array(g), a)
    optimizer.get_updater(optimizer.Adam())(0, array(g), b)
    assert not np.allclose(a.asnumpy(), b.asnumpy())
    t = 11
    lr = 0.001 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    m, v = 0.1 * g, 0.001 * g * g
    np.testing.assert_allclose(a.asnumpy(), w0 - lr * m / (np.sqrt(v) + 1e-8), rtol=1e-5)


@pytest.mark.parametrize("name,kwargs", [("sgd", {"momentum": 0.9}), ("adam", {}),
                                         ("rmsprop", {"centered": True}), ("ftrl", {}),
                                         ("sgd", {"momentum": 0.9, "multi_precision": True})])
def test_updater_states_round_trip(name, kwargs):
    dtype = "float16" if kwargs.get("multi_precision") else "float32"
    sched = lr_scheduler.MultiFactorScheduler(step=[2, 4], factor=0.5, base_lr=0.1)
    opt = optimizer.create(name, lr_scheduler=sched, param_idx2name={0: "w_weight"}, **kwargs)
    rng = np.random.RandomState(0)
    grads = [rng.randn(3, 2).astype(np.float32) for _ in range(6)]
    w = array(rng.randn(3, 2), dtype=dtype)
    updater = optimizer.get_updater(opt)
    for g in grads[:3]:
        updater(0, array(g, dtype=dtype), w)
    blob = updater.get_states(dump_optimizer=True)
    assert isinstance(blob, bytes) and not blob.startswith(b"\x80")
    w_copy = w.copy()
    for g in grads[3:]:
        updater(0, array(g, dtype=dtype), w)

    restored = optimizer.get_updater(optimizer.SGD())
    restored.set_states(blob)
    assert type(restored.optimizer) is type(opt)
    assert restored.optimizer.num_update == 3
    assert restored.optimizer.lr_scheduler.cur_step_ind == 1
    assert restored.states_synced == {0: False}
    for g in grads[3:]:
        restored(0, array(g, dtype=dtype), w_copy)
    np.testing.assert_array_equal(w_copy.asnumpy(), w.asnumpy())
    assert restored.states_synced == {0: True}


def test_states_only_round_trip_keeps_optimizer():
    opt = optimizer.SGD(momentum=0.9)
    updater = optimizer.get_updater(opt)
    updater(3, array(np.ones(2)), array(np.zeros(2)))
    updater("x", array(np.ones(2)), array(np.zeros(2)))
    other = optimizer.get_updater(optimizer.SGD(momentum=0.9))
    other.set_states(updater.get_states())
    assert other.optimizer is not opt
    assert sorted(other.states, key=str) == [3, "x"]
    np.testing.assert_array_equal(other.states[3].asnumpy(), updater.states[3].asnumpy())


def test_set_states_rejects_foreign_bytes():
    updater = optimizer.get_updater(optimizer.SGD())
    with pytest.raises(MXNetError, match="expected bytes from Updater.get_states"):
        updater.set_states(b"\x80\x04not ours")
    assert updater.states == {}


def test_sync_state_context():
    updater = optimizer.get_updater(optimizer.SGD())
    a = array(np.ones(2))
    from bucketmod.context import cpu
    out = updater.sync_state_context((a, [None, a]), cpu(1))
    assert isinstance(out, tuple) and isinstance(out[1], list) and out[1][0] is None
    assert out[0].context == cpu(1)


def test_float16_without_multi_precision_warns():
    opt = optimizer.SGD(momentum=0.9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.create_state_multi_precision(0, array(np.ones(2), dtype="float16"))
    assert any("multi_precision" in str(w.message) for w in caught)
