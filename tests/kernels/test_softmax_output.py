import pytest
import torch
from bucketmod.kernels.softmax_output import (
    linear_cross_entropy_fwd,
    linear_cross_entropy_ref,
    softmax_output_bwd,
    softmax_output_fwd,
    softmax_output_ref,
)
from kernel_cases import DTYPES, device, leaves, requires_cuda

from bucketmod.backend import backend
from bucketmod.ops.linear_cross_entropy import linear_cross_entropy
from bucketmod.ops.softmax_output import softmax_output
from bucketmod.testing import assert_close

CASES = [((1, 1), 16384), ((5, 37), 16384), ((4, 100), 16384), ((5, 37), 16)]
OPTIONS = [dict(use_ignore=False, smooth_alpha=0.0), dict(use_ignore=True, smooth_alpha=0.1)]


@pytest.mark.parametrize("shape, max_fused", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("opts", OPTIONS, ids=["plain", "ignore-smooth"])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_softmax_output(shape, max_fused, opts, dtype, ratio):
    torch.manual_seed(42)
    M, C = shape
    x = (torch.randn(M, C) * 2).to(device=device(), dtype=dtype)
    label = torch.randint(-1, C, (M,), device=device()).float()
    p, g, loss = softmax_output_ref(x, label, 0.5, -1.0, **opts)
    pk, gk, lk = softmax_output_fwd(x, label, 0.5, -1.0, **opts, store_grad=True,
                                    store_loss=True, max_fused_size=max_fused)
    assert_close("p", p, pk, ratio)
    assert_close("grad", g, gk, ratio * 2)
    assert_close("loss", loss, lk, ratio)
    assert_close("grad(bwd)", g, softmax_output_bwd(pk, label, 0.5, -1.0, **opts), ratio * 2)
    _, g_inplace, _ = softmax_output_fwd(x.clone(), label, 0.5, -1.0, **opts,
                                         grad_out=x, max_fused_size=max_fused)
    assert g_inplace is x
    assert_close("grad(in place)", g, x, ratio * 2)


@pytest.mark.parametrize("M, K, V, chunk", [(1, 1, 1, None), (7, 16, 37, 3), (9, 24, 70, None)])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_linear_cross_entropy(M, K, V, chunk, dtype, ratio):
    torch.manual_seed(42)
    (x, w, b), (xr, wr, br) = leaves(torch.randn(M, K), torch.randn(V, K) / K ** 0.5,
                                     torch.randn(V), dtype=dtype)
    label = torch.randint(-1, V, (M,), device=device())
    (ref,) = linear_cross_entropy_ref(xr, wr, br, label, 0.5, -1, True, 0.1)
    ref.backward()
    loss, dx, dw, db = linear_cross_entropy_fwd(x, w, b, label, 0.5, -1, True, 0.1,
                                                chunk_rows=chunk)
    for name, r, o in [("loss", ref, loss), ("dx", xr.grad, dx), ("dw", wr.grad, dw),
                       ("db", br.grad, db)]:
        assert_close(name, r, o, ratio * 2)


MODES = [dict(), dict(normalization="batch", grad_scale=2.0),
         dict(normalization="valid", use_ignore=True, smooth_alpha=0.1),
         dict(multi_output=True, normalization="valid"), dict(preserve_shape=True)]


@pytest.mark.parametrize("kwargs", MODES, ids=lambda k: "-".join(k) or "default")
def test_softmax_output_op_triton_matches_torch(kwargs):
    torch.manual_seed(42)
    if kwargs.get("multi_output"):
        data, label = torch.randn(3, 6, 4), torch.randint(-1, 6, (3, 4)).float()
    elif kwargs.get("preserve_shape"):
        data, label = torch.randn(3, 4, 6), torch.randint(-1, 6, (3, 4)).float()
    else:
        data, label = torch.randn(5, 6), torch.randint(-1, 6, (5,)).float()
    data, label = data.to(device()), label.to(device())
    out = []
    for name in ("torch", "triton"):
        d = data.clone().requires_grad_()
        with backend(name):
            y = softmax_output(d, label, **kwargs)
        y.backward(torch.randn_like(y))  # the head gradient is ignored
        out.append((y, d.grad))
    assert_close("prob", out[0][0], out[1][0], 1e-5)
    assert_close("grad", out[0][1], out[1][1], 1e-5)


def test_linear_cross_entropy_op_triton_matches_torch_and_softmax_output():
    torch.manual_seed(42)
    x, w, b = (torch.randn(*s, device=device()) for s in ((6, 8), (11, 8), (11,)))
    label = torch.tensor([0.0, 10, -1, 3, 3, 7], device=device())
    kw = dict(use_ignore=True, normalization="valid", grad_scale=1.5)
    grads = []
    for name in ("torch", "triton"):
        ts = [t.clone().requires_grad_() for t in (x, w, b)]
        with backend(name):
            linear_cross_entropy(*ts, label, chunk_rows=4, **kw).backward()
        grads.append([t.grad for t in ts])
    ts = [t.clone().requires_grad_() for t in (x, w, b)]
    with backend("torch"):
        prob = softmax_output(ts[0] @ ts[1].T + ts[2], label, **kw)
    prob.backward(torch.ones_like(prob))
    for name, t, k, s in zip("xwb", grads[0], grads[1], ts):
        assert_close("d" + name, t, k, 1e-5)
        assert_close("d" + name + " vs SoftmaxOutput", s.grad, k, 1e-5)


def test_linear_cross_entropy_rejects_bad_arguments():
    with pytest.raises(ValueError, match="normalization"):
        linear_cross_entropy(torch.randn(2, 3), torch.randn(4, 3), None, torch.zeros(2),
                             normalization="mean")
    with pytest.raises(ValueError, match="label \\[M\\]"):
        linear_cross_entropy(torch.randn(2, 3), torch.randn(4, 3), None, torch.zeros(3))


@pytest.mark.gpu
@requires_cuda
def test_linear_cross_entropy_large():
    torch.manual_seed(42)
    (x, w, b), (xr, wr, br) = leaves(torch.randn(1920, 200), torch.randn(10000, 200) / 15,
                                     torch.randn(10000), dtype=torch.bfloat16)
    label = torch.randint(0, 10000, (1920,), device="cuda")
    (ref,) = linear_cross_entropy_ref(xr, wr, br, label)
    ref.backward()
    loss, dx, dw, db = linear_cross_entropy_fwd(x, w, b, label)
    assert_close("loss", ref, loss, 2e-2)
    assert_close("dw", wr.grad, dw, 2e-2)
