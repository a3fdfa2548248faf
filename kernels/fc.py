"""FullyConnected: `y = act(x Wᵀ + b)`, the tutorial matmul with bias and activation fused in
the epilogue, and a backward with the activation's derivative fused into the GEMM prologue."""
import triton
import triton.language as tl

from . import _alloc
from ._common import autotune, check_dtype, input_precision, interpreting, upcast_dot
from .activation import act_fwd, act_grad_from_y, activation_ref

FC_ACTS = ("", "relu", "sigmoid", "tanh", "softrelu")


def fc_ref(x, w, b=None, act=""):
    """`x: [M, K]`, `w: [N, K]`, `b: [N]` -> `(y,)` with `y: [M, N]`, in float32."""
    z = x.float() @ w.float().T
    if b is not None:
        z = z + b.float()
    return (activation_ref(z, act)[0] if act else z,)


def _fc_configs():
    if interpreting():
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 4})]
    shapes = [(128, 128, 64, 4, 4), (128, 256, 64, 8, 3), (256, 128, 64, 8, 3),
              (64, 128, 64, 4, 4), (128, 64, 64, 4, 4), (64, 64, 64, 4, 5),
              (128, 128, 32, 4, 4), (64, 256, 32, 4, 4)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 8},
                          num_warps=warps, num_stages=stages)
            for m, n, k, warps, stages in shapes]


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


@autotune(configs=_fc_configs(), key=["N", "K", "ACTIVATION", "INPUT_PRECISION"])
@triton.heuristics({"HAS_BIAS": lambda args: args["b"] is not None})
@triton.jit
def fc_fwd_kernel(x, w, b, y, M, N, K,
                  stride_xm, stride_xk, stride_wn, stride_wk, stride_ym, stride_yn,
                  ACTIVATION: tl.constexpr, HAS_BIAS: tl.constexpr,
                  INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                  GROUP_M: tl.constexpr):
    i_m, i_n = _tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    o_m = i_m.to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    o_n = i_n.to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    o_k = tl.arange(0, BLOCK_K)
    p_x = x + o_m[:, None] * stride_xm + o_k[None, :] * stride_xk
    p_w = w + o_k[:, None] * stride_wk + o_n[None, :] * stride_wn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        k_left = K - k
        b_x = tl.load(p_x, mask=(o_m[:, None] < M) & (o_k[None, :] < k_left), other=0.0)
        b_w = tl.load(p_w, mask=(o_k[:, None] < k_left) & (o_n[None, :] < N), other=0.0)
        if UPCAST:
            b_x, b_w = b_x.to(tl.float32), b_w.to(tl.float32)
        acc = tl.dot(b_x, b_w, acc, input_precision=INPUT_PRECISION)
        p_x += BLOCK_K * stride_xk
        p_w += BLOCK_K * stride_wk
    if HAS_BIAS:
        acc += tl.load(b + o_n, mask=o_n < N, other=0.0).to(tl.float32)[None, :]
    acc = act_fwd(acc, ACTIVATION, 0.0)
    p_y = y + o_m[:, None] * stride_ym + o_n[None, :] * stride_yn
    tl.store(p_y, acc.to(y.dtype.element_ty), mask=(o_m[:, None] < M) & (o_n[None, :] < N))


@autotune(configs=_fc_configs(), key=["N", "K", "ACTIVATION", "INPUT_PRECISION"])
@triton.heuristics({"HAS_ACT": lambda args: args["y"] is not None})
@triton.jit
def fc_bwd_kernel(a, y, bm, c, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  ACTIVATION: tl.constexpr, HAS_ACT: tl.constexpr, ACCUMULATE: tl.constexpr,
                  INPUT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                  GROUP_M: tl.constexpr):
    # c[M, N] = (a * act'(y))[M, K] @ bm[K, N]; `y` shares a's strides. With a = dy this gives
    # dx (bm = w) and, with a = dyᵀ, dW (bm = x), without materialising dz = dy * act'(y).
    i_m, i_n = _tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    o_m = i_m.to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    o_n = i_n.to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    o_k = tl.arange(0, BLOCK_K).to(tl.int64)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        k_left = K - k
        o_a = o_m[:, None] * stride_am + (k + o_k)[None, :] * stride_ak
        mask_a = (o_m[:, None] < M) & (o_k[None, :] < k_left)
        b_a = tl.load(a + o_a, mask=mask_a, other=0.0)
        if HAS_ACT:
            b_y = tl.load(y + o_a, mask=mask_a, other=0.0).to(tl.float32)
            b_a = (b_a.to(tl.float32) * act_grad_from_y(b_y, ACTIVATION)).to(a.dtype.element_ty)
        o_b = (k + o_k)[:, None] * stride_bk + o_n[None, :] * stride_bn
        b_b = tl.load(bm + o_b, mask=(o_k[:, None] < k_left) & (o_n[None, :] < N), other=0.0)
        if UPCAST:
            b_a, b_b = b_a.to(tl.float32), b_b.to(tl.float32)
        acc = tl.dot(b_a, b_b, acc, input_precision=INPUT_PRECISION)
    p_c = c + o_m[:, None] * stride_cm + o_n[None, :] * stride_cn
    mask_c = (o_m[:, None] < M) & (o_n[None, :] < N)
    if ACCUMULATE:
        acc += tl.load(p_c, mask=mask_c, other=0.0).to(tl.float32)
    tl.store(p_c, acc.to(c.dtype.element_ty), mask=mask_c)


@triton.heuristics({"HAS_ACT": lambda args: args["y"] is not None})
@triton.jit
def fc_db_kernel(dy, y, db, M, N, stride_m, ACTIVATION: tl.constexpr, HAS_ACT: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # db[N] = sum over rows of dy * act'(y); one program per column block, looping over M.
    i_n = tl.program_id(0).to(tl.int64)
    o_n = i_n * BLOCK_N + tl.arange(0, BLOCK_N)
    o_m = tl.arange(0, BLOCK_M).to(tl.int64)
    acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for m in range(0, M, BLOCK_M):
        rows = m + o_m
        mask = (rows[:, None] < M) & (o_n[None, :] < N)
        o = rows[:, None] * stride_m + o_n[None, :]
        b_dz = tl.load(dy + o, mask=mask, other=0.0).to(tl.float32)
        if HAS_ACT:
            b_dz *= act_grad_from_y(tl.load(y + o, mask=mask, other=0.0).to(tl.float32),
                                    ACTIVATION)
        acc += tl.sum(b_dz, axis=0)
    tl.store(db + o_n, acc.to(db.dtype.element_ty), mask=o_n < N)


def _check_act(act):
    if act not in FC_ACTS:
        raise ValueError(f"act: expected one of {FC_ACTS}, got {act!r}")


def _grid(M, N):
    return lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)


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
    fc_fwd_kernel[_grid(M, N)](
        x=x, w=w, b=b, y=y, M=M, N=N, K=K,
        stride_xm=x.stride(0), stride_xk=x.stride(1), stride_wn=w.stride(0),
        stride_wk=w.stride(1), stride_ym=y.stride(0), stride_yn=y.stride(1),
        ACTIVATION=act, INPUT_PRECISION=input_precision(allow_tf32), UPCAST=upcast_dot(x.dtype))
    return y


def matmul(a, bm, *, y=None, act="", allow_tf32=False, out_dtype=None, out=None):
    """`c = (a * act'(y)) @ bm` for `a: [M, K]`, `bm: [K, N]` (any strides); with `out` given,
    `out += ...` in place (float32 accumulators for chunked weight gradients)."""
    M, K = a.shape
    N = bm.shape[1]
    accumulate = out is not None
    c = out if accumulate else _alloc.empty((M, N), dtype=out_dtype or a.dtype, device=a.device)
    if K == 0:
        return c if accumulate else c.zero_()
    fc_bwd_kernel[_grid(M, N)](
        a=a, y=y, bm=bm, c=c, M=M, N=N, K=K,
        stride_am=a.stride(0), stride_ak=a.stride(1), stride_bk=bm.stride(0),
        stride_bn=bm.stride(1), stride_cm=c.stride(0), stride_cn=c.stride(1),
        ACTIVATION=act, ACCUMULATE=accumulate, INPUT_PRECISION=input_precision(allow_tf32),
        UPCAST=upcast_dot(a.dtype))
    return c


def fc_bwd(dy, x, w, y=None, act="", has_bias=True, allow_tf32=False,
           need_dx=True, need_dw=True):
    """Gradients of `fc_fwd`: `(dx [M, K], dw [N, K], db [N] or None)`.

    `y` is the forward output, needed when `act` is set. `need_dx=False` / `need_dw=False`
    skip a GEMM and return None in its place.
    """
    _check_act(act)
    if act and y is None:
        raise ValueError(f"fc_bwd: act {act!r} needs the forward output y")
    dy = dy.contiguous()
    y_act = y.contiguous() if act else None
    M, N = dy.shape
    dx = dw = db = None
    if need_dx:
        dx = matmul(dy, w, y=y_act, act=act, allow_tf32=allow_tf32, out_dtype=x.dtype)
    if need_dw:
        dw = matmul(dy.T, x, y=y_act.T if act else None, act=act, allow_tf32=allow_tf32,
                    out_dtype=w.dtype)
    if has_bias:
        db = column_sum(dy, y=y_act, act=act, out_dtype=w.dtype)
    return dx, dw, db


def column_sum(dy, *, y=None, act="", out_dtype=None):
    """`db = Σ_rows dy * act'(y)` for a contiguous `dy: [M, N]` -> `[N]`."""
    M, N = dy.shape
    db = _alloc.empty((N,), dtype=out_dtype or dy.dtype, device=dy.device)
    if N:
        fc_db_kernel[(triton.cdiv(N, 64),)](dy=dy, y=y, db=db, M=M, N=N, stride_m=dy.stride(0),
                                            ACTIVATION=act, BLOCK_M=32, BLOCK_N=64)
    return db
