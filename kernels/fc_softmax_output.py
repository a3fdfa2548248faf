"""FullyConnected followed by SoftmaxOutput (a language model's output layer), with the
gradient taken from the probabilities `p` as they are: `p − q` is never formed.

The GEMMs are the caller's (cuBLAS, or the CPU BLAS); this file holds the reference and the two
row-wise kernels around them: the softmax over the logits in place, and the epilogue of
`dx = s·(p W) − k·W[label] − a·s·Σ_v W_v`. kernels/README.md derives the split.
"""
import functools

import torch
import triton
import triton.language as tl

from . import _alloc
from ._common import check_dtype
from .softmax import row_max_sum
from .softmax_output import softmax_output_ref

ONE_BLOCK_MAX = 16384
ONLINE_BLOCK = 4096


def fc_softmax_output_ref(x, w, b, label, scale=1.0, ignore_label=-1.0, use_ignore=False,
                          smooth_alpha=0.0):
    """`x: [M, K]`, `w: [V, K]`, `b: [V]` or None, `label: [M]` -> `(p, dx, dw, db)` in float32:
    `p = softmax(x Wᵀ + b)` and the gradients SoftmaxOutput sends back through the FC
    (`db` None without a bias)."""
    logits = x.float() @ w.float().T
    if b is not None:
        logits = logits + b.float()
    p, g, _ = softmax_output_ref(logits, label, scale, ignore_label, use_ignore, smooth_alpha)
    return p, g @ w.float(), g.T @ x.float(), g.sum(0) if b is not None else None


@triton.jit
def softmax_rows_kernel(x, C, stride_x, ONE_BLOCK: tl.constexpr, BLOCK: tl.constexpr):
    # x[r, :C] <- softmax(x[r, :C]) in place; every block is read before it is written.
    i_r = tl.program_id(0).to(tl.int64)
    p_x = x + i_r * stride_x
    o_n = tl.arange(0, BLOCK)
    if ONE_BLOCK:
        mask = o_n < C
        b_x = tl.load(p_x + o_n, mask=mask, other=-float("inf")).to(tl.float32)
        b_e = tl.exp(b_x - tl.max(b_x, axis=0))
        tl.store(p_x + o_n, (b_e / tl.sum(b_e, axis=0)).to(x.dtype.element_ty), mask=mask)
    else:
        m, s = row_max_sum(p_x, C, 1.0, BLOCK)
        for n in range(0, C, BLOCK):
            mask = n + o_n < C
            b_x = tl.load(p_x + n + o_n, mask=mask, other=0.0).to(tl.float32)
            tl.store(p_x + n + o_n, (tl.exp(b_x - m) / s).to(x.dtype.element_ty), mask=mask)


@triton.jit
def fc_softmax_output_dx_kernel(t, w, idx, s, k, colsum, dx, K, stride_t, stride_w, stride_dx,
                                a, SMOOTH: tl.constexpr, BLOCK_K: tl.constexpr):
    # dx[r] = s[r]·t[r] − k[r]·w[idx[r]] (− a·s[r]·colsum); dx may alias t.
    i_r = tl.program_id(0).to(tl.int64)
    b_s = tl.load(s + i_r).to(tl.float32)
    b_k = tl.load(k + i_r).to(tl.float32)
    p_w = w + tl.load(idx + i_r).to(tl.int64) * stride_w
    o_k = tl.arange(0, BLOCK_K)
    for k0 in range(0, K, BLOCK_K):
        mask = k0 + o_k < K
        b_t = tl.load(t + i_r * stride_t + k0 + o_k, mask=mask, other=0.0).to(tl.float32)
        b_w = tl.load(p_w + k0 + o_k, mask=mask, other=0.0).to(tl.float32)
        b_dx = b_s * b_t - b_k * b_w
        if SMOOTH:
            b_dx -= a * b_s * tl.load(colsum + k0 + o_k, mask=mask, other=0.0).to(tl.float32)
        tl.store(dx + i_r * stride_dx + k0 + o_k, b_dx.to(dx.dtype.element_ty), mask=mask)


def _warps(block):
    return 4 if block <= 2048 else 8 if block <= 8192 else 16


def softmax_rows_config(C, max_fused_size=ONE_BLOCK_MAX):
    """`(constexprs, num_warps)` of `softmax_rows_kernel` for rows of length `C`."""
    one_block = triton.next_power_of_2(C) <= max_fused_size
    block = triton.next_power_of_2(C) if one_block else min(ONLINE_BLOCK, max_fused_size)
    return {"ONE_BLOCK": one_block, "BLOCK": block}, _warps(block)


def softmax_rows_(x, max_fused_size=ONE_BLOCK_MAX):
    """`x: [M, C]` (rows contiguous) -> `x`, overwritten by its softmax over the last axis
    (statistics in float32). Rows up to `max_fused_size` long are one block; longer rows are
    read twice in blocks of at most 4096 (a running max and sum, then the write)."""
    check_dtype("x", x)
    if x.dim() != 2 or x.stride(-1) != 1:
        raise ValueError(f"softmax_rows_: expected x [M, C] with unit column stride, got shape "
                         f"{tuple(x.shape)} strides {x.stride()}")
    M, C = x.shape
    if M and C:
        constexprs, num_warps = softmax_rows_config(C, max_fused_size)
        softmax_rows_kernel[(M,)](x=x, C=C, stride_x=x.stride(0), **constexprs,
                                  num_warps=num_warps)
    return x


def fc_softmax_output_dx_config(K):
    """`(BLOCK_K, num_warps)` of `fc_softmax_output_dx_kernel` for rows of width `K`."""
    block = min(triton.next_power_of_2(K), 1024)
    return block, 1 if block <= 128 else 2 if block <= 512 else 4


def fc_softmax_output_dx(t, w, idx, s, k, a=0.0, colsum=None, out=None):
    """The data gradient of FC + SoftmaxOutput from `t = p W`:
    `dx = s·t − k·W[idx] − a·s·colsum`, row by row.

    Args:
        t: `[M, K]`, `p @ w`. w: `[V, K]`. idx: `[M]` int64 rows of `w`, in `[0, V)`.
        s, k: `[M]` per-row factors (grad_scale / normaliser, zero where ignored; `k` is
            `s·(1 − α − a)` where the label is a class and 0 where it is not).
        a: `α / (V − 1)` with label smoothing α, and `colsum = w.sum(0)` (`[K]`) with it.
        out: where dx goes (may be `t`); a new tensor if None.
    """
    if a and colsum is None:
        raise ValueError("fc_softmax_output_dx: label smoothing (a != 0) needs colsum = w.sum(0)")
    M, K = t.shape
    dx = out if out is not None else _alloc.empty((M, K), dtype=t.dtype, device=t.device)
    if M and K:
        block, num_warps = fc_softmax_output_dx_config(K)
        fc_softmax_output_dx_kernel[(M,)](
            t=t, w=w, idx=idx, s=s, k=k, colsum=colsum if colsum is not None else s, dx=dx,
            K=K, stride_t=t.stride(0), stride_w=w.stride(0), stride_dx=dx.stride(0),
            a=float(a), SMOOTH=a != 0.0, BLOCK_K=block, num_warps=num_warps)
    return dx


def compile_cases(shapes):
    """The launchers at the project's shapes on meta tensors, for the AOT check."""
    t = shapes.tensor
    for dtype in shapes.dtypes:
        for M in shapes.rows:
            for V in shapes.vocab + shapes.hidden:
                yield functools.partial(softmax_rows_, t(M, V, dtype=dtype))
            for K in shapes.hidden:
                for V in shapes.vocab:
                    rows = t(M, dtype=dtype)
                    for a in (0.0, 0.1 / (V - 1)):
                        yield functools.partial(
                            fc_softmax_output_dx, t(M, K, dtype=dtype), t(V, K, dtype=dtype),
                            t(M, dtype=torch.int64), rows, rows, a,
                            t(K, dtype=dtype) if a else None)
