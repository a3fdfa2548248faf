"""One LSTM step in MXNet's gate order (i, f, c, o): two GEMMs into float32 gates, then one
fused pointwise kernel; the backward recomputes the gate activations from the saved
pre-activation gates instead of storing them."""
import functools

import torch
import triton
import triton.language as tl

from . import _alloc
from ._cell import gates_bwd, summed_gates
from ._common import check_dtype
from .activation import sigmoid, tanh


def lstm_cell_ref(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b, forget_bias=0.0):
    """`x: [B, I]`, `h, c: [B, H]`, `i2h_w: [4H, I]`, `h2h_w: [4H, H]`, biases `[4H]` or None
    -> `(h_new, c_new)` in float32. MXNet puts forget_bias into the bias initializer; here it
    may also be added at run time (default 0, MXNet's cell)."""
    gates = x.float() @ i2h_w.float().T + h.float() @ h2h_w.float().T
    for b in (i2h_b, h2h_b):
        if b is not None:
            gates = gates + b.float()
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f + forget_bias), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c.float() + i * g
    return o * torch.tanh(c_new), c_new


def lstm_seq_ref(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b, forget_bias=0.0):
    """`x: [T, B, I]` -> `(hs [T, B, H], h_T, c_T)`: `lstm_cell_ref` looped over time."""
    hs = []
    for t in range(x.shape[0]):
        h, c = lstm_cell_ref(x[t], h, c, i2h_w, i2h_b, h2h_w, h2h_b, forget_bias)
        hs.append(h)
    return torch.stack(hs), h, c


@triton.jit
def lstm_cell_fwd_kernel(gates, c, h_new, c_new, H, stride_g, stride_c, stride_h, forget_bias,
                         BLOCK: tl.constexpr):
    i_b = tl.program_id(0).to(tl.int64)
    o_h = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = o_h < H
    p_g = gates + i_b * stride_g + o_h
    b_i = sigmoid(tl.load(p_g, mask=mask, other=0.0))
    b_f = sigmoid(tl.load(p_g + H, mask=mask, other=0.0) + forget_bias)
    b_g = tanh(tl.load(p_g + 2 * H, mask=mask, other=0.0))
    b_o = sigmoid(tl.load(p_g + 3 * H, mask=mask, other=0.0))
    b_c = tl.load(c + i_b * stride_c + o_h, mask=mask, other=0.0).to(tl.float32)
    b_cn = b_f * b_c + b_i * b_g
    tl.store(c_new + i_b * stride_c + o_h, b_cn.to(c_new.dtype.element_ty), mask=mask)
    tl.store(h_new + i_b * stride_h + o_h, (b_o * tanh(b_cn)).to(h_new.dtype.element_ty),
             mask=mask)


@triton.heuristics({"HAS_DH": lambda args: args["dh_new"] is not None,
                    "HAS_DC": lambda args: args["dc_new"] is not None})
@triton.jit
def lstm_cell_bwd_kernel(gates, c, dh_new, dc_new, dgates, dc, H, stride_g, stride_c,
                         stride_dg, forget_bias, HAS_DH: tl.constexpr, HAS_DC: tl.constexpr,
                         BLOCK: tl.constexpr):
    # dh_new, dc_new, dc share c's strides.
    i_b = tl.program_id(0).to(tl.int64)
    o_h = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = o_h < H
    p_g = gates + i_b * stride_g + o_h
    b_i = sigmoid(tl.load(p_g, mask=mask, other=0.0))
    b_f = sigmoid(tl.load(p_g + H, mask=mask, other=0.0) + forget_bias)
    b_g = tanh(tl.load(p_g + 2 * H, mask=mask, other=0.0))
    b_o = sigmoid(tl.load(p_g + 3 * H, mask=mask, other=0.0))
    o_c = i_b * stride_c + o_h
    b_c = tl.load(c + o_c, mask=mask, other=0.0).to(tl.float32)
    b_tc = tanh(b_f * b_c + b_i * b_g)
    b_dct = tl.zeros((BLOCK,), tl.float32)
    b_do = tl.zeros((BLOCK,), tl.float32)
    if HAS_DC:
        b_dct += tl.load(dc_new + o_c, mask=mask, other=0.0).to(tl.float32)
    if HAS_DH:
        b_dh = tl.load(dh_new + o_c, mask=mask, other=0.0).to(tl.float32)
        b_dct += b_dh * b_o * (1.0 - b_tc * b_tc)
        b_do = b_dh * b_tc
    p_dg = dgates + i_b * stride_dg + o_h
    ty = dgates.dtype.element_ty
    tl.store(p_dg, (b_dct * b_g * b_i * (1.0 - b_i)).to(ty), mask=mask)
    tl.store(p_dg + H, (b_dct * b_c * b_f * (1.0 - b_f)).to(ty), mask=mask)
    tl.store(p_dg + 2 * H, (b_dct * b_i * (1.0 - b_g * b_g)).to(ty), mask=mask)
    tl.store(p_dg + 3 * H, (b_do * b_o * (1.0 - b_o)).to(ty), mask=mask)
    tl.store(dc + o_c, (b_dct * b_f).to(dc.dtype.element_ty), mask=mask)


def _grid(B, H):
    block = min(triton.next_power_of_2(max(H, 1)), 1024)
    return (B, triton.cdiv(H, block)), block


def _check(x, h, c, i2h_w, h2h_w):
    check_dtype("x", x)
    B, H = h.shape
    if (c.shape != h.shape or x.shape[0] != B or tuple(i2h_w.shape) != (4 * H, x.shape[1])
            or tuple(h2h_w.shape) != (4 * H, H)):
        raise ValueError(
            f"lstm_cell: expected x [B, I], h and c [B, H], i2h_weight [4H, I], h2h_weight "
            f"[4H, H]; got x {tuple(x.shape)}, h {tuple(h.shape)}, c {tuple(c.shape)}, "
            f"i2h_weight {tuple(i2h_w.shape)}, h2h_weight {tuple(h2h_w.shape)}")


def lstm_cell_fwd(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b, forget_bias=0.0, allow_tf32=False):
    """One step -> `(h_new, c_new, gates)`; `gates` (`[B, 4H]` float32 pre-activations) is what
    `lstm_cell_bwd` needs, with x, h, c and the weights."""
    _check(x, h, c, i2h_w, h2h_w)
    B, H = h.shape
    c = c.contiguous()
    gates = summed_gates(x, h, i2h_w, i2h_b, h2h_w, h2h_b, allow_tf32)
    h_new = _alloc.empty((B, H), dtype=h.dtype, device=h.device)
    c_new = _alloc.empty((B, H), dtype=c.dtype, device=c.device)
    if B and H:
        grid, block = _grid(B, H)
        lstm_cell_fwd_kernel[grid](gates=gates, c=c, h_new=h_new, c_new=c_new, H=H,
                                   stride_g=gates.stride(0), stride_c=c.stride(0),
                                   stride_h=h_new.stride(0), forget_bias=float(forget_bias),
                                   BLOCK=block)
    return h_new, c_new, gates


def lstm_cell_bwd(dh_new, dc_new, x, h, c, i2h_w, h2h_w, gates, has_i2h_bias=True,
                  has_h2h_bias=True, forget_bias=0.0, allow_tf32=False):
    """Gradients of one step (either head grad may be None) -> `(dx, dh, dc, di2h_w, di2h_b,
    dh2h_w, dh2h_b)`."""
    B, H = h.shape
    c = c.contiguous()
    dh_new = dh_new.contiguous() if dh_new is not None else None
    dc_new = dc_new.contiguous() if dc_new is not None else None
    dgates = _alloc.empty((B, 4 * H), dtype=x.dtype, device=x.device)
    dc = _alloc.empty((B, H), dtype=c.dtype, device=c.device)
    if B and H:
        grid, block = _grid(B, H)
        lstm_cell_bwd_kernel[grid](gates=gates, c=c, dh_new=dh_new, dc_new=dc_new,
                                   dgates=dgates, dc=dc, H=H, stride_g=gates.stride(0),
                                   stride_c=c.stride(0), stride_dg=dgates.stride(0),
                                   forget_bias=float(forget_bias), BLOCK=block)
    dx, dh, di2h_w, di2h_b, dh2h_w, dh2h_b = gates_bwd(
        dgates, dgates, x, h, i2h_w, h2h_w, has_i2h_bias, has_h2h_bias, allow_tf32)
    return dx, dh, dc, di2h_w, di2h_b, dh2h_w, dh2h_b


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    t, B = shapes.tensor, shapes.batch
    for dtype, tf32 in shapes.dot_kinds():
        for H in shapes.hidden:
            x, h, c = (t(B, H, dtype=dtype) for _ in range(3))
            wi, wh, b = t(4 * H, H, dtype=dtype), t(4 * H, H, dtype=dtype), t(4 * H, dtype=dtype)
            yield functools.partial(lstm_cell_fwd, x, h, c, wi, b, wh, b, 0.0, tf32)
            for dc_new in (c, None):
                yield functools.partial(lstm_cell_bwd, h, dc_new, x, h, c, wi, wh, t(B, 4 * H),
                                        True, True, 0.0, tf32)
