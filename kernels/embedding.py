"""Embedding: a row gather forward and an atomic scatter-add backward (float32 accumulator)."""
import functools

import torch
import triton
import triton.language as tl

from . import _alloc
from ._common import check_dtype


def embedding_ref(idx, weight):
    """`idx: [M]` integer rows (clamped to `[0, V)`, as MXNet does), `weight: [V, D]` ->
    `(y,)` with `y: [M, D]` in float32."""
    return (weight.float()[idx.long().clamp(0, weight.shape[0] - 1)],)


@triton.jit
def embedding_fwd_kernel(idx, w, y, V, D, stride_w, stride_y, BLOCK_D: tl.constexpr):
    i_m = tl.program_id(0).to(tl.int64)
    o_d = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = o_d < D
    row = tl.minimum(tl.maximum(tl.load(idx + i_m).to(tl.int64), 0), V - 1)
    b_w = tl.load(w + row * stride_w + o_d, mask=mask, other=0.0)
    tl.store(y + i_m * stride_y + o_d, b_w, mask=mask)


@triton.jit
def embedding_bwd_kernel(idx, dy, dw, V, D, stride_dy, stride_dw, BLOCK_D: tl.constexpr):
    i_m = tl.program_id(0).to(tl.int64)
    o_d = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = o_d < D
    row = tl.minimum(tl.maximum(tl.load(idx + i_m).to(tl.int64), 0), V - 1)
    b_dy = tl.load(dy + i_m * stride_dy + o_d, mask=mask, other=0.0).to(tl.float32)
    # Nothing reads dw until the kernel ends, so no ordering is needed: relaxed, not the
    # default acq_rel (which fences around every program's adds).
    tl.atomic_add(dw + row * stride_dw + o_d, b_dy, mask=mask, sem="relaxed")


def _block(D):
    return min(triton.next_power_of_2(max(D, 1)), 1024)


def embedding_fwd(idx, weight):
    """`idx`: integer tensor of any shape; `weight: [V, D]` -> `idx.shape + [D]`."""
    check_dtype("weight", weight)
    if idx.is_floating_point():
        raise TypeError(f"idx: expected an integer tensor, got {idx.dtype}")
    shape = idx.shape
    flat = idx.reshape(-1).contiguous()
    V, D = weight.shape
    weight = weight.contiguous()
    y = _alloc.empty((flat.numel(), D), dtype=weight.dtype, device=weight.device)
    if flat.numel() and D:
        block = _block(D)
        embedding_fwd_kernel[(flat.numel(), triton.cdiv(D, block))](
            idx=flat, w=weight, y=y, V=V, D=D, stride_w=weight.stride(0), stride_y=y.stride(0),
            BLOCK_D=block)
    return y.reshape(*shape, D)


def embedding_bwd(dy, idx, num_rows, out_dtype=torch.float32):
    """Gradient of `embedding_fwd` for the weight: `[num_rows, D]`, rows repeated in `idx`
    summed (float32 atomics, so the order of the sum, not its value, varies run to run)."""
    flat = idx.reshape(-1).contiguous()
    D = dy.shape[-1]
    dy2 = dy.reshape(-1, D).contiguous()
    dw = _alloc.zeros((num_rows, D), dtype=torch.float32, device=dy.device)
    if flat.numel() and D:
        block = _block(D)
        embedding_bwd_kernel[(flat.numel(), triton.cdiv(D, block))](
            idx=flat, dy=dy2, dw=dw, V=num_rows, D=D, stride_dy=dy2.stride(0),
            stride_dw=dw.stride(0), BLOCK_D=block)
    return dw if out_dtype == torch.float32 else dw.to(out_dtype)


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    for dtype in shapes.dtypes:
        for V in shapes.vocab:
            for D in shapes.hidden:
                idx = shapes.tensor(shapes.rows[-1], dtype=torch.int64)
                yield functools.partial(embedding_fwd, idx, shapes.tensor(V, D, dtype=dtype))
                yield functools.partial(embedding_bwd, shapes.tensor(shapes.rows[-1], D,
                                                                     dtype=dtype), idx, V, dtype)
