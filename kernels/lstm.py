"""LSTM in MXNet's gate order (i, f, c, o), a whole sequence at a time.

The i2h GEMM of every step is hoisted into one GEMM; one kernel then runs the recurrence (each
program owns 16 hidden units of every gate for 16 batch rows, its slice of Wh on chip; steps
are separated by a barrier over the programs of a row block, see kernels/_recurrent.py),
keeping the gate pre-activations and cells; the backward kernel walks the steps in reverse
writing each step's gate gradients, and the weight and input gradients of all steps are three
batched GEMMs. Derivation: kernels/README.md.
"""
import torch
import triton
import triton.language as tl

from . import _recurrent as rec
from ._common import check_dtype
from ._recurrent import dgates_wh, grid_sync, h2h, program_tile, state_rows, weight_tile
from .activation import sigmoid, tanh


def lstm_cell_ref(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b, state_clip=None):
    """One step: `x: [B, I]`, `h, c: [B, H]`, `i2h_w: [4H, I]`, `h2h_w: [4H, H]`, biases `[4H]`
    or None -> `(h_new, c_new)` in float32. (MXNet's forget bias lives in the bias initializer.)
    `state_clip = (lo, hi, clip_nan)` clips c_new as MXNet's `lstm_state_clip_*` do (NaN becomes
    lo when clip_nan is set, and propagates otherwise)."""
    gates = x.float() @ i2h_w.float().T + h.float() @ h2h_w.float().T
    for b in (i2h_b, h2h_b):
        if b is not None:
            gates = gates + b.float()
    i, f, g, o = gates.chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c.float() + torch.sigmoid(i) * torch.tanh(g)
    if state_clip is not None:
        lo, hi, clip_nan = state_clip
        c_new = c_new.clamp(lo, hi)
        c_new = torch.nan_to_num(c_new, nan=lo) if clip_nan else c_new
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_seq_ref(x, h0, c0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens=None, state_clip=None,
                 batch_first=False):
    """`lstm_cell_ref` looped over time: `x: [T, B, I]` (`[B, T, I]` batch first), `h0, c0:
    [B, H]` -> `(out, h_T, c_T)` in float32, out in x's layout.

    `seq_lens` `[B]`: steps at or past a sample's length leave its state as it was and output
    zeros (cuDNN's padded sequences).
    """
    h, c, outs = h0.float(), c0.float(), []
    for t, x_t in enumerate(x.unbind(1 if batch_first else 0)):
        h_new, c_new = lstm_cell_ref(x_t, h, c, i2h_w, i2h_b, h2h_w, h2h_b, state_clip)
        h, c, out = rec.keep_padded(t, seq_lens, (h_new, c_new), (h, c))
        outs.append(out)
    return torch.stack(outs, 1 if batch_first else 0), h, c


@triton.heuristics({"IS_VARLEN": lambda args: args["seq_lens"] is not None})
@triton.jit(do_not_specialize=["T", "t_start", "t_stop"])
def lstm_seq_fwd_kernel(gx, w, h0, c0, hs, cs, seq_lens, sync, T, t_start, t_stop, B, H,
                        stride_gt, stride_gb, stride_st, stride_sb, stride_w,
                        GRID_SYNC: tl.constexpr, W_ON_CHIP: tl.constexpr,
                        IS_VARLEN: tl.constexpr, INPUT_PRECISION: tl.constexpr,
                        UPCAST: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr,
                        BLOCK_K: tl.constexpr):
    # gx: [T, B, 4H] f32, x Wiᵀ + bi + bh in, gate pre-activations out. w: [4H, H].
    # h0: [B, H] (hs's dtype), c0: [B, H] f32, contiguous. hs, cs (f32): [T, B, H], same strides.
    i_b, o_b, o_n, m = program_tile(B, H, BLOCK_B, BLOCK_N)
    w_i = weight_tile(w, 0, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    w_f = weight_tile(w, H, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    w_g = weight_tile(w, 2 * H, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    w_o = weight_tile(w, 3 * H, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    if IS_VARLEN:
        b_len = tl.load(seq_lens + o_b, mask=o_b < B, other=0)
    for t in range(t_start, t_stop):
        t64 = tl.cast(t, tl.int64)
        if t == 0:
            p_h, p_c, stride_hb = h0, c0, H
        else:
            p_h, p_c, stride_hb = hs + (t64 - 1) * stride_st, cs + (t64 - 1) * stride_st, stride_sb
        b_h = state_rows(p_h, stride_hb, o_b, B, H, W_ON_CHIP, BLOCK_K)
        p_g = gx + t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :]
        b_i = tl.load(p_g, mask=m, other=0.0) + h2h(
            b_h, p_h, stride_hb, o_b, B, w, w_i, 0, o_n, H, stride_w, W_ON_CHIP, INPUT_PRECISION,
            UPCAST, BLOCK_K)
        b_f = tl.load(p_g + H, mask=m, other=0.0) + h2h(
            b_h, p_h, stride_hb, o_b, B, w, w_f, H, o_n, H, stride_w, W_ON_CHIP, INPUT_PRECISION,
            UPCAST, BLOCK_K)
        b_g = tl.load(p_g + 2 * H, mask=m, other=0.0) + h2h(
            b_h, p_h, stride_hb, o_b, B, w, w_g, 2 * H, o_n, H, stride_w, W_ON_CHIP,
            INPUT_PRECISION, UPCAST, BLOCK_K)
        b_o = tl.load(p_g + 3 * H, mask=m, other=0.0) + h2h(
            b_h, p_h, stride_hb, o_b, B, w, w_o, 3 * H, o_n, H, stride_w, W_ON_CHIP,
            INPUT_PRECISION, UPCAST, BLOCK_K)
        tl.store(p_g, b_i, mask=m)
        tl.store(p_g + H, b_f, mask=m)
        tl.store(p_g + 2 * H, b_g, mask=m)
        tl.store(p_g + 3 * H, b_o, mask=m)
        o_prev = o_b[:, None] * stride_hb + o_n[None, :]
        b_cp = tl.load(p_c + o_prev, mask=m, other=0.0)
        b_c = sigmoid(b_f) * b_cp + sigmoid(b_i) * tanh(b_g)
        b_hn = sigmoid(b_o) * tanh(b_c)
        if IS_VARLEN:
            valid = (t < b_len)[:, None]
            b_c = tl.where(valid, b_c, b_cp)
            b_hn = tl.where(valid, b_hn, tl.load(p_h + o_prev, mask=m, other=0.0).to(tl.float32))
        o_s = t64 * stride_st + o_b[:, None] * stride_sb + o_n[None, :]
        tl.store(cs + o_s, b_c, mask=m)
        tl.store(hs + o_s, b_hn.to(hs.dtype.element_ty), mask=m)
        if GRID_SYNC:
            grid_sync(sync, i_b, tl.num_programs(0) * (t - t_start + 1))


@triton.heuristics({"IS_VARLEN": lambda args: args["seq_lens"] is not None,
                    "HAS_DHS": lambda args: args["dhs"] is not None})
@triton.jit(do_not_specialize=["T", "t_start", "t_stop"])
def lstm_seq_bwd_kernel(gates, w, c0, cs, dhs, dgates, dh, dc, seq_lens, sync, T, t_start,
                        t_stop, B, H, stride_gt, stride_gb, stride_st, stride_sb, stride_dt,
                        stride_db, stride_w, GRID_SYNC: tl.constexpr, W_ON_CHIP: tl.constexpr,
                        IS_VARLEN: tl.constexpr, HAS_DHS: tl.constexpr,
                        INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
                        BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # Iteration k (0..T) finishes step T-k (dh of its input state, from every program's dG)
    # and starts step T-1-k (its gate grads for this program's hidden units).
    # gates: [T, B, 4H] f32 pre-activations; dgates (w's dtype) shares their strides. cs: [T, B,
    # H] f32; dhs: grad of hs, strides (stride_dt, stride_db). dc: [B, H] f32, the last cell's
    # grad in, c0's out. dh: [B, H] f32, padded steps' pass-through between iterations, dh0 out.
    i_b, o_b, o_n, m = program_tile(B, H, BLOCK_B, BLOCK_N)
    o_d = o_b[:, None] * H + o_n[None, :]
    w_i = weight_tile(w, 0, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    w_f = weight_tile(w, H, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    w_g = weight_tile(w, 2 * H, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    w_o = weight_tile(w, 3 * H, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    if IS_VARLEN:
        b_len = tl.load(seq_lens + o_b, mask=o_b < B, other=0)
    for k in range(t_start, t_stop):
        t = T - 1 - k
        t64 = tl.cast(t, tl.int64)
        b_dh = tl.zeros((BLOCK_B, BLOCK_N), dtype=tl.float32)
        if k > 0:
            p_dg = dgates + (t64 + 1) * stride_gt
            b_dh += dgates_wh(p_dg, stride_gb, o_b, B, w, w_i, 0, o_n, H, stride_w, W_ON_CHIP,
                              INPUT_PRECISION, UPCAST, BLOCK_K)
            b_dh += dgates_wh(p_dg, stride_gb, o_b, B, w, w_f, H, o_n, H, stride_w, W_ON_CHIP,
                              INPUT_PRECISION, UPCAST, BLOCK_K)
            b_dh += dgates_wh(p_dg, stride_gb, o_b, B, w, w_g, 2 * H, o_n, H, stride_w,
                              W_ON_CHIP, INPUT_PRECISION, UPCAST, BLOCK_K)
            b_dh += dgates_wh(p_dg, stride_gb, o_b, B, w, w_o, 3 * H, o_n, H, stride_w,
                              W_ON_CHIP, INPUT_PRECISION, UPCAST, BLOCK_K)
            if IS_VARLEN:
                b_dh += tl.load(dh + o_d, mask=m, other=0.0)
        if t < 0:
            tl.store(dh + o_d, b_dh, mask=m)
        else:
            if HAS_DHS:
                b_dh += tl.load(dhs + t64 * stride_dt + o_b[:, None] * stride_db + o_n[None, :],
                                mask=m, other=0.0).to(tl.float32)
            p_g = gates + t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :]
            b_i = sigmoid(tl.load(p_g, mask=m, other=0.0))
            b_f = sigmoid(tl.load(p_g + H, mask=m, other=0.0))
            b_g = tanh(tl.load(p_g + 2 * H, mask=m, other=0.0))
            b_o = sigmoid(tl.load(p_g + 3 * H, mask=m, other=0.0))
            if t == 0:
                b_cp = tl.load(c0 + o_d, mask=m, other=0.0)
            else:
                b_cp = tl.load(cs + (t64 - 1) * stride_st + o_b[:, None] * stride_sb +
                               o_n[None, :], mask=m, other=0.0)
            b_tc = tanh(tl.load(cs + t64 * stride_st + o_b[:, None] * stride_sb + o_n[None, :],
                                mask=m, other=0.0))
            b_dc = tl.load(dc + o_d, mask=m, other=0.0)
            b_dct = b_dc + b_dh * b_o * (1.0 - b_tc * b_tc)
            b_di = b_dct * b_g * b_i * (1.0 - b_i)
            b_df = b_dct * b_cp * b_f * (1.0 - b_f)
            b_dg = b_dct * b_i * (1.0 - b_g * b_g)
            b_do = b_dh * b_tc * b_o * (1.0 - b_o)
            b_dcp = b_dct * b_f
            if IS_VARLEN:
                valid = (t < b_len)[:, None]
                b_di = tl.where(valid, b_di, 0.0)
                b_df = tl.where(valid, b_df, 0.0)
                b_dg = tl.where(valid, b_dg, 0.0)
                b_do = tl.where(valid, b_do, 0.0)
                b_dcp = tl.where(valid, b_dcp, b_dc)
                tl.store(dh + o_d, tl.where(valid, 0.0, b_dh), mask=m)
            p_dg = dgates + t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :]
            ty = dgates.dtype.element_ty
            tl.store(p_dg, b_di.to(ty), mask=m)
            tl.store(p_dg + H, b_df.to(ty), mask=m)
            tl.store(p_dg + 2 * H, b_dg.to(ty), mask=m)
            tl.store(p_dg + 3 * H, b_do.to(ty), mask=m)
            tl.store(dc + o_d, b_dcp, mask=m)
        if GRID_SYNC:
            grid_sync(sync, i_b, tl.num_programs(0) * (k - t_start + 1))


def lstm_seq_fwd(x, h0, c0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens=None, batch_first=False,
                 allow_tf32=False):
    """The whole sequence: x `[T, B, I]` (`[B, T, I]` batch first), h0, c0 `[B, H]` ->
    `(hs, cs, gates)`: the states h `[T, B, H]` (x's dtype and layout; padded steps of
    `seq_lens` repeat the state), cells `cs` (float32) and gate pre-activations `gates`
    `[T, B, 4H]` (float32), which `lstm_seq_bwd` needs."""
    check_dtype("x", x)
    T, B, H = rec.check_sequence("lstm_seq_fwd", x, h0, i2h_w, h2h_w, 4, batch_first)
    gates = rec.input_gates(x, i2h_w, rec.summed_bias(i2h_b, h2h_b), allow_tf32)
    hs, cs = rec.state_buffers(gates, H, x.dtype)
    if T and B and H:
        rec.launch_steps(lstm_seq_fwd_kernel, T, x.device, gx=gates, w=h2h_w.contiguous(),
                     h0=h0.to(x.dtype).contiguous(), c0=c0.float().contiguous(), hs=hs, cs=cs,
                     seq_lens=seq_lens, T=T, B=B, H=H, stride_w=H,
                     **rec.sequence_strides(batch_first, g=gates, s=hs),
                     **rec.launch_args(x.dtype, H, 4, allow_tf32))
    return hs, cs, gates


def lstm_seq_bwd(dhs, dc_last, x, h0, c0, i2h_w, h2h_w, hs, cs, gates, seq_lens=None,
                 has_i2h_bias=True, has_h2h_bias=True, batch_first=False, allow_tf32=False):
    """Gradients of `lstm_seq_fwd` given those of hs (`dhs`, the last step's included) and of
    the last cell (`dc_last` `[B, H]`), either None -> `(dx, dh0, dc0, di2h_w, di2h_b, dh2h_w,
    dh2h_b)` (bias grads None where there is no bias)."""
    T, B, H = rec.check_sequence("lstm_seq_bwd", x, h0, i2h_w, h2h_w, 4, batch_first)
    dgates = rec.alloc_like(gates, x.dtype)
    dh, dc = rec.grad_scratch(B, H, x.device), rec.grad_scratch(B, H, x.device)
    if dc_last is not None:
        dc.copy_(dc_last)
    if T and B and H:
        rec.launch_steps(lstm_seq_bwd_kernel, T + 1, x.device, gates=gates,
                     w=h2h_w.contiguous(), c0=c0.float().contiguous(), cs=cs, dhs=dhs,
                     dgates=dgates, dh=dh, dc=dc, seq_lens=seq_lens, T=T, B=B, H=H, stride_w=H,
                     **rec.sequence_strides(batch_first, g=gates, s=cs, d=dhs),
                     **rec.launch_args(x.dtype, H, 4, allow_tf32))
    dg = dgates.view(-1, 4 * H)
    dx, dwi, dbi, dwh, dbh = rec.weight_grads(dg, dg, x, rec.previous_states(h0, hs, batch_first),
                                          i2h_w, h2h_w, has_i2h_bias, has_h2h_bias, allow_tf32)
    return dx, dh.to(h0.dtype), dc.to(c0.dtype), dwi, dbi, dwh, dbh


def compile_cases(shapes):
    """The launchers at the project's shapes on meta tensors, for the AOT check."""
    def run(x, h0, wi, bi, wh, bh, seq_lens, dhs_given, tf32):
        hs, cs, gates = lstm_seq_fwd(x, h0, h0, wi, bi, wh, bh, seq_lens, allow_tf32=tf32)
        lstm_seq_bwd(hs if dhs_given else None, h0, x, h0, h0, wi, wh, hs, cs, gates, seq_lens,
                     allow_tf32=tf32)
    return rec.sequence_cases(shapes, 4, run)
