"""The GEMMs of the torch paths: oneDNN's for large float32 products on the CPU, torch.mm's
otherwise.

torch.mm runs MKL, which on AMD CPUs takes its AVX2 path; oneDNN (torch's
`mkldnn::_linear_pointwise`, the kernel inductor calls) runs AVX-512 there and measured
1.6-2.4x faster at the language model's shapes (K = 200, N = 800 or 10,000) on this project's
AMD EPYC. A oneDNN call costs about 50 µs more to set up, so products under
`ONEDNN_MIN_MACS` multiply-adds stay on torch.mm, as does everything where torch has no
oneDNN, and operands with broadcast strides.

oneDNN compiles a primitive for every shape it meets and keeps it (about 0.6 MiB each, made
per M). A bucketed model changes M with every bucket, so the products whose output rows are
written where they land (`linear_blocks`, `mm_rows`) run in blocks of `ROW_BLOCK` rows: one
primitive serves every bucket, the last block padded with zero rows.
"""
import torch

ONEDNN_MIN_MACS = 1 << 20
# At K = 200, N = 10,000 a 128-row block runs within 10% of the per-row speed of one call over
# 1,920 rows (when that call's output is not freshly faulted in); 64 rows lose 25%.
ROW_BLOCK = 128
# A weight gradient sums its blocks, one pass over the sum per block: it takes runs of 8 or 4
# blocks where they fit (at M = 1,920: 25.6 ms, against 20.3 ms in one call and 40.7 ms in
# 128-row blocks).
SUM_RUNS = (8, 4, 1)
_onednn = {"op": None}


def _onednn_linear():
    if _onednn["op"] is None:
        mkldnn = getattr(torch.ops, "mkldnn", None)
        op = getattr(mkldnn, "_linear_pointwise", None) if mkldnn is not None else None
        _onednn["op"] = op if op is not None and torch.backends.mkldnn.is_available() else False
    return _onednn["op"]


def _matrix(t):
    """Whether `t` is laid out as a matrix or its transpose (no broadcast strides)."""
    return (t.stride(1) == 1 and t.stride(0) >= t.shape[1]) or \
        (t.stride(0) == 1 and t.stride(1) >= t.shape[0])


def onednn_for(a, b, macs):
    """oneDNN's linear if it should run a product of `macs` multiply-adds of `a` and `b`,
    else None."""
    if a.dtype != torch.float32 or b.dtype != torch.float32 or a.device.type != "cpu" or \
            macs < ONEDNN_MIN_MACS or not (_matrix(a) and _matrix(b)):
        return None
    return _onednn_linear() or None


def linear(x, w, b=None):
    """`x wᵀ + b` for `x: [M, K]`, `w: [N, K]`, `b: [N]` or None (any strides) -> `[M, N]`."""
    op = onednn_for(x, w, x.shape[0] * x.shape[1] * w.shape[0])
    if op is not None:
        return op(x, w, b, "none", [], "")
    return torch.addmm(b, x, w.t()) if b is not None else torch.mm(x, w.t())


def _block_op(a, b, n):
    """oneDNN's linear where a product of `a`'s rows with `n` columns runs block by block."""
    if a.shape[0] < ROW_BLOCK:
        return None
    return onednn_for(a, b, ROW_BLOCK * a.shape[1] * n)


def _row_blocks(a, sizes=(1,)):
    """`(i, j, rows)`: `a`'s rows in consecutive blocks of `size * ROW_BLOCK` rows, the largest
    of `sizes` that fits at each point, the last block of ROW_BLOCK padded with zero rows."""
    M = a.shape[0]
    i = 0
    while i < M:
        size = next((s * ROW_BLOCK for s in sizes if i + s * ROW_BLOCK <= M), ROW_BLOCK)
        j = min(i + size, M)
        if j - i == size:
            yield i, j, a[i:j]
        else:
            rows = a.new_zeros(size, a.shape[1])
            rows[:j - i] = a[i:j]
            yield i, j, rows
        i = j


def blocks_rows(x, w):
    """Whether `linear_blocks(x, w)` hands out more than one block."""
    return _block_op(x, w, w.shape[0]) is not None


def linear_blocks(x, w, b=None):
    """`(i, j, x[i:j] wᵀ + b)` over consecutive row blocks of `x` (one block, all of `x`,
    where `blocks_rows` is False). Each block is a new tensor for the caller to consume."""
    op = _block_op(x, w, w.shape[0])
    if op is None:
        yield 0, x.shape[0], linear(x, w, b)
        return
    for i, j, rows in _row_blocks(x):
        yield i, j, op(rows, w, b, "none", [], "")[:j - i]


def mm_rows(a, b):
    """`a b` for `a: [M, K]`, `b: [K, N]` with N small next to K (a logits' gradient times
    the weight), block by block of `a`'s rows.

    Each block runs as `bᵀ rowsᵀ`, so the operand oneDNN lays out afresh on every call is the
    block, not all of `b`."""
    op = _block_op(a, b, b.shape[1])
    if op is None:
        return mm(a, b)
    bt = b.t().contiguous()
    out = a.new_empty(a.shape[0], b.shape[1])
    for i, j, rows in _row_blocks(a):
        out[i:j] = op(bt, rows, None, "none", [], "")[:, :j - i].t()
    return out


def mm_tn_rows(a, b):
    """`aᵀ b` for `a: [M, P]`, `b: [M, Q]` with P > Q (a weight's gradient from a logits'
    gradient), summed over blocks of rows: each block adds its product to the sum as oneDNN
    writes it, a pass over the `[P, Q]` sum per block, so the blocks are runs of 8 or 4
    ROW_BLOCKs where they fit (three more primitives, the same for every M)."""
    op = _block_op(a, b, b.shape[1])
    if op is None:
        return mm_tn(a, b)
    total = None
    for (_, _, a_rows), (_, _, b_rows) in zip(_row_blocks(a, SUM_RUNS),
                                              _row_blocks(b, SUM_RUNS)):
        b_t = b_rows.t().contiguous()
        total = op(b_t, a_rows.t(), None, "none", [], "") if total is None else \
            _linear_add(op, b_t, total, a_rows.t())
    return total.t()


def _linear_add(op, x, other, w):
    """`x wᵀ + other`, fused where this torch's oneDNN linear takes a binary post-op."""
    binary = getattr(op, "binary", None)
    if binary is None:
        return op(x, w, None, "none", [], "").add_(other)
    return binary(x, other, w, None, "add")


def mm(a, b):
    """`a b` for `a: [M, K]`, `b: [K, N]`."""
    op = onednn_for(a, b, a.shape[0] * a.shape[1] * b.shape[1])
    return op(a, b.t(), None, "none", [], "") if op is not None else torch.mm(a, b)


def mm_tn(a, b):
    """`aᵀ b` for `a: [R, P]`, `b: [R, Q]` -> `[P, Q]` (a weight gradient: R rows summed).

    On oneDNN the smaller operand is transposed into a contiguous copy; with P > Q the result
    is the transpose of a contiguous `[Q, P]`.
    """
    op = onednn_for(a, b, a.shape[0] * a.shape[1] * b.shape[1])
    if op is None:
        return torch.mm(a.t(), b)
    if a.shape[1] <= b.shape[1]:
        return op(a.t().contiguous(), b.t(), None, "none", [], "")
    return op(b.t().contiguous(), a.t(), None, "none", [], "").t()
