"""The torch paths' GEMMs: oneDNN above the size threshold and torch.mm below it compute the
same products, for every operand layout the callers pass."""
import pytest
import torch

from bucketmod.ops import gemm
from bucketmod.testing import assert_close


@pytest.mark.parametrize("M, K, N", [(3, 5, 7), (64, 128, 128), (130, 72, 200)],
                         ids=["torch.mm", "threshold", "oneDNN"])
def test_products_match_torch(M, K, N):
    torch.manual_seed(42)
    x, w, b = torch.randn(M, K), torch.randn(N, K), torch.randn(N)
    assert_close("linear", x @ w.T + b, gemm.linear(x, w, b), 1e-6)
    assert_close("linear no bias", x @ w.T, gemm.linear(x, w), 1e-6)
    assert_close("linear transposed weight", x @ w.T, gemm.linear(x, w.T.contiguous().T), 1e-6)
    y = torch.randn(M, N)
    assert_close("mm", y @ w, gemm.mm(y, w), 1e-6)
    assert_close("mm_tn", y.T @ x, gemm.mm_tn(y, x), 1e-6)
    assert_close("mm_tn (wide)", x.T @ y, gemm.mm_tn(x, y), 1e-6)


def test_broadcast_operands_and_other_dtypes_use_torch_mm(monkeypatch):
    called = []
    monkeypatch.setattr(gemm, "_onednn_linear", lambda: called.append(1) or False)
    x = torch.ones(()).expand(256, 64)
    w = torch.randn(128, 64)
    assert_close("expanded", x @ w.T, gemm.linear(x, w), 1e-6)
    assert_close("float64", x.double() @ w.double().T, gemm.linear(x.double(), w.double()),
                 1e-12)
    assert not called
    gemm.linear(torch.randn(256, 64), w)
    assert called
