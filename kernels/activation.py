"""Elementwise activations (MXNet's Activation and LeakyReLU act_types), forward and backward.

The `@triton.jit` helpers `act_fwd` / `act_grad_from_y` are shared with the FC and recurrent
kernels, which fuse them into their epilogues.
"""
import functools

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from . import _alloc
from ._common import check_dtype

ACT_TYPES = ("relu", "sigmoid", "tanh", "softrelu", "softsign", "leaky", "elu", "selu", "gelu")
GRAD_FROM_OUTPUT = ("relu", "sigmoid", "tanh", "softrelu")
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation_ref(x, act_type, slope=0.25):
    """`act(x)` in float32, returned as `(y,)`."""
    x = x.float()
    fns = {
        "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "softrelu": F.softplus,
        "softsign": F.softsign, "leaky": lambda v: F.leaky_relu(v, slope),
        "elu": lambda v: F.elu(v, slope), "selu": F.selu, "gelu": F.gelu,
    }
    if act_type not in fns:
        raise ValueError(f"act_type: expected one of {ACT_TYPES}, got {act_type!r}")
    return (fns[act_type](x),)


@triton.jit
def sigmoid(z):
    return 1.0 / (1.0 + tl.exp(-z))


@triton.jit
def tanh(z):
    t = tl.exp(-2.0 * tl.abs(z))
    r = (1.0 - t) / (1.0 + t)
    return tl.where(z < 0, -r, r)


@triton.jit
def act_fwd(z, ACTIVATION: tl.constexpr, slope):
    """`z` in float32 -> `act(z)` in float32; '' is the identity."""
    if ACTIVATION == "relu":
        z = tl.maximum(z, 0.0)
    elif ACTIVATION == "sigmoid":
        z = sigmoid(z)
    elif ACTIVATION == "tanh":
        z = tanh(z)
    elif ACTIVATION == "softrelu":
        z = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))
    elif ACTIVATION == "softsign":
        z = z / (1.0 + tl.abs(z))
    elif ACTIVATION == "leaky":
        z = tl.where(z > 0, z, z * slope)
    elif ACTIVATION == "elu":
        z = tl.where(z > 0, z, slope * (tl.exp(tl.minimum(z, 0.0)) - 1.0))
    elif ACTIVATION == "selu":
        z = 1.0507009873554804934193349852946 * tl.where(
            z > 0, z, 1.6732632423543772848170429916717 * (tl.exp(tl.minimum(z, 0.0)) - 1.0))
    elif ACTIVATION == "gelu":
        z = 0.5 * z * (1.0 + tl.erf(z * 0.7071067811865476))
    return z


@triton.jit
def act_grad_from_y(y, ACTIVATION: tl.constexpr):
    """d act / d z written in terms of the output `y` (only for GRAD_FROM_OUTPUT)."""
    if ACTIVATION == "relu":
        g = tl.where(y > 0, 1.0, 0.0)
    elif ACTIVATION == "sigmoid":
        g = y * (1.0 - y)
    elif ACTIVATION == "tanh":
        g = 1.0 - y * y
    elif ACTIVATION == "softrelu":
        g = 1.0 - tl.exp(-y)
    else:
        g = tl.full(y.shape, 1.0, tl.float32)
    return g


@triton.jit
def act_grad_from_x(x, ACTIVATION: tl.constexpr, slope):
    if ACTIVATION == "relu":
        g = tl.where(x > 0, 1.0, 0.0)
    elif ACTIVATION == "sigmoid":
        s = sigmoid(x)
        g = s * (1.0 - s)
    elif ACTIVATION == "tanh":
        t = tanh(x)
        g = 1.0 - t * t
    elif ACTIVATION == "softrelu":
        g = sigmoid(x)
    elif ACTIVATION == "softsign":
        d = 1.0 + tl.abs(x)
        g = 1.0 / (d * d)
    elif ACTIVATION == "leaky":
        g = tl.where(x > 0, 1.0, slope)
    elif ACTIVATION == "elu":
        g = tl.where(x > 0, 1.0, slope * tl.exp(tl.minimum(x, 0.0)))
    elif ACTIVATION == "selu":
        g = 1.0507009873554804934193349852946 * tl.where(
            x > 0, 1.0, 1.6732632423543772848170429916717 * tl.exp(tl.minimum(x, 0.0)))
    elif ACTIVATION == "gelu":
        cdf = 0.5 * (1.0 + tl.erf(x * 0.7071067811865476))
        g = cdf + x * 0.3989422804014327 * tl.exp(-0.5 * x * x)
    else:
        g = tl.full(x.shape, 1.0, tl.float32)
    return g


@triton.jit
def activation_fwd_kernel(x, y, N, slope, ACTIVATION: tl.constexpr, BLOCK: tl.constexpr):
    i_b = tl.program_id(0).to(tl.int64)
    o_x = i_b * BLOCK + tl.arange(0, BLOCK)
    mask = o_x < N
    b_x = tl.load(x + o_x, mask=mask, other=0.0).to(tl.float32)
    tl.store(y + o_x, act_fwd(b_x, ACTIVATION, slope).to(y.dtype.element_ty), mask=mask)


@triton.jit
def activation_bwd_kernel(dy, x, dx, N, slope, ACTIVATION: tl.constexpr,
                          FROM_OUTPUT: tl.constexpr, BLOCK: tl.constexpr):
    # FROM_OUTPUT: `x` points at the forward's output y, not its input.
    i_b = tl.program_id(0).to(tl.int64)
    o_x = i_b * BLOCK + tl.arange(0, BLOCK)
    mask = o_x < N
    b_x = tl.load(x + o_x, mask=mask, other=0.0).to(tl.float32)
    b_dy = tl.load(dy + o_x, mask=mask, other=0.0).to(tl.float32)
    if FROM_OUTPUT:
        b_g = act_grad_from_y(b_x, ACTIVATION)
    else:
        b_g = act_grad_from_x(b_x, ACTIVATION, slope)
    tl.store(dx + o_x, (b_dy * b_g).to(dx.dtype.element_ty), mask=mask)


BLOCK = 1024


def _check_act(act_type):
    if act_type not in ACT_TYPES:
        raise ValueError(f"act_type: expected one of {ACT_TYPES}, got {act_type!r}")


def activation_fwd(x, act_type, slope=0.25, out=None):
    """`y = act(x)` for any shape. `out` may be `x` itself (in place) when nobody reads x after.

    Returns `y` with x's shape and dtype.
    """
    _check_act(act_type)
    check_dtype("x", x)
    x = x.contiguous()
    y = _alloc.empty(x.shape, dtype=x.dtype, device=x.device) if out is None else out
    if not y.is_contiguous() or y.shape != x.shape:
        raise ValueError(f"out: expected a contiguous tensor of shape {tuple(x.shape)}, "
                         f"got shape {tuple(y.shape)}")
    n = x.numel()
    if n:
        activation_fwd_kernel[(triton.cdiv(n, BLOCK),)](
            x=x, y=y, N=n, slope=float(slope), ACTIVATION=act_type, BLOCK=BLOCK)
    return y


def activation_bwd(dy, act_type, x=None, y=None, slope=0.25):
    """`dx = dy * act'(x)`. Pass the forward's output `y` for act types in GRAD_FROM_OUTPUT
    (then x is not needed, so the forward may have run in place); otherwise pass `x`."""
    _check_act(act_type)
    from_output = y is not None and act_type in GRAD_FROM_OUTPUT
    src = y if from_output else x
    if src is None:
        raise ValueError(f"activation_bwd: act_type {act_type!r} needs the forward input x")
    dy, src = dy.contiguous(), src.contiguous()
    dx = _alloc.empty(dy.shape, dtype=dy.dtype, device=dy.device)
    n = dy.numel()
    if n:
        activation_bwd_kernel[(triton.cdiv(n, BLOCK),)](
            dy=dy, x=src, dx=dx, N=n, slope=float(slope), ACTIVATION=act_type,
            FROM_OUTPUT=from_output, BLOCK=BLOCK)
    return dx


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    for dtype in shapes.dtypes:
        x = shapes.tensor(shapes.rows[-1], shapes.hidden[0], dtype=dtype)
        for act in ACT_TYPES:
            yield functools.partial(activation_fwd, x, act)
            yield functools.partial(activation_bwd, x, act, x=x)
            if act in GRAD_FROM_OUTPUT:
                yield functools.partial(activation_bwd, x, act, y=x)
