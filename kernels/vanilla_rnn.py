"""The vanilla (Elman) RNN of MXNet's RNNCell and the RNN operator's rnn_tanh / rnn_relu modes,
`h' = act(x Wiᵀ + bi + h Whᵀ + bh)`, a whole sequence per launch.

Same plan as kernels/lstm.py: the i2h GEMM of every step hoisted, one kernel for the recurrence,
a reverse kernel for the pre-activation gradients (act' comes from the output: tanh `1 − h²`,
relu `1[h > 0]`), then the batched weight GEMMs.
"""
import torch
import triton
import triton.language as tl

from . import _recurrent as rec
from ._common import check_dtype
from ._recurrent import dgates_wh, grid_sync, h2h, program_tile, state_rows, weight_tile
from .activation import act_fwd, act_grad_from_y

RNN_ACTS = ("tanh", "relu")


def vanilla_rnn_cell_ref(x, h, i2h_w, i2h_b, h2h_w, h2h_b, activation="tanh"):
    """One step: `x: [B, I]`, `h: [B, H]`, `i2h_w: [H, I]`, `h2h_w: [H, H]` -> `(h_new,)` in
    float32."""
    z = x.float() @ i2h_w.float().T + h.float() @ h2h_w.float().T
    for b in (i2h_b, h2h_b):
        if b is not None:
            z = z + b.float()
    return (torch.tanh(z) if activation == "tanh" else torch.relu(z),)


def vanilla_rnn_seq_ref(x, h0, i2h_w, i2h_b, h2h_w, h2h_b, activation="tanh", seq_lens=None,
                        batch_first=False):
    """`vanilla_rnn_cell_ref` looped over time -> `(out, h_T)` in float32 (see lstm_seq_ref)."""
    h, outs = h0.float(), []
    for t, x_t in enumerate(x.unbind(1 if batch_first else 0)):
        h, out = rec.keep_padded(t, seq_lens, vanilla_rnn_cell_ref(
            x_t, h, i2h_w, i2h_b, h2h_w, h2h_b, activation), (h,))
        outs.append(out)
    return torch.stack(outs, 1 if batch_first else 0), h


@triton.heuristics({"IS_VARLEN": lambda args: args["seq_lens"] is not None})
@triton.jit(do_not_specialize=["T", "t_start", "t_stop"])
def vanilla_rnn_seq_fwd_kernel(gx, w, h0, hs, seq_lens, sync, T, t_start, t_stop, B, H,
                               stride_gt, stride_gb, stride_st, stride_sb, stride_w,
                               ACTIVATION: tl.constexpr, GRID_SYNC: tl.constexpr,
                               W_ON_CHIP: tl.constexpr, IS_VARLEN: tl.constexpr,
                               INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
                               BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr,
                               BLOCK_K: tl.constexpr):
    # gx: [T, B, H] f32, x Wiᵀ + bi + bh. w: [H, H]. h0: [B, H] (hs's dtype). hs: [T, B, H].
    i_b, o_b, o_n, m = program_tile(B, H, BLOCK_B, BLOCK_N)
    w_h = weight_tile(w, 0, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    if IS_VARLEN:
        b_len = tl.load(seq_lens + o_b, mask=o_b < B, other=0)
    for t in range(t_start, t_stop):
        t64 = tl.cast(t, tl.int64)
        if t == 0:
            p_h, stride_hb = h0, H
        else:
            p_h, stride_hb = hs + (t64 - 1) * stride_st, stride_sb
        b_z = tl.load(gx + t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :], mask=m,
                      other=0.0) + h2h(state_rows(p_h, stride_hb, o_b, B, H, W_ON_CHIP, BLOCK_K),
                                       p_h, stride_hb, o_b, B, w, w_h, 0, o_n, H, stride_w,
                                       W_ON_CHIP, INPUT_PRECISION, UPCAST, BLOCK_K)
        b_h = act_fwd(b_z, ACTIVATION, 0.0)
        if IS_VARLEN:
            b_h = tl.where((t < b_len)[:, None], b_h, tl.load(
                p_h + o_b[:, None] * stride_hb + o_n[None, :], mask=m, other=0.0).to(
                    tl.float32))
        tl.store(hs + t64 * stride_st + o_b[:, None] * stride_sb + o_n[None, :],
                 b_h.to(hs.dtype.element_ty), mask=m)
        if GRID_SYNC:
            grid_sync(sync, i_b, tl.num_programs(0) * (t - t_start + 1))


@triton.heuristics({"IS_VARLEN": lambda args: args["seq_lens"] is not None,
                    "HAS_DHS": lambda args: args["dhs"] is not None})
@triton.jit(do_not_specialize=["T", "t_start", "t_stop"])
def vanilla_rnn_seq_bwd_kernel(w, hs, dhs, dz, dh, seq_lens, sync, T, t_start, t_stop, B, H,
                               stride_gt, stride_gb, stride_st, stride_sb, stride_dt, stride_db,
                               stride_w, ACTIVATION: tl.constexpr, GRID_SYNC: tl.constexpr,
                               W_ON_CHIP: tl.constexpr, IS_VARLEN: tl.constexpr,
                               HAS_DHS: tl.constexpr, INPUT_PRECISION: tl.constexpr,
                               UPCAST: tl.constexpr, BLOCK_B: tl.constexpr,
                               BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # Iteration k (0..T) finishes step T-k and starts step T-1-k, as in lstm_seq_bwd_kernel.
    # dz: [T, B, H] (w's dtype), the pre-activation grads, strides (stride_gt, stride_gb).
    # dh: [B, H] f32, padded steps' pass-through between iterations, dh0 out.
    i_b, o_b, o_n, m = program_tile(B, H, BLOCK_B, BLOCK_N)
    o_d = o_b[:, None] * H + o_n[None, :]
    w_h = weight_tile(w, 0, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    if IS_VARLEN:
        b_len = tl.load(seq_lens + o_b, mask=o_b < B, other=0)
    for k in range(t_start, t_stop):
        t = T - 1 - k
        t64 = tl.cast(t, tl.int64)
        b_dh = tl.zeros((BLOCK_B, BLOCK_N), dtype=tl.float32)
        if k > 0:
            b_dh += dgates_wh(dz + (t64 + 1) * stride_gt, stride_gb, o_b, B, w, w_h, 0, o_n, H,
                              stride_w, W_ON_CHIP, INPUT_PRECISION, UPCAST, BLOCK_K)
            if IS_VARLEN:
                b_dh += tl.load(dh + o_d, mask=m, other=0.0)
        if t < 0:
            tl.store(dh + o_d, b_dh, mask=m)
        else:
            if HAS_DHS:
                b_dh += tl.load(dhs + t64 * stride_dt + o_b[:, None] * stride_db + o_n[None, :],
                                mask=m, other=0.0).to(tl.float32)
            b_h = tl.load(hs + t64 * stride_st + o_b[:, None] * stride_sb + o_n[None, :],
                          mask=m, other=0.0).to(tl.float32)
            b_dz = b_dh * act_grad_from_y(b_h, ACTIVATION)
            if IS_VARLEN:
                valid = (t < b_len)[:, None]
                b_dz = tl.where(valid, b_dz, 0.0)
                tl.store(dh + o_d, tl.where(valid, 0.0, b_dh), mask=m)
            tl.store(dz + t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :],
                     b_dz.to(dz.dtype.element_ty), mask=m)
        if GRID_SYNC:
            grid_sync(sync, i_b, tl.num_programs(0) * (k - t_start + 1))


def _check_act(activation):
    if activation not in RNN_ACTS:
        raise ValueError(f"activation: expected one of {RNN_ACTS}, got {activation!r}")


def vanilla_rnn_seq_fwd(x, h0, i2h_w, i2h_b, h2h_w, h2h_b, activation="tanh", seq_lens=None,
                        batch_first=False, allow_tf32=False):
    """The whole sequence: x `[T, B, I]` (`[B, T, I]` batch first), h0 `[B, H]` -> the states
    `hs` `[T, B, H]` (x's dtype and layout; padded steps repeat the state), all the backward
    needs besides the inputs."""
    _check_act(activation)
    check_dtype("x", x)
    T, B, H = rec.check_sequence("vanilla_rnn_seq_fwd", x, h0, i2h_w, h2h_w, 1, batch_first)
    gx = rec.input_gates(x, i2h_w, rec.summed_bias(i2h_b, h2h_b), allow_tf32)
    hs = rec.alloc_like(gx, x.dtype)
    if T and B and H:
        rec.launch_steps(vanilla_rnn_seq_fwd_kernel, T, x.device, gx=gx, w=h2h_w.contiguous(),
                         h0=h0.to(x.dtype).contiguous(), hs=hs, seq_lens=seq_lens, T=T, B=B,
                         H=H, stride_w=H, ACTIVATION=activation,
                         **rec.sequence_strides(batch_first, g=gx, s=hs),
                         **rec.launch_args(x.dtype, H, 1, allow_tf32))
    return hs


def vanilla_rnn_seq_bwd(dhs, x, h0, i2h_w, h2h_w, hs, activation="tanh", seq_lens=None,
                        has_i2h_bias=True, has_h2h_bias=True, batch_first=False,
                        allow_tf32=False):
    """Gradients of `vanilla_rnn_seq_fwd` given those of hs -> `(dx, dh0, di2h_w, di2h_b,
    dh2h_w, dh2h_b)`."""
    _check_act(activation)
    T, B, H = rec.check_sequence("vanilla_rnn_seq_bwd", x, h0, i2h_w, h2h_w, 1, batch_first)
    dz = rec.alloc_like(hs, x.dtype)
    dh = rec.grad_scratch(B, H, x.device)
    if T and B and H:
        rec.launch_steps(vanilla_rnn_seq_bwd_kernel, T + 1, x.device, w=h2h_w.contiguous(),
                         hs=hs, dhs=dhs, dz=dz, dh=dh, seq_lens=seq_lens, T=T, B=B, H=H,
                         stride_w=H, ACTIVATION=activation,
                         **rec.sequence_strides(batch_first, g=dz, s=hs, d=dhs),
                         **rec.launch_args(x.dtype, H, 1, allow_tf32))
    dz2 = dz.view(-1, H)
    dx, dwi, dbi, dwh, dbh = rec.weight_grads(dz2, dz2, x, rec.previous_states(h0, hs,
                                                                               batch_first),
                                              i2h_w, h2h_w, has_i2h_bias, has_h2h_bias,
                                              allow_tf32)
    return dx, dh.to(h0.dtype), dwi, dbi, dwh, dbh


def compile_cases(shapes):
    """The launchers at the project's shapes on meta tensors, for the AOT check."""
    for act in RNN_ACTS:
        def run(x, h0, wi, bi, wh, bh, seq_lens, dhs_given, tf32, act=act):
            hs = vanilla_rnn_seq_fwd(x, h0, wi, bi, wh, bh, act, seq_lens, allow_tf32=tf32)
            vanilla_rnn_seq_bwd(hs if dhs_given else None, x, h0, wi, wh, hs, act, seq_lens,
                                allow_tf32=tf32)
        yield from rec.sequence_cases(shapes, 1, run)
