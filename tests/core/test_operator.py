"""`mx.operator` custom ops against MXNet 1.9.1 (fixtures and the shared op definitions:
tests/golden/make_operator.py)."""
import importlib.util
import json
import pathlib
import warnings

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.ops import custom

_GOLDEN = pathlib.Path(__file__).resolve().parent.parent / "golden"
DATA = _GOLDEN / "data" / "operator"
TOL = 1e-4


def _load_fixture_script():
    spec = importlib.util.spec_from_file_location("make_operator", _GOLDEN / "make_operator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _load_fixture_script()
LOG = fx.define_ops(mx)


def _close(name, expected, got, tol=TOL):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=tol, atol=tol,
                               err_msg=name)


def test_probe_matches_mxnet():
    """Arguments, outputs, aux states, JSON, inference, the calls the op gets (reqs, which
    arrays backward receives), outputs, gradients and aux updates, and mx.nd.Custom."""
    with open(DATA / "probe.json") as f:
        expected = json.load(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = fx.run_probe(mx, LOG)
    for key in ("arguments", "outputs", "aux", "nodes", "infer_shape", "infer_type",
                "infer_type_both", "prop_calls", "calls"):
        assert got[key] == expected[key], key
    for key, value in expected["values"].items():
        _close(key, value, got["values"][key], 1e-6)
    for want, have in zip(expected["nd_custom"], got["nd_custom"]):
        _close("nd_custom", want, have, 1e-6)


def test_mlp_with_numpy_softmax_trains_like_softmax_output():
    """MXNet's example/numpy-ops softmax as a custom op: the same steps and final parameters
    as the built-in SoftmaxOutput, and as MXNet 1.9.1 with that custom op."""
    golden = dict(np.load(DATA / "mlp.npz"))
    ours_custom = fx.train_mlp(mx, True)
    ours_builtin = fx.train_mlp(mx, False)
    for name, value in ours_custom.items():
        _close("builtin " + name, ours_builtin[name], value, 1e-5)
        _close("mxnet custom " + name, golden["custom_" + name], value)
        _close("mxnet builtin " + name, golden["builtin_" + name], value)


def _bucketing_module():
    return mx.mod.BucketingModule(fx.bucket_sym_gen(mx), default_bucket_key=max(fx.BUCKETS),
                                  context=mx.cpu())


def test_custom_op_in_every_bucket_matches_mxnet():
    golden = dict(np.load(DATA / "bucketing.npz"))
    mod = _bucketing_module()
    mod.bind(data_shapes=[("data", (fx.BATCH, max(fx.BUCKETS)))],
             label_shapes=[("softmax_label", (fx.BATCH,))])
    record = fx.train(mx, mod, fx.bucket_batches(), fx.bucket_init())
    assert sorted(mod.bucket_keys) == sorted(set(fx.BUCKETS))
    assert set(record) == set(golden)
    for name, value in record.items():
        _close(name, golden[name], value)


def test_checkpoint_names_custom_and_needs_the_op_registered(tmp_path, monkeypatch):
    mod = _bucketing_module()
    mod.bind(data_shapes=[("data", (fx.BATCH, max(fx.BUCKETS)))],
             label_shapes=[("softmax_label", (fx.BATCH,))])
    fx.train(mx, mod, fx.bucket_batches(), fx.bucket_init())
    prefix = str(tmp_path / "m")
    mod.save_checkpoint(prefix, 1)
    for key in set(fx.BUCKETS):
        with open(f"{prefix}-{key}-symbol.json") as f:
            nodes = json.load(f)["nodes"]
        assert [(n["op"], n["attrs"]["op_type"]) for n in nodes if n["op"] == "Custom"] == [
            ("Custom", "np_softmax")]
    loaded = mx.mod.BucketingModule.load(prefix, 1, sym_gen=fx.bucket_sym_gen(mx),
                                         default_bucket_key=max(fx.BUCKETS))
    loaded.bind(data_shapes=[("data", (fx.BATCH, max(fx.BUCKETS)))],
                label_shapes=[("softmax_label", (fx.BATCH,))], for_training=False)
    key, data, label = fx.bucket_batches()[1]
    batch = mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)], bucket_key=key,
                            provide_data=[("data", data.shape)],
                            provide_label=[("softmax_label", label.shape)])
    for module in (mod, loaded):
        module.forward(batch, is_train=False)
    np.testing.assert_array_equal(loaded.get_outputs()[0].asnumpy(),
                                  mod.get_outputs()[0].asnumpy())
    monkeypatch.delitem(custom._PROPS, "np_softmax")
    with pytest.raises(mx.MXNetError, match="np_softmax.*register"):
        mx.sym.load(f"{prefix}-3-symbol.json")


def test_loss_custom_op_needs_no_head_gradient_others_do():
    data = mx.nd.array(np.eye(3, 4, dtype=np.float32))
    softmax = mx.sym.Custom(mx.sym.var("data"), op_type="np_softmax", name="sm")
    exe = softmax.simple_bind(mx.cpu(), data=(3, 4), grad_req={"data": "write",
                                                              "sm_label": "null"})
    exe.arg_dict["data"][:] = data
    exe.arg_dict["sm_label"][:] = mx.nd.array([0, 1, 3])
    exe.forward(is_train=True)
    exe.backward()
    p = exe.outputs[0].asnumpy()
    onehot = np.eye(4, dtype=np.float32)[[0, 1, 3]]
    _close("softmax grad", p - onehot, exe.grad_dict["data"].asnumpy(), 1e-6)
    probe = mx.sym.Custom(mx.sym.var("x"), op_type="probe")
    exe = probe.simple_bind(mx.cpu(), x=(2, 3))
    exe.forward(is_train=True)
    with pytest.raises(mx.MXNetError, match="head gradient"):
        exe.backward()


def test_grad_req_add_accumulates():
    sym = mx.sym.Custom(mx.sym.var("x"), op_type="probe", name="pr")
    exe = sym.simple_bind(mx.cpu(), x=(2, 3), grad_req="add")
    inputs = fx.probe_inputs()
    exe.arg_dict["x"][:] = inputs["data"][:2, :3]
    exe.arg_dict["pr_weight"][:] = inputs["weight"][:3]
    heads = [mx.nd.ones((2, 3)), mx.nd.ones((2,))]
    grads = []
    for _ in range(2):
        exe.forward(is_train=True)
        exe.backward(heads)
        grads.append(exe.grad_dict["x"].asnumpy().copy())
    _close("accumulated", 2 * grads[0], grads[1], 1e-6)


def test_assign_follows_req():
    op = mx.operator.CustomOp()
    dst = mx.nd.ones((2,))
    for req, want in (("write", [3, 3]), ("inplace", [3, 3]), ("add", [6, 6]), ("null", [6, 6])):
        op.assign(dst, req, mx.nd.full((2,), 3))
        np.testing.assert_array_equal(dst.asnumpy(), want, err_msg=req)
    with pytest.raises(ValueError, match="req"):
        op.assign(dst, "overwrite", dst)


def test_registration_warns_twice_and_unknown_names_fail():
    @mx.operator.register("twice_op")
    class First(mx.operator.CustomOpProp):
        pass

    with pytest.warns(UserWarning, match="twice_op"):
        @mx.operator.register("twice_op")
        class Second(mx.operator.CustomOpProp):
            pass
    assert custom._PROPS["twice_op"] is Second
    with pytest.raises(mx.MXNetError, match="Cannot find custom operator 'nope'"):
        mx.sym.Custom(mx.sym.var("x"), op_type="nope")
    with pytest.raises(mx.MXNetError, match="op_type"):
        mx.sym.Custom(mx.sym.var("x"))
    with pytest.raises(mx.MXNetError, match="does not take"):
        mx.sym.Custom(mx.sym.var("x"), op_type="probe", bogus=1)
    assert "Custom" in mx.operator.get_all_registered_operators()


def test_infer_shape_errors_name_the_op():
    @mx.operator.register("bad_shape_op")
    class BadShape(mx.operator.CustomOpProp):
        def infer_shape(self, in_shape):
            return in_shape, [], []

    sym = mx.sym.Custom(mx.sym.var("x"), op_type="bad_shape_op")
    with pytest.raises(mx.MXNetError, match="bad_shape_op.infer_shape: expected 1 output"):
        sym.infer_shape(x=(2, 2))


def _scaled_tanh_op(name, calls, with_backward=True):
    """A kernel op whose 'kernels' are torch code that counts its calls."""
    def reference(x, alpha):
        calls.append("reference")
        return torch.tanh(alpha * x)

    def forward(x, alpha):
        calls.append("forward")
        y = torch.tanh(alpha * x)
        return y, (y,)

    def backward(saved, dy, alpha):
        calls.append("backward")
        (y,) = saved
        return (dy * alpha * (1 - y * y),)

    return mx.operator.register_kernel(name, reference=reference, forward=forward,
                                       backward=backward if with_backward else None,
                                       params={"alpha": 1.0})


@pytest.mark.parametrize("with_backward", [True, False], ids=["kernel-bwd", "ref-bwd"])
def test_register_kernel_backend_switch(with_backward):
    calls = []
    name = "scaled_tanh_bwd" if with_backward else "scaled_tanh_ref"
    _scaled_tanh_op(name, calls, with_backward)
    sym = getattr(mx.sym, name)(mx.sym.var("x"), alpha=0.5)
    x = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    results = {}
    for backend in ("torch", "triton"):
        old = mx.set_backend(backend)
        try:
            del calls[:]
            exe = sym.simple_bind(mx.cpu(), x=(2, 3))
            exe.arg_dict["x"][:] = x
            exe.forward(is_train=True)
            exe.backward(mx.nd.ones((2, 3)))
            results[backend] = (exe.outputs[0].asnumpy(), exe.grad_dict["x"].asnumpy())
            expected = ["reference"] if backend == "torch" else (
                ["forward", "backward"] if with_backward else ["forward", "reference"])
            assert calls == expected, backend
        finally:
            mx.set_backend(old)
    y = np.tanh(0.5 * x)
    for backend, (out, grad) in results.items():
        _close(backend + " output", y, out, 1e-6)
        _close(backend + " grad", 0.5 * (1 - y * y), grad, 1e-6)
    _close("nd", y, getattr(mx.nd, name)(mx.nd.array(x), alpha=0.5).asnumpy(), 1e-6)


def test_register_kernel_names():
    calls = []
    _scaled_tanh_op("kernel_twice", calls)
    with pytest.warns(UserWarning, match="kernel_twice"):
        _scaled_tanh_op("kernel_twice", calls)
    with pytest.raises(ValueError, match="built-in"):
        _scaled_tanh_op("FullyConnected", calls)
    with pytest.raises(mx.MXNetError, match="returned 2 outputs"):
        mx.operator.register_kernel("two_outs", reference=lambda x: (x, x))
        mx.nd.two_outs(mx.nd.ones((2,)))
