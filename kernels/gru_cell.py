"""One GRU step as MXNet's GRUCell computes it (gates r, z, n; the reset gate scales the whole
h2h candidate, bias included, as torch.nn.GRUCell does): two GEMMs, one fused pointwise
kernel, and a backward that recomputes r, z, n from the saved GEMM outputs."""
import functools

import torch
import triton
import triton.language as tl

from . import _alloc
from ._cell import gates_bwd
from ._common import check_dtype
from .activation import sigmoid, tanh
from .fc import fc_fwd


def gru_cell_ref(x, h, i2h_w, i2h_b, h2h_w, h2h_b):
    """`x: [B, I]`, `h: [B, H]`, `i2h_w: [3H, I]`, `h2h_w: [3H, H]` -> `(h_new,)` in float32."""
    i2h = x.float() @ i2h_w.float().T + (i2h_b.float() if i2h_b is not None else 0.0)
    h2h = h.float() @ h2h_w.float().T + (h2h_b.float() if h2h_b is not None else 0.0)
    i_r, i_z, i_n = i2h.chunk(3, dim=1)
    h_r, h_z, h_n = h2h.chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return ((1 - z) * n + z * h.float(),)


@triton.jit
def _gates(i2h, h2h, o_g, mask, H):
    b_r = sigmoid(tl.load(i2h + o_g, mask=mask, other=0.0) + tl.load(h2h + o_g, mask=mask,
                                                                         other=0.0))
    b_z = sigmoid(tl.load(i2h + o_g + H, mask=mask, other=0.0) +
                  tl.load(h2h + o_g + H, mask=mask, other=0.0))
    b_hn = tl.load(h2h + o_g + 2 * H, mask=mask, other=0.0)
    b_n = tanh(tl.load(i2h + o_g + 2 * H, mask=mask, other=0.0) + b_r * b_hn)
    return b_r, b_z, b_n, b_hn


@triton.jit
def gru_cell_fwd_kernel(i2h, h2h, h, h_new, H, stride_g, stride_h, BLOCK: tl.constexpr):
    i_b = tl.program_id(0).to(tl.int64)
    o_h = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = o_h < H
    b_r, b_z, b_n, b_hn = _gates(i2h, h2h, i_b * stride_g + o_h, mask, H)
    b_h = tl.load(h + i_b * stride_h + o_h, mask=mask, other=0.0).to(tl.float32)
    tl.store(h_new + i_b * stride_h + o_h, ((1.0 - b_z) * b_n + b_z * b_h).to(
        h_new.dtype.element_ty), mask=mask)


@triton.jit
def gru_cell_bwd_kernel(i2h, h2h, h, dh_new, di2h, dh2h, dh, H, stride_g, stride_h, stride_dg,
                        BLOCK: tl.constexpr):
    # dh_new and dh (the direct z·h path) share h's strides; di2h and dh2h share stride_dg.
    i_b = tl.program_id(0).to(tl.int64)
    o_h = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = o_h < H
    b_r, b_z, b_n, b_hn = _gates(i2h, h2h, i_b * stride_g + o_h, mask, H)
    o_s = i_b * stride_h + o_h
    b_h = tl.load(h + o_s, mask=mask, other=0.0).to(tl.float32)
    b_d = tl.load(dh_new + o_s, mask=mask, other=0.0).to(tl.float32)
    b_dn = b_d * (1.0 - b_z) * (1.0 - b_n * b_n)
    b_dz = b_d * (b_h - b_n) * b_z * (1.0 - b_z)
    b_dr = b_dn * b_hn * b_r * (1.0 - b_r)
    p_i = di2h + i_b * stride_dg + o_h
    p_h = dh2h + i_b * stride_dg + o_h
    ty = di2h.dtype.element_ty
    tl.store(p_i, b_dr.to(ty), mask=mask)
    tl.store(p_i + H, b_dz.to(ty), mask=mask)
    tl.store(p_i + 2 * H, b_dn.to(ty), mask=mask)
    tl.store(p_h, b_dr.to(ty), mask=mask)
    tl.store(p_h + H, b_dz.to(ty), mask=mask)
    tl.store(p_h + 2 * H, (b_dn * b_r).to(ty), mask=mask)
    tl.store(dh + o_s, (b_d * b_z).to(dh.dtype.element_ty), mask=mask)


def _grid(B, H):
    block = min(triton.next_power_of_2(max(H, 1)), 1024)
    return (B, triton.cdiv(H, block)), block


def gru_cell_fwd(x, h, i2h_w, i2h_b, h2h_w, h2h_b, allow_tf32=False):
    """One step -> `(h_new, i2h, h2h)`; the float32 GEMM outputs `[B, 3H]` feed the backward."""
    check_dtype("x", x)
    B, H = h.shape
    if tuple(i2h_w.shape) != (3 * H, x.shape[1]) or tuple(h2h_w.shape) != (3 * H, H):
        raise ValueError(f"gru_cell: expected i2h_weight [3H, I] and h2h_weight [3H, H] for "
                         f"x {tuple(x.shape)}, h {tuple(h.shape)}; got {tuple(i2h_w.shape)} "
                         f"and {tuple(h2h_w.shape)}")
    h = h.contiguous()
    i2h = fc_fwd(x, i2h_w, i2h_b, allow_tf32=allow_tf32, out_dtype=torch.float32)
    h2h = fc_fwd(h, h2h_w, h2h_b, allow_tf32=allow_tf32, out_dtype=torch.float32)
    h_new = _alloc.empty((B, H), dtype=h.dtype, device=h.device)
    if B and H:
        grid, block = _grid(B, H)
        gru_cell_fwd_kernel[grid](i2h=i2h, h2h=h2h, h=h, h_new=h_new, H=H,
                                  stride_g=i2h.stride(0), stride_h=h.stride(0), BLOCK=block)
    return h_new, i2h, h2h


def gru_cell_bwd(dh_new, x, h, i2h_w, h2h_w, i2h, h2h, has_i2h_bias=True, has_h2h_bias=True,
                 allow_tf32=False):
    """-> `(dx, dh, di2h_w, di2h_b, dh2h_w, dh2h_b)`."""
    B, H = h.shape
    h, dh_new = h.contiguous(), dh_new.contiguous()
    di2h = _alloc.empty((B, 3 * H), dtype=x.dtype, device=x.device)
    dh2h = _alloc.empty((B, 3 * H), dtype=x.dtype, device=x.device)
    dh_direct = _alloc.empty((B, H), dtype=h.dtype, device=h.device)
    if B and H:
        grid, block = _grid(B, H)
        gru_cell_bwd_kernel[grid](i2h=i2h, h2h=h2h, h=h, dh_new=dh_new, di2h=di2h, dh2h=dh2h,
                                  dh=dh_direct, H=H, stride_g=i2h.stride(0),
                                  stride_h=h.stride(0), stride_dg=di2h.stride(0), BLOCK=block)
    return gates_bwd(di2h, dh2h, x, h, i2h_w, h2h_w, has_i2h_bias, has_h2h_bias, allow_tf32,
                     dh_direct=dh_direct)


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    t, B = shapes.tensor, shapes.batch
    for dtype, tf32 in shapes.dot_kinds():
        for H in shapes.hidden:
            x, h = t(B, H, dtype=dtype), t(B, H, dtype=dtype)
            wi, wh, b = t(3 * H, H, dtype=dtype), t(3 * H, H, dtype=dtype), t(3 * H, dtype=dtype)
            yield functools.partial(gru_cell_fwd, x, h, wi, b, wh, b, tf32)
            yield functools.partial(gru_cell_bwd, h, x, h, wi, wh, t(B, 3 * H), t(B, 3 * H),
                                    True, True, tf32)
