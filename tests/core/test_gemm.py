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


def _blocked_products(M, K, N):
    torch.manual_seed(M)
    x, w, b = torch.randn(M, K), torch.randn(N, K), torch.randn(N)
    g = torch.randn(M, N)
    logits = torch.empty(M, N)
    for i, j, block in gemm.linear_blocks(x, w, b):
        logits[i:j] = block
    return (x, w, b, g), (logits, gemm.mm_rows(g, w), gemm.mm_tn_rows(g, x))


@pytest.mark.parametrize("M", [gemm.ROW_BLOCK, 300], ids=["one-block", "padded-block"])
def test_row_blocked_products_match_torch(M):
    (x, w, b, g), (logits, dx, dw) = _blocked_products(M, 72, 200)
    assert gemm.blocks_rows(x, w)
    assert_close("linear_blocks", x @ w.T + b, logits, 1e-6)
    assert_close("mm_rows", g @ w, dx, 1e-6)
    assert_close("mm_tn_rows", g.T @ x, dw, 1e-6)


def test_row_blocks_give_onednn_the_same_shapes_for_every_m(monkeypatch):
    """oneDNN keeps a compiled primitive per shape: every M must reuse one small set."""
    op = gemm._onednn_linear()
    if op is False:
        pytest.skip("this torch has no oneDNN linear")
    seen = {}

    class Spy:
        def __call__(self, x, w, *rest):
            seen.setdefault(M, set()).add(("linear", tuple(x.shape), tuple(w.shape)))
            return op(x, w, *rest)

        def binary(self, x, other, w, *rest):
            seen.setdefault(M, set()).add(("binary", tuple(x.shape), tuple(w.shape)))
            return op.binary(x, other, w, *rest)

    monkeypatch.setattr(gemm, "_onednn", {"op": Spy()})
    for M in (gemm.ROW_BLOCK * 3, 300, 520, 1100, 2000):
        _blocked_products(M, 72, 200)
    shapes = set().union(*seen.values())
    # linear_blocks and mm_rows: one shape each; mm_tn_rows: one per run length, plain and
    # adding to the sum
    assert len(shapes) <= 2 + 2 * len(gemm.SUM_RUNS), shapes
    assert {d for _, x, w in shapes for d in x + w} <= {72, 200} | {
        gemm.ROW_BLOCK * n for n in gemm.SUM_RUNS}
