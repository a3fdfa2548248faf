"""FullyConnected: `y = act(x Wᵀ + b)` and its backward on one GEMM kernel, the tutorial matmul
with the bias and activation fused in its epilogue, in-place accumulation and split-K for long
reductions."""
import functools

import torch
import triton
import triton.language as tl

from . import _alloc
from ._common import (
    Tuned,
    alignment,
    check_dtype,
    gpu_arch,
    input_precision,
    interpreting,
    sm_count,
    upcast_dot,
)
from .activation import act_fwd, activation_bwd, activation_ref

FC_ACTS = ("", "relu", "sigmoid", "tanh", "softrelu")


def fc_ref(x, w, b=None, act=""):
    """`x: [M, K]`, `w: [N, K]`, `b: [N]` -> `(y,)` with `y: [M, N]`, in float32."""
    z = x.float() @ w.float().T
    if b is not None:
        z = z + b.float()
    return (activation_ref(z, act)[0] if act else z,)


# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) per dot kind, target and row class.
# fma: float32 without TF32 is an FMA loop whose accumulator and operand tiles all live in
# registers, so its tiles are small; tf32/f16 run on tensor cores (wgmma on sm_90 when
# BLOCK_M >= 64). "small" is M <= 64: the recurrent GEMMs (M = batch) and short chunks, where
# row tiles of 64+ would mostly compute padding. Every entry compiles without a register spill
# and within the target's shared memory (tests/kernels/test_aot.py).
_TILES = {
    ("fma", 90, False): [(64, 64, 32, 4, 3), (128, 64, 16, 8, 3)],
    ("fma", 90, True): [(32, 64, 32, 4, 3), (32, 32, 32, 2, 3)],
    ("tf32", 90, False): [(128, 128, 32, 8, 3), (64, 128, 32, 4, 4)],
    ("tf32", 90, True): [(32, 64, 32, 4, 4), (32, 128, 32, 4, 3)],
    ("f16", 90, False): [(128, 128, 64, 8, 4), (64, 128, 64, 4, 4)],
    ("f16", 90, True): [(32, 64, 64, 4, 4), (32, 128, 64, 4, 3)],
    ("fma", 80, False): [(64, 64, 32, 4, 3), (128, 64, 16, 8, 3)],
    ("fma", 80, True): [(32, 64, 32, 4, 3), (32, 32, 32, 2, 3)],
    ("tf32", 80, False): [(128, 128, 32, 8, 3), (64, 128, 32, 4, 3)],
    ("tf32", 80, True): [(32, 64, 32, 4, 3), (32, 128, 32, 4, 3)],
    ("f16", 80, False): [(128, 128, 32, 8, 4), (64, 128, 32, 4, 4)],
    ("f16", 80, True): [(32, 64, 64, 4, 3), (32, 128, 32, 4, 4)],
}
SMALL_M = 64


def _gemm_configs(key):
    kind, arch, small = key[:3]
    if arch is None:
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 4})]
    tiles = _TILES[(kind, 90 if arch >= 90 else 80, small)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 8},
                          num_warps=warps, num_stages=stages)
            for m, n, k, warps, stages in tiles]


@triton.jit
def _tile_ids(M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    # Grouped ordering: neighbouring programs share rows of A for L2 reuse.
    i_p = tl.program_id(0)
    n_m = tl.cdiv(M, BLOCK_M)
    n_n = tl.cdiv(N, BLOCK_N)
    width = GROUP_M * n_n
    first_m = (i_p // width) * GROUP_M
    size_m = min(n_m - first_m, GROUP_M)
    return first_m + (i_p % width) % size_m, (i_p % width) // size_m


@triton.jit(do_not_specialize=["M", "N", "K", "k_split", "lda", "ldb", "ldc"])
def gemm_kernel(a, bm, bias, c, M, N, K, k_split, lda, ldb, ldc,
                A_COL: tl.constexpr, B_COL: tl.constexpr, ACTIVATION: tl.constexpr,
                HAS_BIAS: tl.constexpr, ACCUMULATE: tl.constexpr, SPLIT: tl.constexpr,
                ALIGN: tl.constexpr, INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                GROUP_M: tl.constexpr):
    # c[M, N] = act(c + a @ bm + bias), the `c +` only with ACCUMULATE. a[m, k] sits at
    # m·lda + k, or m + k·lda with A_COL; bm[k, n] at k·ldb + n, or k + n·ldb with B_COL;
    # c[m, n] at m·ldc + n.
    # SPLIT: program (i, s) reduces k in [s·k_split, (s+1)·k_split) into the float32 slab
    # c[s] (ldc = N), summed by gemm_split_sum_kernel.
    # ALIGN divides the sizes and strides (the launcher checked); rewritten so, Triton sees it
    # and vectorises rows such as 200 that are not multiples of 16.
    M = M // ALIGN * ALIGN
    N = N // ALIGN * ALIGN
    K = K // ALIGN * ALIGN
    lda = lda // ALIGN * ALIGN
    ldb = ldb // ALIGN * ALIGN
    ldc = ldc // ALIGN * ALIGN
    i_m, i_n = _tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    o_m = i_m.to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    o_n = i_n.to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    o_k = tl.arange(0, BLOCK_K)
    k_lo = 0
    k_hi = K
    if SPLIT:
        i_s = tl.program_id(1)
        k_lo = i_s * (k_split // ALIGN * ALIGN)
        k_hi = tl.minimum(k_lo + k_split, K)
        c += i_s.to(tl.int64) * M * N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(k_lo, k_hi, BLOCK_K):
        k_left = k_hi - k
        o_kk = (k + o_k).to(tl.int64)
        if A_COL:
            o_a = o_m[:, None] + o_kk[None, :] * lda
        else:
            o_a = o_m[:, None] * lda + o_kk[None, :]
        mask_a = (o_m[:, None] < M) & (o_k[None, :] < k_left)
        b_a = tl.load(a + o_a, mask=mask_a, other=0.0)
        if B_COL:
            o_b = o_kk[:, None] + o_n[None, :] * ldb
        else:
            o_b = o_kk[:, None] * ldb + o_n[None, :]
        b_b = tl.load(bm + o_b, mask=(o_k[:, None] < k_left) & (o_n[None, :] < N), other=0.0)
        if UPCAST:
            b_a, b_b = b_a.to(tl.float32), b_b.to(tl.float32)
        acc = tl.dot(b_a, b_b, acc, input_precision=INPUT_PRECISION)
    p_c = c + o_m[:, None] * ldc + o_n[None, :]
    mask_c = (o_m[:, None] < M) & (o_n[None, :] < N)
    if not SPLIT:
        if ACCUMULATE:
            acc += tl.load(p_c, mask=mask_c, other=0.0).to(tl.float32)
        if HAS_BIAS:
            acc += tl.load(bias + o_n, mask=o_n < N, other=0.0).to(tl.float32)[None, :]
        acc = act_fwd(acc, ACTIVATION, 0.0)
    tl.store(p_c, acc.to(c.dtype.element_ty), mask=mask_c)


@triton.jit(do_not_specialize=["MN", "S"])
def gemm_split_sum_kernel(ws, c, MN, S, ACCUMULATE: tl.constexpr, ALIGN: tl.constexpr,
                          BLOCK: tl.constexpr):
    # c[MN] (+)= Σ_s ws[s, MN]: the split-K partial sums, in a fixed order (deterministic).
    MN = MN // ALIGN * ALIGN
    o = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = o < MN
    acc = tl.zeros((BLOCK,), tl.float32)
    for s in range(0, S):
        acc += tl.load(ws + s * MN + o, mask=mask, other=0.0)
    if ACCUMULATE:
        acc += tl.load(c + o, mask=mask, other=0.0).to(tl.float32)
    tl.store(c + o, acc.to(c.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["M", "N", "stride_m"])
def fc_db_kernel(dz, db, M, N, stride_m, ALIGN: tl.constexpr, BLOCK_M: tl.constexpr,
                 BLOCK_N: tl.constexpr):
    # db[N] = sum over the rows of dz; one program per column block, looping over M.
    N = N // ALIGN * ALIGN
    stride_m = stride_m // ALIGN * ALIGN
    i_n = tl.program_id(0).to(tl.int64)
    o_n = i_n * BLOCK_N + tl.arange(0, BLOCK_N)
    o_m = tl.arange(0, BLOCK_M).to(tl.int64)
    acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for m in range(0, M, BLOCK_M):
        rows = m + o_m
        mask = (rows[:, None] < M) & (o_n[None, :] < N)
        o = rows[:, None] * stride_m + o_n[None, :]
        acc += tl.sum(tl.load(dz + o, mask=mask, other=0.0).to(tl.float32), axis=0)
    tl.store(db + o_n, acc.to(db.dtype.element_ty), mask=o_n < N)


_GEMM = Tuned(gemm_kernel, _gemm_configs)
SPLIT_SUM_BLOCK = 1024


def _check_act(act):
    if act not in FC_ACTS:
        raise ValueError(f"act: expected one of {FC_ACTS}, got {act!r}")


def _layout(t):
    """`(t, col, ld)` for a matrix `[R, C]`: t[r, c] at r·ld + c, or r + c·ld when `col`."""
    if t.stride(1) == 1 or t.shape[1] == 1:
        return t, False, t.stride(0)
    if t.stride(0) == 1 or t.shape[0] == 1:
        return t, True, t.stride(1)
    t = t.contiguous()
    return t, False, t.stride(0)


def _dot_kind(dtype, allow_tf32):
    if dtype == torch.float32:
        return "tf32" if allow_tf32 else "fma"
    return "f16"


def split_k(M, N, K, device):
    """`(splits, k_split)`: programs along K when the output tiles alone would leave most of
    the GPU idle. Only long reductions split (each part sums >= 1024 of K), which at the
    project's shapes means K = the vocabulary: the output layer's and linear+CE's dx."""
    tiles = triton.cdiv(M, 64) * triton.cdiv(N, 64)
    splits = min(triton.cdiv(2 * sm_count(device), tiles), K // 1024)
    if splits < 2 or interpreting():
        return 1, K
    k_split = triton.cdiv(triton.cdiv(K, splits), 256) * 256
    return triton.cdiv(K, k_split), k_split


def gemm(a, bm, c, *, bias=None, act="", accumulate=False, allow_tf32=False, splits=None):
    """`c = act(c + a @ bm + bias)` into the given `c: [M, N]` (unit column stride), the
    `c +` only with `accumulate`; `a: [M, K]` and `bm: [K, N]` in either memory order."""
    M, K = a.shape
    N = bm.shape[1]
    a, a_col, lda = _layout(a)
    bm, b_col, ldb = _layout(bm)
    if c.stride(1) != 1 and N > 1:
        raise ValueError(f"out: expected rows with unit stride, got strides {c.stride()}")
    S, k_split = split_k(M, N, K, a.device) if splits is None else (
        splits, triton.cdiv(triton.cdiv(K, splits), 16) * 16)
    S = S if c.is_contiguous() and bias is None and not act else 1
    if S > 1:
        S = triton.cdiv(K, k_split)
    arch = gpu_arch(a.device)
    key = (_dot_kind(a.dtype, allow_tf32), arch, M <= SMALL_M, S > 1, N, act, bias is not None,
           accumulate, a_col, b_col)
    out = c if S == 1 else _alloc.empty((S, M, N), dtype=torch.float32, device=a.device)
    _GEMM(key, lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),
                             S),
          restore=("c",) if accumulate and S == 1 else (),
          a=a, bm=bm, bias=bias, c=out, M=M, N=N, K=K, k_split=k_split, lda=lda, ldb=ldb,
          ldc=c.stride(0) if S == 1 else N, A_COL=a_col, B_COL=b_col, ACTIVATION=act,
          HAS_BIAS=bias is not None, ACCUMULATE=accumulate, SPLIT=S > 1,
          ALIGN=alignment(M, N, K, lda, ldb, c.stride(0), k_split),
          INPUT_PRECISION=input_precision(allow_tf32), UPCAST=upcast_dot(a.dtype))
    if S > 1:
        gemm_split_sum_kernel[(triton.cdiv(M * N, SPLIT_SUM_BLOCK),)](
            ws=out, c=c, MN=M * N, S=S, ACCUMULATE=accumulate, ALIGN=alignment(M * N),
            BLOCK=SPLIT_SUM_BLOCK)
    return c


def fc_fwd(x, w, b=None, act="", allow_tf32=False, out_dtype=None):
    """`x: [M, K]`, `w: [N, K]`, `b: [N]` or None -> `y = act(x Wᵀ + b)`, `[M, N]`.

    The backward needs only the output `y`: every FC activation's derivative is a function
    of it (relu: y>0, sigmoid: y(1-y), tanh: 1-y², softrelu: 1-e^-y), so no pre-activation is
    stored or recomputed. `allow_tf32` lets float32 inputs use TF32 tensor cores (default off:
    full float32, matching the reference). `out_dtype` defaults to x's dtype.
    """
    _check_act(act)
    check_dtype("x", x)
    if x.dim() != 2 or w.dim() != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fc_fwd: expected x [M, K] and w [N, K], got x {tuple(x.shape)} "
                         f"and w {tuple(w.shape)}")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ValueError(f"b: expected shape ({w.shape[0]},), got {tuple(b.shape)}")
    M, K = x.shape
    N = w.shape[0]
    y = _alloc.empty((M, N), dtype=out_dtype or x.dtype, device=x.device)
    if M == 0 or N == 0:
        return y
    if K == 0:
        return y.copy_(fc_ref(x, w, b, act)[0])
    return gemm(x, w.T, y, bias=b, act=act, allow_tf32=allow_tf32)


def matmul(a, bm, *, y=None, act="", allow_tf32=False, out_dtype=None, out=None, splits=None):
    """`c = (a * act'(y)) @ bm` for `a: [M, K]`, `bm: [K, N]` (any strides); with `out` given,
    `out += ...` in place (float32 accumulators for chunked weight gradients). act' comes from
    the forward output `y` (relu, sigmoid, tanh, softrelu) through the activation kernel.

    `splits` forces the number of split-K programs (default: `split_k`'s choice)."""
    M, K = a.shape
    N = bm.shape[1]
    accumulate = out is not None
    c = out if accumulate else _alloc.empty((M, N), dtype=out_dtype or a.dtype, device=a.device)
    if K == 0:
        return c if accumulate else c.zero_()
    if M == 0 or N == 0:
        return c
    if act:
        a = activation_bwd(a, act, y=y)
    return gemm(a, bm, c, accumulate=accumulate, allow_tf32=allow_tf32, splits=splits)


def fc_bwd(dy, x, w, y=None, act="", has_bias=True, allow_tf32=False,
           need_dx=True, need_dw=True):
    """Gradients of `fc_fwd`: `(dx [M, K], dw [N, K], db [N] or None)`.

    `y` is the forward output, needed when `act` is set: `dz = dy ⊙ act'(y)` is made once by
    the activation kernel, then `dx = dz W`, `dW = dzᵀ x`, `db = Σ dz`. `need_dx=False` /
    `need_dw=False` skip a GEMM and return None in its place.
    """
    _check_act(act)
    if act and y is None:
        raise ValueError(f"fc_bwd: act {act!r} needs the forward output y")
    dz = activation_bwd(dy, act, y=y) if act else dy.contiguous()
    dx = dw = db = None
    if need_dx:
        dx = matmul(dz, w, allow_tf32=allow_tf32, out_dtype=x.dtype)
    if need_dw:
        dw = matmul(dz.T, x, allow_tf32=allow_tf32, out_dtype=w.dtype)
    if has_bias:
        db = column_sum(dz, out_dtype=w.dtype)
    return dx, dw, db


def column_sum(dz, *, out_dtype=None):
    """`db = Σ_rows dz` for `dz: [M, N]` with unit column stride -> `[N]`."""
    M, N = dz.shape
    dz = dz if dz.stride(1) == 1 else dz.contiguous()
    db = _alloc.empty((N,), dtype=out_dtype or dz.dtype, device=dz.device)
    if N:
        fc_db_kernel[(triton.cdiv(N, 64),)](dz=dz, db=db, M=M, N=N, stride_m=dz.stride(0),
                                            ALIGN=alignment(N, dz.stride(0)), BLOCK_M=32,
                                            BLOCK_N=64)
    return db


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    t = shapes.tensor
    for dtype, tf32 in shapes.dot_kinds():
        for M in shapes.rows:
            for K in shapes.hidden:
                for N in shapes.hidden + shapes.vocab:
                    for act in FC_ACTS if N in shapes.hidden else ("",):
                        x, w, b = t(M, K, dtype=dtype), t(N, K, dtype=dtype), t(N, dtype=dtype)
                        yield functools.partial(fc_fwd, x, w, b, act, tf32)
                        y = t(M, N, dtype=dtype)
                        yield functools.partial(fc_bwd, t(M, N, dtype=dtype), x, w, y, act,
                                                True, tf32)
