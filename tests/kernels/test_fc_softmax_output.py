import pytest
import torch
from bucketmod.kernels.fc_softmax_output import (
    fc_softmax_output_dx,
    fc_softmax_output_ref,
    softmax_rows_,
)
from bucketmod.kernels.softmax import softmax_ref
from kernel_cases import DTYPES, device, leaves

from bucketmod.backend import backend
from bucketmod.ops import fc_softmax_output as fused_op
from bucketmod.ops.fc_softmax_output import fc_softmax_output
from bucketmod.testing import assert_close

ROWS = [((1, 1), 16384), ((5, 37), 16384), ((4, 100), 16384), ((5, 37), 16)]


@pytest.mark.parametrize("shape, max_fused", ROWS, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_softmax_rows(shape, max_fused, dtype, ratio):
    torch.manual_seed(42)
    x = (torch.randn(*shape) * 3).to(device=device(), dtype=dtype)
    (ref,) = softmax_ref(x)
    out = softmax_rows_(x, max_fused_size=max_fused)
    assert out is x
    assert_close("p", ref, out, ratio)


@pytest.mark.parametrize("M, K, V", [(1, 1, 1), (7, 16, 37), (3, 300, 5)])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_fc_softmax_output_dx(M, K, V, alpha, dtype, ratio):
    torch.manual_seed(42)
    t, w = (torch.randn(*s, device=device()).to(dtype) for s in ((M, K), (V, K)))
    idx = torch.randint(0, V, (M,), device=device())
    s, k = (torch.rand(M, device=device()).to(dtype) for _ in range(2))
    a = alpha / max(V - 1, 1)
    colsum = w.float().sum(0)
    ref = s.float()[:, None] * t.float() - k.float()[:, None] * w.float()[idx] - \
        a * s.float()[:, None] * colsum
    out = fc_softmax_output_dx(t, w, idx, s, k, a, colsum.to(dtype) if alpha else None)
    assert_close("dx", ref, out, ratio)
    assert fc_softmax_output_dx(t, w, idx, s, k, a, colsum.to(dtype), out=t) is t
    assert_close("dx(in place)", ref, t, ratio)


OPTIONS = [dict(), dict(normalization="batch", grad_scale=2.0),
           dict(normalization="valid", use_ignore=True, smooth_alpha=0.1, grad_scale=1.5)]


def _scale(label, M, options):
    scale = options.get("grad_scale", 1.0)
    norm = options.get("normalization", "null")
    if norm == "batch":
        return scale / M
    if norm == "valid":
        return scale / max(float((label != -1).sum()), 1.0)
    return scale


PATHS = [pytest.param("triton", *d.values, id="triton-" + d.id) for d in DTYPES] + \
    [pytest.param("torch", torch.float32, 1e-5, id="torch-fp32")]


@pytest.mark.parametrize("M, K, V, bias", [(1, 1, 2, True), (7, 16, 37, True),
                                           (9, 24, 70, False)])
@pytest.mark.parametrize("options", OPTIONS, ids=["null", "batch", "valid-ignore-smooth"])
@pytest.mark.parametrize("path, dtype, ratio", PATHS)
def test_fc_softmax_output(monkeypatch, path, M, K, V, bias, options, dtype, ratio):
    """The fused operator's output and gradients against the float32 reference, on the
    Triton kernels (the interpreter on the CPU) and on the torch path; `p − q` never formed."""
    monkeypatch.setattr(fused_op, "DENSE_MAX", 0)
    torch.manual_seed(42)
    (x, w, b), (xr, wr, br) = leaves(torch.randn(M, K), torch.randn(V, K) / K ** 0.5,
                                     torch.randn(V) if bias else None, dtype=dtype)
    label = torch.randint(-1, V + 1, (M,), device=device()).float()
    ref = fc_softmax_output_ref(xr, wr, br, label, _scale(label, M, options), -1.0,
                                options.get("use_ignore", False),
                                options.get("smooth_alpha", 0.0))
    leaves_ = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with backend(path):
        p = fc_softmax_output(x, w, b, label, **options)
    p.backward(torch.randn_like(p))  # the head gradient is ignored, as SoftmaxOutput's is
    got = [p] + [t.grad for t in leaves_]
    for name, r, o in zip(("p", "dx", "dw", "db"), [r for r in ref if r is not None], got):
        assert_close(name, r, o, ratio * 2)


@pytest.mark.parametrize("options", OPTIONS, ids=["null", "batch", "valid-ignore-smooth"])
def test_small_layers_form_the_gradient(monkeypatch, options):
    """Up to DENSE_MAX probabilities the backward forms `s·(p − q)`: the same gradients."""
    torch.manual_seed(42)
    x, w, b = torch.randn(7, 16), torch.randn(37, 16) / 4, torch.randn(37)
    label = torch.randint(-1, 38, (7,)).float()
    grads = []
    for dense_max in (0, 7 * 37):
        monkeypatch.setattr(fused_op, "DENSE_MAX", dense_max)
        leaves_ = [t.clone().requires_grad_() for t in (x, w, b)]
        with backend("torch"):
            fc_softmax_output(*leaves_, label, **options).sum().backward()
        grads.append([t.grad for t in leaves_])
    for name, split, dense in zip(("dx", "dw", "db"), *grads):
        assert_close(name, split, dense, 1e-6)
