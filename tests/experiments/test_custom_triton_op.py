"""experiments/custom_triton_op.py: a user-written Triton op (RMSNorm) checked against its
reference and trained inside a BucketingModule, kernels through the interpreter on the CPU."""
import importlib.util
import pathlib

import numpy as np
import pytest
import torch

import bucketmod as mx

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("custom_triton_op",
                                                  ROOT / "experiments" / "custom_triton_op.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


op = _load()


@pytest.mark.parametrize("shape", [pytest.param(s, id="M{}-N{}".format(*s))
                                   for s in ((4, 16), (3, 50), (7, 130))])
def test_rms_norm_kernel_matches_reference(shape):
    errors = op.check([shape])[shape]
    assert max(errors) < 1e-5, errors


def test_rms_norm_op_in_namespaces():
    op.register()
    x = mx.sym.var("x")
    y = mx.sym.rms_norm(x, eps=1e-3, name="n")
    assert y.list_arguments() == ["x", "n_gamma"]
    arg_shapes, out_shapes, _ = y.infer_shape(x=(6, 5))
    assert arg_shapes == [(6, 5), (5,)] and out_shapes == [(6, 5)]
    data, gamma = op.make_inputs(6, 5)
    out = mx.nd.rms_norm(mx.nd.array(data.detach()), mx.nd.array(gamma.detach()), eps=1e-3)
    want = op.rms_norm_ref(data, gamma, eps=1e-3).detach().numpy()
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6, atol=1e-6)


def test_bucketed_lm_trains_the_same_with_kernel_and_reference():
    torch.manual_seed(42)
    ref_losses, ref_params = op.train("torch")
    losses, params = op.train("triton")
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5, atol=1e-5)
    assert sorted(params) == sorted(ref_params)
    assert "norm_gamma" in params
    for name, value in params.items():
        np.testing.assert_allclose(value, ref_params[name], rtol=1e-5, atol=1e-5,
                                   err_msg=name)
    assert not np.allclose(params["norm_gamma"], 1.0)


def test_bench_runs_every_provider():
    result = op.bench(M=4, N=16, dtype=torch.float32, reps=2)
    assert set(result["ms_fwd_bwd"]) >= {"triton", "torch_ref"}
    assert all(ms > 0 for ms in result["ms_fwd_bwd"].values())
