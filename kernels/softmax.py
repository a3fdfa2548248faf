"""softmax / log_softmax along the last axis: one row per program when the row fits one block,
an online (running max / running sum) loop over blocks when it does not."""
import functools

import torch
import triton
import triton.language as tl

from . import _alloc
from ._common import check_dtype

MAX_FUSED_SIZE = 16384


def softmax_ref(x, log=False, temperature=1.0):
    """Softmax (or log-softmax) of `x / temperature` over the last axis, in float32: `(y,)`."""
    z = x.float() / temperature
    return (torch.log_softmax(z, -1) if log else torch.softmax(z, -1),)


@triton.jit
def softmax_fwd_kernel(x, y, N, stride_x, stride_y, inv_t, LOG: tl.constexpr,
                       BLOCK: tl.constexpr):
    i_r = tl.program_id(0).to(tl.int64)
    o_n = tl.arange(0, BLOCK)
    mask = o_n < N
    b_x = tl.load(x + i_r * stride_x + o_n, mask=mask, other=-float("inf")).to(tl.float32)
    b_x = b_x * inv_t
    b_x = b_x - tl.max(b_x, axis=0)
    b_e = tl.exp(b_x)
    b_s = tl.sum(b_e, axis=0)
    b_y = b_x - tl.log(b_s) if LOG else b_e / b_s
    tl.store(y + i_r * stride_y + o_n, b_y.to(y.dtype.element_ty), mask=mask)


@triton.jit
def row_max_sum(x, N, inv_t, BLOCK: tl.constexpr):
    """Running max `m` and `sum(exp(x*inv_t - m))` of one row of length N, block by block."""
    o_n = tl.arange(0, BLOCK)
    b_m = tl.full((BLOCK,), -float("inf"), tl.float32)
    b_s = tl.zeros((BLOCK,), tl.float32)
    for n in range(0, N, BLOCK):
        mask = n + o_n < N
        b_x = tl.load(x + n + o_n, mask=mask, other=-float("inf")).to(tl.float32) * inv_t
        b_new = tl.maximum(b_m, b_x)
        # lanes still at -inf contribute 0; guard the (-inf) - (-inf) NaN.
        b_s = b_s * tl.where(b_new == -float("inf"), 0.0, tl.exp(b_m - b_new)) + \
            tl.where(mask, tl.exp(b_x - b_new), 0.0)
        b_m = b_new
    m = tl.max(b_m, axis=0)
    s = tl.sum(b_s * tl.where(b_m == -float("inf"), 0.0, tl.exp(b_m - m)), axis=0)
    return m, s


@triton.jit
def softmax_fwd_online_kernel(x, y, N, stride_x, stride_y, inv_t, LOG: tl.constexpr,
                              BLOCK: tl.constexpr):
    i_r = tl.program_id(0).to(tl.int64)
    p_x = x + i_r * stride_x
    m, s = row_max_sum(p_x, N, inv_t, BLOCK)
    o_n = tl.arange(0, BLOCK)
    for n in range(0, N, BLOCK):
        mask = n + o_n < N
        b_x = tl.load(p_x + n + o_n, mask=mask, other=0.0).to(tl.float32) * inv_t - m
        b_y = b_x - tl.log(s) if LOG else tl.exp(b_x) / s
        tl.store(y + i_r * stride_y + n + o_n, b_y.to(y.dtype.element_ty), mask=mask)


@triton.jit
def softmax_bwd_kernel(dy, y, dx, N, stride_dy, stride_y, stride_dx, inv_t,
                       LOG: tl.constexpr, BLOCK: tl.constexpr, ONE_BLOCK: tl.constexpr):
    # softmax: dx = y (dy - Σ dy·y) / T;  log_softmax: dx = (dy - e^y Σ dy) / T.
    i_r = tl.program_id(0).to(tl.int64)
    o_n = tl.arange(0, BLOCK)
    p_dy = dy + i_r * stride_dy
    p_y = y + i_r * stride_y
    p_dx = dx + i_r * stride_dx
    if ONE_BLOCK:
        mask = o_n < N
        b_dy = tl.load(p_dy + o_n, mask=mask, other=0.0).to(tl.float32)
        b_y = tl.load(p_y + o_n, mask=mask, other=0.0).to(tl.float32)
        if LOG:
            b_dx = b_dy - tl.exp(b_y) * tl.sum(b_dy, axis=0)
        else:
            b_dx = b_y * (b_dy - tl.sum(b_dy * b_y, axis=0))
        tl.store(p_dx + o_n, (b_dx * inv_t).to(dx.dtype.element_ty), mask=mask)
    else:
        b_acc = tl.zeros((BLOCK,), tl.float32)
        for n in range(0, N, BLOCK):
            mask = n + o_n < N
            b_dy = tl.load(p_dy + n + o_n, mask=mask, other=0.0).to(tl.float32)
            if LOG:
                b_acc += b_dy
            else:
                b_acc += b_dy * tl.load(p_y + n + o_n, mask=mask, other=0.0).to(tl.float32)
        acc = tl.sum(b_acc, axis=0)
        for n in range(0, N, BLOCK):
            mask = n + o_n < N
            b_dy = tl.load(p_dy + n + o_n, mask=mask, other=0.0).to(tl.float32)
            b_y = tl.load(p_y + n + o_n, mask=mask, other=0.0).to(tl.float32)
            b_dx = b_dy - tl.exp(b_y) * acc if LOG else b_y * (b_dy - acc)
            tl.store(p_dx + n + o_n, (b_dx * inv_t).to(dx.dtype.element_ty), mask=mask)


def _rows(t):
    t = t.contiguous()
    return t.reshape(-1, t.shape[-1]) if t.dim() else t.reshape(1, 1)


def _warps(block):
    return 4 if block <= 2048 else 8 if block <= 8192 else 16


def softmax_fwd(x, log=False, temperature=1.0, max_fused_size=MAX_FUSED_SIZE):
    """Softmax of `x / temperature` over its last axis, any leading shape: `(y, online)`.

    Rows of length <= `max_fused_size` take the one-block path; longer rows the online loop
    (blocks of `max_fused_size`). `online` says which ran, for the caller to record.
    """
    check_dtype("x", x)
    shape = x.shape
    x2 = _rows(x)
    M, N = x2.shape
    y = _alloc.empty(x2.shape, dtype=x.dtype, device=x.device)
    online = N > max_fused_size
    if M and N:
        block = triton.next_power_of_2(min(N, max_fused_size))
        kernel = softmax_fwd_online_kernel if online else softmax_fwd_kernel
        kernel[(M,)](x=x2, y=y, N=N, stride_x=x2.stride(0), stride_y=y.stride(0),
                     inv_t=1.0 / float(temperature), LOG=log, BLOCK=block,
                     num_warps=_warps(block))
    return y.reshape(shape), online


def softmax_bwd(dy, y, log=False, temperature=1.0, max_fused_size=MAX_FUSED_SIZE):
    """Gradient of `softmax_fwd` with respect to x, from its output `y`."""
    shape = y.shape
    dy2, y2 = _rows(dy), _rows(y)
    M, N = y2.shape
    dx = _alloc.empty(y2.shape, dtype=y.dtype, device=y.device)
    if M and N:
        block = triton.next_power_of_2(min(N, max_fused_size))
        softmax_bwd_kernel[(M,)](dy=dy2, y=y2, dx=dx, N=N, stride_dy=dy2.stride(0),
                                 stride_y=y2.stride(0), stride_dx=dx.stride(0),
                                 inv_t=1.0 / float(temperature), LOG=log, BLOCK=block,
                                 ONE_BLOCK=N <= max_fused_size, num_warps=_warps(block))
    return dx.reshape(shape)


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    for dtype in shapes.dtypes:
        for N in shapes.hidden + shapes.vocab:
            x = shapes.tensor(shapes.rows[-1], N, dtype=dtype)
            for log in (False, True):
                yield functools.partial(softmax_fwd, x, log)
                yield functools.partial(softmax_bwd, x, x, log)
