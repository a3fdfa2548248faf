"""What the whole-sequence LSTM, GRU and vanilla RNN kernels share.

Layout of the work: program `(i_n, i_b)` owns hidden units `i_n*BLOCK_N ...` (of every gate)
for batch rows `i_b*BLOCK_B ...`, for the whole sequence. Its slice of the recurrent weights
(`G × BLOCK_N` rows of Wh in the forward, the matching `G*H × BLOCK_N` columns in the backward)
is loaded once and stays in registers when it fits (`W_ON_CHIP_BYTES`); otherwise it is
streamed from L2 every step. Each step needs the whole `h_{t-1}` (backward: the whole `dG_t`)
of its batch rows, which the `cdiv(H, BLOCK_N)` programs of that row block write together, so
steps are separated by a barrier over those programs:

- `GRID_SYNC` (CUDA, when every program can be resident at once): one launch runs all steps;
  after writing its part of step t a program increments its row block's counter (release) and
  spins until all `cdiv(H, BLOCK_N)` programs have (acquire); reads of the exchanged tensors
  bypass L1 (`.cg`).
- otherwise (the interpreter, where programs run one after another and a spin would never end,
  or a grid too large to be resident): one launch per step, the launch boundary being the
  barrier. Both run the same per-program code; only the barrier differs, so the interpreter
  tests check everything but the spin itself (which `tests/kernels` checks on a GPU against
  per-step launches).

Host side: the hoisted input GEMM of every step at once, the batched weight gradients after
the recurrence, block sizes, strides and the AOT check's cases.
"""
import functools
import os

import torch
import triton
import triton.language as tl

from . import _alloc
from ._common import gpu_arch, input_precision, sm_count, upcast_dot
from .fc import column_sum, fc_fwd, matmul

BLOCK_B = 16  # tl.dot needs at least 16 rows
BLOCK_N = 16
NUM_WARPS = 8
# A program's weight slice stays in registers up to this size (8 warps: 64 registers/thread);
# larger ones are streamed in K tiles of STREAM_BLOCK_K.
W_ON_CHIP_BYTES = 64 * 1024
W_ON_CHIP_MAX_K = 256
STREAM_BLOCK_K = 64


@triton.jit
def grid_sync(sync, i_b, target):
    """Wait until the programs of row block `i_b` have arrived `target` times in all (this one
    included): CTA barrier, one release increment, acquire spin, CTA barrier."""
    tl.debug_barrier()
    tl.atomic_add(sync + i_b, 1, sem="release", scope="gpu")
    while tl.atomic_add(sync + i_b, 0, sem="acquire", scope="gpu") < target:
        pass
    tl.debug_barrier()


@triton.jit
def w_rows_tile(w, row0, o_n, k0, H, stride_w, BLOCK_K: tl.constexpr):
    """`w[row0 + o_n, k0:k0+BLOCK_K]ᵀ` -> `[BLOCK_K, BLOCK_N]` (the forward's B operand)."""
    o_k = k0 + tl.arange(0, BLOCK_K)
    return tl.load(w + (row0 + o_n)[None, :] * stride_w + o_k[:, None],
                   mask=(o_k < H)[:, None] & (o_n < H)[None, :], other=0.0)


@triton.jit
def w_cols_tile(w, row0, o_n, k0, H, stride_w, BLOCK_K: tl.constexpr):
    """`w[row0 + k0:k0+BLOCK_K, o_n]` -> `[BLOCK_K, BLOCK_N]` (the backward's B operand)."""
    o_k = k0 + tl.arange(0, BLOCK_K)
    return tl.load(w + (row0 + o_k)[:, None] * stride_w + o_n[None, :],
                   mask=(o_k < H)[:, None] & (o_n < H)[None, :], other=0.0)


@triton.jit
def rows_tile(p, o_b, k0, B, K, stride_b, BLOCK_K: tl.constexpr):
    """`p[o_b, k0:k0+BLOCK_K]` -> `[BLOCK_B, BLOCK_K]`, read past L1 (other programs wrote it)."""
    o_k = k0 + tl.arange(0, BLOCK_K)
    return tl.load(p + o_b[:, None] * stride_b + o_k[None, :],
                   mask=(o_b < B)[:, None] & (o_k < K)[None, :], other=0.0,
                   cache_modifier=".cg")


@triton.jit
def mm(a, b, acc, INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    if UPCAST:
        a, b = a.to(tl.float32), b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=INPUT_PRECISION)


@triton.jit
def program_tile(B, H, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr):
    """`(i_b, o_b, o_n, mask)`: this program's row block, its rows, its hidden units."""
    i_b = tl.program_id(1)
    o_b = i_b.to(tl.int64) * BLOCK_B + tl.arange(0, BLOCK_B)
    o_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    return i_b, o_b, o_n, (o_b < B)[:, None] & (o_n < H)[None, :]


@triton.jit
def weight_tile(w, row0, o_n, H, stride_w, W_ON_CHIP: tl.constexpr, FORWARD: tl.constexpr,
                BLOCK_K: tl.constexpr):
    """This program's slice of one gate's block of Wh (rows `row0 + o_n` forward, its columns
    `o_n` backward), as the `[H, BLOCK_N]` B operand, when it stays on chip; else `w` itself."""
    if W_ON_CHIP:
        if FORWARD:
            tile = w_rows_tile(w, row0, o_n, 0, H, stride_w, BLOCK_K)
        else:
            tile = w_cols_tile(w, row0, o_n, 0, H, stride_w, BLOCK_K)
    else:
        tile = w
    return tile


@triton.jit
def state_rows(p_h, stride_hb, o_b, B, H, W_ON_CHIP: tl.constexpr, BLOCK_K: tl.constexpr):
    """The whole `h_{t-1}` of this program's rows, read once per step when the weights are on
    chip (one K tile); the streamed GEMM reads it tile by tile instead."""
    if W_ON_CHIP:
        rows = rows_tile(p_h, o_b, 0, B, H, stride_hb, BLOCK_K)
    else:
        rows = p_h
    return rows


@triton.jit
def h2h(b_h, p_h, stride_hb, o_b, B, w, w_tile, row0, o_n, H, stride_w,
        W_ON_CHIP: tl.constexpr, INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
        BLOCK_K: tl.constexpr):
    """`h_{t-1}[o_b, :] @ Wh[row0 + o_n, :]ᵀ` -> `[BLOCK_B, BLOCK_N]` float32, from `b_h` and
    the on-chip tile, or streamed (h `[B, H]` at `p_h`, row stride `stride_hb`)."""
    acc = tl.zeros((o_b.shape[0], o_n.shape[0]), dtype=tl.float32)
    if W_ON_CHIP:
        acc = mm(b_h, w_tile, acc, INPUT_PRECISION, UPCAST)
    else:
        for k0 in range(0, H, BLOCK_K):
            acc = mm(rows_tile(p_h, o_b, k0, B, H, stride_hb, BLOCK_K),
                     w_rows_tile(w, row0, o_n, k0, H, stride_w, BLOCK_K), acc, INPUT_PRECISION,
                     UPCAST)
    return acc


@triton.jit
def dgates_wh(p_dg, stride_db, o_b, B, w, w_tile, row0, o_n, H, stride_w,
              W_ON_CHIP: tl.constexpr, INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
              BLOCK_K: tl.constexpr):
    """`dG[o_b, row0:row0+H] @ Wh[row0:row0+H, o_n]` -> `[BLOCK_B, BLOCK_N]` float32: one
    gate's share of the gradient reaching `h_{t-1}` (`dG` `[B, G*H]` at `p_dg`)."""
    acc = tl.zeros((o_b.shape[0], o_n.shape[0]), dtype=tl.float32)
    if W_ON_CHIP:
        acc = mm(rows_tile(p_dg + row0, o_b, 0, B, H, stride_db, BLOCK_K), w_tile, acc,
                 INPUT_PRECISION, UPCAST)
    else:
        for k0 in range(0, H, BLOCK_K):
            acc = mm(rows_tile(p_dg + row0, o_b, k0, B, H, stride_db, BLOCK_K),
                     w_cols_tile(w, row0, o_n, k0, H, stride_w, BLOCK_K), acc, INPUT_PRECISION,
                     UPCAST)
    return acc


def launch_args(dtype, H, gates, allow_tf32):
    """The launch's constexprs and options: with the weight slice on chip (`gates` tiles of
    `[H, BLOCK_N]` within `W_ON_CHIP_BYTES`, H at most `W_ON_CHIP_MAX_K`: a K tile of 1024
    spilled and overflowed sm_80's shared memory) one K tile covers all of H.

    `maxnreg` is the most a thread of the block may have anyway; stating it stops ptxas from
    holding these kernels to 64 registers for occupancy (they run one block per SM), which
    spilled a few bytes of loop-invariant pointers (kernels/README.md, AOT check)."""
    hp = max(triton.next_power_of_2(H), 16)
    on_chip = (gates * hp * BLOCK_N * torch.finfo(dtype).bits // 8 <= W_ON_CHIP_BYTES
               and hp <= W_ON_CHIP_MAX_K)
    return dict(W_ON_CHIP=on_chip, **dot_flags(dtype, allow_tf32), BLOCK_B=BLOCK_B,
                BLOCK_N=BLOCK_N, BLOCK_K=hp if on_chip else min(hp, STREAM_BLOCK_K),
                num_warps=NUM_WARPS,
                maxnreg=min(255, 65536 // (32 * NUM_WARPS)))


def state_buffers(gx, H, dtype):
    """`(hs, float32 scratch)` `[T, B, H]` in gx's layout: the states and a float32 companion
    (LSTM: the cells, GRU: the h2h part of the candidate)."""
    shape = gx.shape[:2] + (H,)
    return (_alloc.empty(shape, dtype=dtype, device=gx.device),
            _alloc.empty(shape, dtype=torch.float32, device=gx.device))


def sequence_strides(batch_first, **tensors):
    """`stride_<k>t, stride_<k>b` for each named sequence tensor (`(0, 0)` for None)."""
    out = {}
    for key, t in tensors.items():
        st, sb = step_strides(t, batch_first) if t is not None else (0, 0)
        out[f"stride_{key}t"], out[f"stride_{key}b"] = st, sb
    return out


def sequence_cases(shapes, gates, run):
    """The AOT check's cases of one recurrent family (kernels/README.md, "AOT compile specs"):
    `run(x, h0, wi, bi, wh, bh, seq_lens, dhs_given, tf32)` calls the forward and backward
    launchers on meta tensors. Per dtype (and TF32) and hidden size: the language model's batch
    (one launch with the grid barrier) with and without per-sample lengths and without a
    gradient of the states, and a batch of `shapes.max_rows` (one launch per step)."""
    t = shapes.tensor
    T = shapes.bucket_lengths[-1]
    for dtype, tf32 in shapes.dot_kinds():
        for H in shapes.hidden:
            for B, varlen, dhs_given in ((shapes.batch, False, True),
                                         (shapes.batch, True, True),
                                         (shapes.batch, False, False),
                                         (shapes.max_rows, False, True)):
                yield functools.partial(
                    run, t(T, B, H, dtype=dtype), t(B, H, dtype=dtype),
                    t(gates * H, H, dtype=dtype), t(gates * H, dtype=dtype),
                    t(gates * H, H, dtype=dtype), t(gates * H, dtype=dtype),
                    t(B, dtype=torch.int64) if varlen else None, dhs_given, tf32)


def launch_steps(kernel, steps, device, **args):
    """Run iterations `0..steps-1` of `kernel` over the grid `(cdiv(H, BLOCK_N), cdiv(B,
    BLOCK_B))`: in one launch with `GRID_SYNC` where every program can be resident, else one
    launch per iteration (`t_start`, `t_stop` bound the iterations a launch runs)."""
    nsplit, nb = triton.cdiv(args["H"], BLOCK_N), triton.cdiv(args["B"], BLOCK_B)
    if grid_sync_ok(nsplit * nb, device):
        sync = _alloc.zeros((nb,), dtype=torch.int32, device=device)
        kernel[(nsplit, nb)](sync=sync, t_start=0, t_stop=steps, GRID_SYNC=True, **args)
        return
    for t in range(steps):
        kernel[(nsplit, nb)](sync=None, t_start=t, t_stop=t + 1, GRID_SYNC=False, **args)


def grid_sync_ok(programs, device):
    """One program per SM at most, so all are resident (`BUCKETMOD_RNN_GRID_SYNC=0` turns the
    single-launch path off). The AOT check (`gpu_arch` set without a device) takes the path a
    GPU would."""
    if os.environ.get("BUCKETMOD_RNN_GRID_SYNC", "1") == "0":
        return False
    if gpu_arch(device) is None:
        return False
    return programs <= sm_count(device)


def step_strides(t, batch_first):
    """`(stride_t, stride_b)` of a sequence tensor `[T, B, ...]` or `[B, T, ...]`."""
    return (t.stride(1), t.stride(0)) if batch_first else (t.stride(0), t.stride(1))


def dot_flags(dtype, allow_tf32):
    return dict(INPUT_PRECISION=input_precision(allow_tf32), UPCAST=upcast_dot(dtype))


def check_sequence(name, x, h0, wi, wh, gates, batch_first):
    """x `[T, B, I]` (`[B, T, I]` batch first), h0 `[B, H]`, wi `[G*H, I]`, wh `[G*H, H]`."""
    B, H = h0.shape
    T = x.shape[1] if batch_first else x.shape[0]
    xb = x.shape[0] if batch_first else x.shape[1]
    if (x.dim() != 3 or xb != B or tuple(wi.shape) != (gates * H, x.shape[2])
            or tuple(wh.shape) != (gates * H, H)):
        raise ValueError(
            f"{name}: expected x {'[B, T, I]' if batch_first else '[T, B, I]'}, h0 [B, H], "
            f"i2h_weight [{gates}H, I], h2h_weight [{gates}H, H]; got x {tuple(x.shape)}, "
            f"h0 {tuple(h0.shape)}, i2h_weight {tuple(wi.shape)}, h2h_weight "
            f"{tuple(wh.shape)}")
    return T, B, H


def input_gates(x, wi, bias, allow_tf32):
    """The hoisted i2h GEMM of every step: `x Wiᵀ + bias` in float32, in x's layout."""
    x = x.contiguous()
    flat = fc_fwd(x.reshape(-1, x.shape[-1]), wi, bias, allow_tf32=allow_tf32,
                  out_dtype=torch.float32)
    return flat.view(x.shape[0], x.shape[1], wi.shape[0])


def summed_bias(bi, bh):
    if bi is None or bh is None:
        return bh if bi is None else bi
    return bi + bh


def previous_states(h0, hs, batch_first):
    """`[h0, h_0, ..., h_{T-2}]` in hs's layout: the h each step's recurrent GEMM read."""
    axis = 1 if batch_first else 0
    return torch.cat([h0.to(hs.dtype).unsqueeze(axis), hs.narrow(axis, 0, hs.shape[axis] - 1)],
                     axis)


def weight_grads(dg_x, dg_h, x, h_prev, wi, wh, has_bi, has_bh, allow_tf32):
    """The batched GEMMs after the recurrence: `(dx, dWi, dbi, dWh, dbh)` from the gate
    gradients of every step (`dg_x` reaching the i2h GEMM, `dg_h` the h2h one; the same tensor
    for LSTM and RNN), each `[T*B, G*H]` in x's row order."""
    x2 = x.contiguous().reshape(-1, x.shape[-1])
    h2 = h_prev.reshape(-1, h_prev.shape[-1])
    dx = matmul(dg_x, wi, allow_tf32=allow_tf32, out_dtype=x.dtype).view(x.shape)
    dwi = matmul(dg_x.T, x2, allow_tf32=allow_tf32, out_dtype=wi.dtype)
    dwh = matmul(dg_h.T, h2, allow_tf32=allow_tf32, out_dtype=wh.dtype)
    dbi = column_sum(dg_x, out_dtype=wi.dtype) if has_bi else None
    if not has_bh:
        dbh = None
    elif dg_h is dg_x and dbi is not None:
        dbh = dbi.clone()
    else:
        dbh = column_sum(dg_h, out_dtype=wh.dtype)
    return dx, dwi, dbi, dwh, dbh


def alloc_like(t, dtype):
    return _alloc.empty(t.shape, dtype=dtype, device=t.device)


def grad_scratch(B, H, device):
    """float32 zeros `[B, H]`: a state gradient carried backwards through time."""
    return _alloc.zeros((B, H), dtype=torch.float32, device=device)


def keep_padded(t, seq_lens, new, old):
    """The states after step t (`new` where t < seq_len, `old` on padded steps) and the step's
    output (h, zero on padded steps); without `seq_lens`, `new` and its h."""
    if seq_lens is None:
        return (*new, new[0])
    valid = (t < seq_lens.to(new[0].device))[:, None]
    kept = tuple(torch.where(valid, a, b) for a, b in zip(new, old))
    return (*kept, torch.where(valid, kept[0], torch.zeros_like(kept[0])))
