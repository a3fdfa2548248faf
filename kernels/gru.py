"""GRU as MXNet's GRUCell computes it (gates r, z, n; the reset gate scales the whole h2h
candidate, bias included, as torch.nn.GRU does), a whole sequence per launch.

Same plan as kernels/lstm.py: the i2h GEMM of every step hoisted (with the r and z parts of
the h2h bias), one kernel for the recurrence keeping the r, z pre-activations and the h2h
part of the candidate, a reverse kernel writing the gate gradients of both GEMMs, then the
batched weight GEMMs. Derivation: kernels/README.md.
"""
import torch
import triton
import triton.language as tl

from . import _recurrent as rec
from ._common import check_dtype
from ._recurrent import dgates_wh, grid_sync, h2h, program_tile, state_rows, weight_tile
from .activation import sigmoid, tanh


def gru_cell_ref(x, h, i2h_w, i2h_b, h2h_w, h2h_b):
    """One step: `x: [B, I]`, `h: [B, H]`, `i2h_w: [3H, I]`, `h2h_w: [3H, H]`, biases `[3H]` or
    None -> `(h_new,)` in float32."""
    i2h = x.float() @ i2h_w.float().T + (i2h_b.float() if i2h_b is not None else 0.0)
    h2h = h.float() @ h2h_w.float().T + (h2h_b.float() if h2h_b is not None else 0.0)
    i_r, i_z, i_n = i2h.chunk(3, dim=1)
    h_r, h_z, h_n = h2h.chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return ((1 - z) * n + z * h.float(),)


def gru_seq_ref(x, h0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens=None, batch_first=False):
    """`gru_cell_ref` looped over time: `x: [T, B, I]` (`[B, T, I]` batch first), `h0: [B, H]`
    -> `(out, h_T)` in float32; `seq_lens` as in `lstm_seq_ref`."""
    h, outs = h0.float(), []
    for t, x_t in enumerate(x.unbind(1 if batch_first else 0)):
        h, out = rec.keep_padded(t, seq_lens, gru_cell_ref(x_t, h, i2h_w, i2h_b, h2h_w, h2h_b),
                                 (h,))
        outs.append(out)
    return torch.stack(outs, 1 if batch_first else 0), h


@triton.heuristics({"IS_VARLEN": lambda args: args["seq_lens"] is not None,
                    "HAS_BHN": lambda args: args["bhn"] is not None})
@triton.jit(do_not_specialize=["T", "t_start", "t_stop"])
def gru_seq_fwd_kernel(gx, w, bhn, h0, hs, ghn, seq_lens, sync, T, t_start, t_stop, B, H,
                       stride_gt, stride_gb, stride_st, stride_sb, stride_w,
                       GRID_SYNC: tl.constexpr, W_ON_CHIP: tl.constexpr, IS_VARLEN: tl.constexpr,
                       HAS_BHN: tl.constexpr, INPUT_PRECISION: tl.constexpr,
                       UPCAST: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr,
                       BLOCK_K: tl.constexpr):
    # gx: [T, B, 3H] f32, x Wiᵀ + bi + (bh_r, bh_z, 0) in; r and z pre-activations out (the n
    # part stays). w: [3H, H]; bhn: [H], the candidate's h2h bias. h0: [B, H] (hs's dtype).
    # hs: [T, B, H]; ghn: [T, B, H] f32, h Wnᵀ + bh_n of each step; hs and ghn share strides.
    i_b, o_b, o_n, m = program_tile(B, H, BLOCK_B, BLOCK_N)
    w_r = weight_tile(w, 0, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    w_z = weight_tile(w, H, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    w_n = weight_tile(w, 2 * H, o_n, H, stride_w, W_ON_CHIP, True, BLOCK_K)
    b_bhn = tl.zeros((BLOCK_N,), dtype=tl.float32)
    if HAS_BHN:
        b_bhn = tl.load(bhn + o_n, mask=o_n < H, other=0.0).to(tl.float32)
    if IS_VARLEN:
        b_len = tl.load(seq_lens + o_b, mask=o_b < B, other=0)
    for t in range(t_start, t_stop):
        t64 = tl.cast(t, tl.int64)
        if t == 0:
            p_h, stride_hb = h0, H
        else:
            p_h, stride_hb = hs + (t64 - 1) * stride_st, stride_sb
        b_h = state_rows(p_h, stride_hb, o_b, B, H, W_ON_CHIP, BLOCK_K)
        p_g = gx + t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :]
        b_r = tl.load(p_g, mask=m, other=0.0) + h2h(
            b_h, p_h, stride_hb, o_b, B, w, w_r, 0, o_n, H, stride_w, W_ON_CHIP, INPUT_PRECISION,
            UPCAST, BLOCK_K)
        b_z = tl.load(p_g + H, mask=m, other=0.0) + h2h(
            b_h, p_h, stride_hb, o_b, B, w, w_z, H, o_n, H, stride_w, W_ON_CHIP, INPUT_PRECISION,
            UPCAST, BLOCK_K)
        b_hn = b_bhn[None, :] + h2h(b_h, p_h, stride_hb, o_b, B, w, w_n, 2 * H, o_n, H,
                                    stride_w, W_ON_CHIP, INPUT_PRECISION, UPCAST, BLOCK_K)
        tl.store(p_g, b_r, mask=m)
        tl.store(p_g + H, b_z, mask=m)
        b_hp = tl.load(p_h + o_b[:, None] * stride_hb + o_n[None, :], mask=m,
                       other=0.0).to(tl.float32)
        b_cand = tanh(tl.load(p_g + 2 * H, mask=m, other=0.0) + sigmoid(b_r) * b_hn)
        b_z = sigmoid(b_z)
        b_hnew = (1.0 - b_z) * b_cand + b_z * b_hp
        if IS_VARLEN:
            b_hnew = tl.where((t < b_len)[:, None], b_hnew, b_hp)
        o_s = t64 * stride_st + o_b[:, None] * stride_sb + o_n[None, :]
        tl.store(ghn + o_s, b_hn, mask=m)
        tl.store(hs + o_s, b_hnew.to(hs.dtype.element_ty), mask=m)
        if GRID_SYNC:
            grid_sync(sync, i_b, tl.num_programs(0) * (t - t_start + 1))


@triton.heuristics({"IS_VARLEN": lambda args: args["seq_lens"] is not None,
                    "HAS_DHS": lambda args: args["dhs"] is not None})
@triton.jit(do_not_specialize=["T", "t_start", "t_stop"])
def gru_seq_bwd_kernel(gates, w, h0, hs, ghn, dhs, dgx, dgh, dh, seq_lens, sync, T, t_start,
                       t_stop, B, H, stride_gt, stride_gb, stride_st, stride_sb, stride_dt,
                       stride_db, stride_w, GRID_SYNC: tl.constexpr, W_ON_CHIP: tl.constexpr,
                       IS_VARLEN: tl.constexpr, HAS_DHS: tl.constexpr,
                       INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
                       BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # Iteration k (0..T) finishes step T-k and starts step T-1-k, as in lstm_seq_bwd_kernel.
    # gates: the forward's gx out; dgx, dgh ([T, B, 3H], w's dtype) share its strides: the grads
    # reaching the i2h and h2h GEMMs. dh: [B, H] f32, the part of dh_{t-1} that skips the h2h
    # GEMM (z·dh, or all of dh on padded steps) between iterations, dh0 out.
    i_b, o_b, o_n, m = program_tile(B, H, BLOCK_B, BLOCK_N)
    o_d = o_b[:, None] * H + o_n[None, :]
    w_r = weight_tile(w, 0, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    w_z = weight_tile(w, H, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    w_n = weight_tile(w, 2 * H, o_n, H, stride_w, W_ON_CHIP, False, BLOCK_K)
    if IS_VARLEN:
        b_len = tl.load(seq_lens + o_b, mask=o_b < B, other=0)
    for k in range(t_start, t_stop):
        t = T - 1 - k
        t64 = tl.cast(t, tl.int64)
        b_dh = tl.zeros((BLOCK_B, BLOCK_N), dtype=tl.float32)
        if k > 0:
            p_dg = dgh + (t64 + 1) * stride_gt
            b_dh += dgates_wh(p_dg, stride_gb, o_b, B, w, w_r, 0, o_n, H, stride_w, W_ON_CHIP,
                              INPUT_PRECISION, UPCAST, BLOCK_K)
            b_dh += dgates_wh(p_dg, stride_gb, o_b, B, w, w_z, H, o_n, H, stride_w, W_ON_CHIP,
                              INPUT_PRECISION, UPCAST, BLOCK_K)
            b_dh += dgates_wh(p_dg, stride_gb, o_b, B, w, w_n, 2 * H, o_n, H, stride_w,
                              W_ON_CHIP, INPUT_PRECISION, UPCAST, BLOCK_K)
            b_dh += tl.load(dh + o_d, mask=m, other=0.0)
        if t < 0:
            tl.store(dh + o_d, b_dh, mask=m)
        else:
            if HAS_DHS:
                b_dh += tl.load(dhs + t64 * stride_dt + o_b[:, None] * stride_db + o_n[None, :],
                                mask=m, other=0.0).to(tl.float32)
            if t == 0:
                b_hp = tl.load(h0 + o_d, mask=m, other=0.0).to(tl.float32)
            else:
                b_hp = tl.load(hs + (t64 - 1) * stride_st + o_b[:, None] * stride_sb +
                               o_n[None, :], mask=m, other=0.0).to(tl.float32)
            p_g = gates + t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :]
            b_r = sigmoid(tl.load(p_g, mask=m, other=0.0))
            b_z = sigmoid(tl.load(p_g + H, mask=m, other=0.0))
            b_hn = tl.load(ghn + t64 * stride_st + o_b[:, None] * stride_sb + o_n[None, :],
                           mask=m, other=0.0)
            b_cand = tanh(tl.load(p_g + 2 * H, mask=m, other=0.0) + b_r * b_hn)
            b_dn = b_dh * (1.0 - b_z) * (1.0 - b_cand * b_cand)
            b_dz = b_dh * (b_hp - b_cand) * b_z * (1.0 - b_z)
            b_dr = b_dn * b_hn * b_r * (1.0 - b_r)
            b_direct = b_dh * b_z
            if IS_VARLEN:
                valid = (t < b_len)[:, None]
                b_dn = tl.where(valid, b_dn, 0.0)
                b_dz = tl.where(valid, b_dz, 0.0)
                b_dr = tl.where(valid, b_dr, 0.0)
                b_direct = tl.where(valid, b_direct, b_dh)
            ty = dgx.dtype.element_ty
            o_g = t64 * stride_gt + o_b[:, None] * stride_gb + o_n[None, :]
            tl.store(dgx + o_g, b_dr.to(ty), mask=m)
            tl.store(dgx + o_g + H, b_dz.to(ty), mask=m)
            tl.store(dgx + o_g + 2 * H, b_dn.to(ty), mask=m)
            tl.store(dgh + o_g, b_dr.to(ty), mask=m)
            tl.store(dgh + o_g + H, b_dz.to(ty), mask=m)
            tl.store(dgh + o_g + 2 * H, (b_dn * b_r).to(ty), mask=m)
            tl.store(dh + o_d, b_direct, mask=m)
        if GRID_SYNC:
            grid_sync(sync, i_b, tl.num_programs(0) * (k - t_start + 1))


def _hoisted_bias(i2h_b, h2h_b, H):
    """i2h bias plus the r, z parts of the h2h bias (the n part stays inside r·(...))."""
    if h2h_b is None:
        return i2h_b
    bh_rz = torch.cat([h2h_b[:2 * H], torch.zeros_like(h2h_b[2 * H:])])
    return bh_rz if i2h_b is None else i2h_b + bh_rz


def gru_seq_fwd(x, h0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens=None, batch_first=False,
                allow_tf32=False):
    """The whole sequence: x `[T, B, I]` (`[B, T, I]` batch first), h0 `[B, H]` -> `(hs, gates,
    ghn)`: the states `[T, B, H]` (x's dtype and layout; padded steps repeat the state), and
    the float32 pre-activations (`[T, B, 3H]`: r, z summed, n's i2h part) and candidate h2h
    parts (`[T, B, H]`) that `gru_seq_bwd` needs."""
    check_dtype("x", x)
    T, B, H = rec.check_sequence("gru_seq_fwd", x, h0, i2h_w, h2h_w, 3, batch_first)
    gates = rec.input_gates(x, i2h_w, _hoisted_bias(i2h_b, h2h_b, H), allow_tf32)
    hs, ghn = rec.state_buffers(gates, H, x.dtype)
    if T and B and H:
        rec.launch_steps(gru_seq_fwd_kernel, T, x.device, gx=gates, w=h2h_w.contiguous(),
                         bhn=None if h2h_b is None else h2h_b[2 * H:],
                         h0=h0.to(x.dtype).contiguous(), hs=hs, ghn=ghn, seq_lens=seq_lens, T=T,
                         B=B, H=H, stride_w=H, **rec.sequence_strides(batch_first, g=gates, s=hs),
                         **rec.launch_args(x.dtype, H, 3, allow_tf32))
    return hs, gates, ghn


def gru_seq_bwd(dhs, x, h0, i2h_w, h2h_w, hs, gates, ghn, seq_lens=None, has_i2h_bias=True,
                has_h2h_bias=True, batch_first=False, allow_tf32=False):
    """Gradients of `gru_seq_fwd` given those of hs (`dhs`, None if none) -> `(dx, dh0,
    di2h_w, di2h_b, dh2h_w, dh2h_b)`."""
    T, B, H = rec.check_sequence("gru_seq_bwd", x, h0, i2h_w, h2h_w, 3, batch_first)
    dgx = rec.alloc_like(gates, x.dtype)
    dgh = rec.alloc_like(gates, x.dtype)
    dh = rec.grad_scratch(B, H, x.device)
    if T and B and H:
        rec.launch_steps(gru_seq_bwd_kernel, T + 1, x.device, gates=gates, w=h2h_w.contiguous(),
                         h0=h0.to(x.dtype).contiguous(), hs=hs, ghn=ghn, dhs=dhs, dgx=dgx,
                         dgh=dgh, dh=dh, seq_lens=seq_lens, T=T, B=B, H=H, stride_w=H,
                         **rec.sequence_strides(batch_first, g=gates, s=hs, d=dhs),
                         **rec.launch_args(x.dtype, H, 3, allow_tf32))
    dx, dwi, dbi, dwh, dbh = rec.weight_grads(
        dgx.view(-1, 3 * H), dgh.view(-1, 3 * H), x, rec.previous_states(h0, hs, batch_first),
        i2h_w, h2h_w, has_i2h_bias, has_h2h_bias, allow_tf32)
    return dx, dh.to(h0.dtype), dwi, dbi, dwh, dbh


def compile_cases(shapes):
    """The launchers at the project's shapes on meta tensors, for the AOT check."""
    def run(x, h0, wi, bi, wh, bh, seq_lens, dhs_given, tf32):
        hs, gates, ghn = gru_seq_fwd(x, h0, wi, bi, wh, bh, seq_lens, allow_tf32=tf32)
        gru_seq_bwd(hs if dhs_given else None, x, h0, wi, wh, hs, gates, ghn, seq_lens,
                    allow_tf32=tf32)
    return rec.sequence_cases(shapes, 3, run)
