import pytest
import torch
from bucketmod.kernels.softmax import softmax_bwd, softmax_fwd, softmax_ref
from kernel_cases import DTYPES, device, leaves, requires_cuda

from bucketmod.backend import backend
from bucketmod.ops.softmax import log_softmax, softmax
from bucketmod.testing import assert_close

# (shape, max_fused_size): one-block rows, and rows longer than one block (online loop).
CASES = [((1, 1), 16384), ((3, 37), 16384), ((2, 5, 100), 16384), ((3, 37), 16),
         ((4, 100), 32)]


@pytest.mark.parametrize("shape, max_fused", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_softmax(shape, max_fused, log, dtype, ratio):
    torch.manual_seed(42)
    (x,), (xr,) = leaves(torch.randn(shape) * 3, dtype=dtype)
    (ref,) = softmax_ref(xr, log, temperature=2.0)
    dy = torch.randn_like(ref)
    ref.backward(dy)
    y, online = softmax_fwd(x, log, 2.0, max_fused_size=max_fused)
    assert online == (shape[-1] > max_fused)
    dx = softmax_bwd(dy.to(dtype), y, log, 2.0, max_fused_size=max_fused)
    assert_close("y", ref, y, ratio)
    assert_close("dx", xr.grad, dx, ratio * 2)


def test_softmax_masked_rows_stay_finite():
    x = torch.full((2, 40), -1e4, device=device())
    x[0, 3] = 0.0
    y, _ = softmax_fwd(x, max_fused_size=16)
    assert_close("y", torch.softmax(x, -1), y, 1e-6)


@pytest.mark.parametrize("fn", [softmax, log_softmax])
@pytest.mark.parametrize("axis, temperature", [(-1, None), (2, 0.5), (1, None)])
def test_softmax_ops_triton_matches_torch(fn, axis, temperature):
    torch.manual_seed(42)
    x = torch.randn(2, 3, 9, device=device())
    out = []
    for name in ("torch", "triton"):
        xs = x.clone().requires_grad_()
        with backend(name):
            y = fn(xs, axis, temperature)
        (y * torch.linspace(-1, 1, y.numel(), device=y.device).reshape(y.shape)).sum().backward()
        out.append((y, xs.grad))
    assert_close("y", out[0][0], out[1][0], 1e-5)
    assert_close("dx", out[0][1], out[1][1], 1e-5)


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("N", [4096, 50000, 262144])
def test_softmax_large(N):
    torch.manual_seed(42)
    x = torch.randn(64, N, device="cuda")
    y, _ = softmax_fwd(x)
    assert_close("y", torch.softmax(x, -1), y, 1e-5)
