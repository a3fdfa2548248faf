"""SoftmaxOutput fused: softmax and its cross-entropy gradient `scale * (p - q)` in one pass
over the logits (q: the one-hot label, optionally smoothed), and the fused
linear + softmax-cross-entropy path that never holds more than a chunk of rows of logits."""
import functools

import torch
import triton
import triton.language as tl

from . import _alloc
from ._common import check_dtype
from .fc import column_sum, fc_fwd, gemm, matmul
from .softmax import MAX_FUSED_SIZE, row_max_sum

ONLINE_BLOCK = 2048


def _target_ref(label, C, ignore_label, use_ignore, smooth_alpha):
    """One-hot targets; a label outside [0, C) hits no class, as in MXNet's SoftmaxGrad."""
    idx = label.long()
    hit = (idx >= 0) & (idx < C)
    q = torch.zeros(label.shape[0], C, device=label.device)
    q[hit, idx[hit]] = 1.0
    if smooth_alpha:
        q = q * (1 - smooth_alpha) + (1 - q) * smooth_alpha / max(C - 1, 1)
    keep = (label != ignore_label).float() if use_ignore else torch.ones_like(idx).float()
    return q, keep


def softmax_output_ref(x, label, scale=1.0, ignore_label=-1.0, use_ignore=False,
                       smooth_alpha=0.0):
    """`x: [M, C]`, `label: [M]` -> `(p, grad, loss)` in float32: `p = softmax(x)`,
    `grad = scale * keep * (p - q)`, `loss = scale * keep * (-Σ q log p)` per row."""
    p = torch.softmax(x.float(), -1)
    q, keep = _target_ref(label, x.shape[-1], ignore_label, use_ignore, smooth_alpha)
    keep = keep.unsqueeze(1)
    grad = (p - q) * scale * keep
    loss = -(q * torch.log_softmax(x.float(), -1)).sum(-1) * scale * keep.squeeze(1)
    return p, grad, loss


def linear_cross_entropy_ref(x, w, b, label, scale=1.0, ignore_label=-1.0, use_ignore=False,
                             smooth_alpha=0.0):
    """`x: [M, K]`, `w: [V, K]`, `b: [V]` -> `(loss,)`: the summed `softmax_output_ref` loss of
    `x Wᵀ + b`, a float32 scalar whose gradient is SoftmaxOutput's."""
    logits = x.float() @ w.float().T + (b.float() if b is not None else 0.0)
    return (softmax_output_ref(logits, label, scale, ignore_label, use_ignore,
                               smooth_alpha)[2].sum(),)


@triton.jit
def _target(o_n, idx, C, smooth_alpha):
    off = tl.where(C > 1, smooth_alpha / tl.maximum(C - 1, 1), 0.0)
    return tl.where(o_n == idx, 1.0 - smooth_alpha, off)


@triton.heuristics({"STORE_PROB": lambda args: args["p"] is not None,
                    "STORE_GRAD": lambda args: args["g"] is not None,
                    "STORE_LOSS": lambda args: args["loss"] is not None})
@triton.jit
def softmax_output_fwd_kernel(x, label, scale, p, g, loss, C, stride_x, stride_p, stride_g,
                              ignore_label, smooth_alpha, USE_IGNORE: tl.constexpr,
                              STORE_PROB: tl.constexpr, STORE_GRAD: tl.constexpr,
                              STORE_LOSS: tl.constexpr, ONE_BLOCK: tl.constexpr,
                              BLOCK: tl.constexpr):
    # `g` may alias `x` (in-place gradient): every block is read before it is written.
    i_r = tl.program_id(0).to(tl.int64)
    b_lab = tl.load(label + i_r).to(tl.float32)
    idx = b_lab.to(tl.int32)
    b_scale = tl.load(scale).to(tl.float32)
    if USE_IGNORE:
        b_scale = tl.where(b_lab == ignore_label, 0.0, b_scale)
    p_x = x + i_r * stride_x
    o_n = tl.arange(0, BLOCK)
    if ONE_BLOCK:
        mask = o_n < C
        b_x = tl.load(p_x + o_n, mask=mask, other=-float("inf")).to(tl.float32)
        m = tl.max(b_x, axis=0)
        b_e = tl.exp(b_x - m)
        s = tl.sum(b_e, axis=0)
        b_p = b_e / s
        b_q = _target(o_n, idx, C, smooth_alpha)
        if STORE_PROB:
            tl.store(p + i_r * stride_p + o_n, b_p.to(p.dtype.element_ty), mask=mask)
        if STORE_GRAD:
            tl.store(g + i_r * stride_g + o_n, ((b_p - b_q) * b_scale).to(g.dtype.element_ty),
                     mask=mask)
        qx = tl.sum(tl.where(mask, b_q * b_x, 0.0), axis=0)
        qsum = tl.sum(tl.where(mask, b_q, 0.0), axis=0)
    else:
        m, s = row_max_sum(p_x, C, 1.0, BLOCK)
        b_qx = tl.zeros((BLOCK,), tl.float32)
        b_qsum = tl.zeros((BLOCK,), tl.float32)
        for n in range(0, C, BLOCK):
            mask = n + o_n < C
            b_x = tl.load(p_x + n + o_n, mask=mask, other=0.0).to(tl.float32)
            b_p = tl.exp(b_x - m) / s
            b_q = _target(n + o_n, idx, C, smooth_alpha)
            b_qx += tl.where(mask, b_q * b_x, 0.0)
            b_qsum += tl.where(mask, b_q, 0.0)
            if STORE_PROB:
                tl.store(p + i_r * stride_p + n + o_n, b_p.to(p.dtype.element_ty), mask=mask)
            if STORE_GRAD:
                tl.store(g + i_r * stride_g + n + o_n,
                         ((b_p - b_q) * b_scale).to(g.dtype.element_ty), mask=mask)
        qx = tl.sum(b_qx, axis=0)
        qsum = tl.sum(b_qsum, axis=0)
    if STORE_LOSS:
        # -Σ q log p = Σq·lse - Σ q x; Σq is 1 except when smoothing a single class.
        tl.store(loss + i_r, (qsum * (m + tl.log(s)) - qx) * b_scale)


@triton.jit
def softmax_output_bwd_kernel(p, label, scale, g, C, stride_p, stride_g, ignore_label,
                              smooth_alpha, USE_IGNORE: tl.constexpr, BLOCK: tl.constexpr):
    i_r = tl.program_id(0).to(tl.int64)
    o_n = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = o_n < C
    b_lab = tl.load(label + i_r).to(tl.float32)
    idx = b_lab.to(tl.int32)
    b_scale = tl.load(scale).to(tl.float32)
    if USE_IGNORE:
        b_scale = tl.where(b_lab == ignore_label, 0.0, b_scale)
    b_p = tl.load(p + i_r * stride_p + o_n, mask=mask, other=0.0).to(tl.float32)
    b_g = (b_p - _target(o_n, idx, C, smooth_alpha)) * b_scale
    tl.store(g + i_r * stride_g + o_n, b_g.to(g.dtype.element_ty), mask=mask)


def _scale_tensor(scale, device):
    if isinstance(scale, torch.Tensor):
        return scale.reshape(1).to(device=device, dtype=torch.float32)
    return torch.full((1,), float(scale), dtype=torch.float32, device=device)


def _check(x, label):
    check_dtype("x", x)
    if x.dim() != 2 or label.shape != (x.shape[0],):
        raise ValueError(f"softmax_output: expected x [M, C] and label [M], got x "
                         f"{tuple(x.shape)} and label {tuple(label.shape)}")


def softmax_output_fwd(x, label, scale=1.0, ignore_label=-1.0, use_ignore=False,
                       smooth_alpha=0.0, store_grad=False, store_loss=False, grad_out=None,
                       max_fused_size=MAX_FUSED_SIZE):
    """`x: [M, C]` logits, `label: [M]` class ids (any dtype) -> `(p, grad, loss)`.

    `scale` (float or 1-element tensor, so 'valid' normalisation needs no host sync) is
    grad_scale / normaliser. `grad` (`[M, C]`, only with `store_grad`) is SoftmaxOutput's whole
    backward, made in the forward pass; `grad_out=x` writes it over the logits, with `p` then
    not stored (None). `loss` (`[M]` float32, only with `store_loss`) is the scaled
    cross-entropy per row. Rows longer than `max_fused_size` take the online loop.
    """
    _check(x, label)
    M, C = x.shape
    x = x.contiguous()
    in_place = grad_out is not None
    p = None if in_place else _alloc.empty((M, C), dtype=x.dtype, device=x.device)
    g = grad_out if in_place else (
        _alloc.empty((M, C), dtype=x.dtype, device=x.device) if store_grad else None)
    loss = _alloc.empty((M,), dtype=torch.float32, device=x.device) if store_loss else None
    if M and C:
        one_block = C <= max_fused_size
        # The online loop keeps four running vectors of BLOCK lanes: 2048 (8 a thread at 8
        # warps) stays in registers; 16384 spilled, 4096 spilled on sm_80 (the AOT check).
        block = triton.next_power_of_2(min(C, max_fused_size)) if one_block else min(
            triton.next_power_of_2(max_fused_size), ONLINE_BLOCK)
        softmax_output_fwd_kernel[(M,)](
            x=x, label=label.contiguous(), scale=_scale_tensor(scale, x.device), p=p, g=g,
            loss=loss, C=C, stride_x=x.stride(0), stride_p=p.stride(0) if p is not None else 0,
            stride_g=g.stride(0) if g is not None else 0, ignore_label=float(ignore_label),
            smooth_alpha=float(smooth_alpha), USE_IGNORE=bool(use_ignore), ONE_BLOCK=one_block,
            BLOCK=block, num_warps=8 if block >= 2048 else 4)
    return p, g, loss


def softmax_output_bwd(p, label, scale=1.0, ignore_label=-1.0, use_ignore=False,
                       smooth_alpha=0.0):
    """SoftmaxOutput's backward from its output `p: [M, C]`: `scale * keep * (p - q)`."""
    _check(p, label)
    M, C = p.shape
    p = p.contiguous()
    g = _alloc.empty((M, C), dtype=p.dtype, device=p.device)
    if M and C:
        block = min(triton.next_power_of_2(C), 4096)
        softmax_output_bwd_kernel[(M, triton.cdiv(C, block))](
            p=p, label=label.contiguous(), scale=_scale_tensor(scale, p.device), g=g, C=C,
            stride_p=p.stride(0), stride_g=g.stride(0), ignore_label=float(ignore_label),
            smooth_alpha=float(smooth_alpha), USE_IGNORE=bool(use_ignore), BLOCK=block)
    return g


MIN_CHUNK_ROWS = 256


def default_chunk_rows(M, V, K):
    """Rows per chunk so that a chunk of logits (`rows x V`) is about the size of x (`M x K`),
    but at least MIN_CHUNK_ROWS, so each chunk's GEMMs still fill the GPU."""
    rows = triton.next_power_of_2(triton.cdiv(M, triton.cdiv(V, max(K, 1))))
    return max(1, min(M, max(rows, MIN_CHUNK_ROWS)))


def linear_cross_entropy_fwd(x, w, b, label, scale=1.0, ignore_label=-1.0, use_ignore=False,
                             smooth_alpha=0.0, chunk_rows=None, allow_tf32=False):
    """Fused `SoftmaxOutput(FullyConnected(x))` loss and all its gradients, chunked over rows.

    `x: [M, K]`, `w: [V, K]`, `b: [V]` or None, `label: [M]` -> `(loss, dx, dw, db)`: `loss` is
    the float32 scalar `linear_cross_entropy_ref` defines, the gradients are with respect to a
    head gradient of 1 (scale them by the real one). Only `chunk_rows x V` logits exist at a
    time; the chunk's gradient overwrites its logits in place, then feeds dx (written in
    place), dW and db (float32 accumulators, cast to w's dtype at the end).
    """
    check_dtype("x", x)
    M, K = x.shape
    V = w.shape[0]
    if w.shape[1] != K or label.shape != (M,):
        raise ValueError(f"linear_cross_entropy: expected x [M, K], w [V, K], label [M], got x "
                         f"{tuple(x.shape)}, w {tuple(w.shape)}, label {tuple(label.shape)}")
    chunk = chunk_rows or default_chunk_rows(M, V, K)
    scale_t = _scale_tensor(scale, x.device)
    dx = _alloc.empty((M, K), dtype=x.dtype, device=x.device)
    dw = _alloc.zeros((V, K), dtype=torch.float32, device=x.device)
    db = _alloc.zeros((V,), dtype=torch.float32, device=x.device) if b is not None else None
    loss = _alloc.empty((M,), dtype=torch.float32, device=x.device)
    for s in range(0, M, chunk):
        e = min(s + chunk, M)
        x_c = x[s:e]
        logits = fc_fwd(x_c, w, b, allow_tf32=allow_tf32)
        _, g, loss_c = softmax_output_fwd(logits, label[s:e], scale_t, ignore_label, use_ignore,
                                          smooth_alpha, store_loss=True, grad_out=logits)
        loss[s:e] = loss_c
        gemm(g, w, dx[s:e], allow_tf32=allow_tf32)
        matmul(g.T, x_c, allow_tf32=allow_tf32, out=dw)
        if db is not None:
            db += column_sum(g, out_dtype=torch.float32)
    return (loss.sum(), dx, dw.to(w.dtype),
            db.to(b.dtype) if db is not None else None)


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    t = shapes.tensor
    for dtype in shapes.dtypes:
        for V in shapes.vocab:
            for M in shapes.rows:
                x, label = t(M, V, dtype=dtype), t(M)
                for use_ignore in (False, True):
                    yield functools.partial(softmax_output_fwd, x, label, use_ignore=use_ignore)
                    yield functools.partial(softmax_output_fwd, x, label, use_ignore=use_ignore,
                                            store_grad=True, store_loss=True)
                    yield functools.partial(softmax_output_fwd, x, label, use_ignore=use_ignore,
                                            store_loss=True, grad_out=x)
                    yield functools.partial(softmax_output_bwd, x, label, t(1),
                                            use_ignore=use_ignore)
                for K in shapes.hidden:
                    yield functools.partial(linear_cross_entropy_fwd, t(M, K, dtype=dtype),
                                            t(V, K, dtype=dtype), t(V, dtype=dtype), label)
    for dtype, tf32 in shapes.dot_kinds():
        if dtype == torch.float32:
            for V in shapes.vocab:
                for M in shapes.rows:
                    for K in shapes.hidden:
                        yield functools.partial(linear_cross_entropy_fwd, t(M, K, dtype=dtype),
                                                t(V, K, dtype=dtype), t(V, dtype=dtype), t(M),
                                                allow_tf32=tf32)
