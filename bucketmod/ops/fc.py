"""FullyConnected: `y = x Wᵀ + b`, MXNet's flatten rule, and the seam to kernels/fc.py."""
import torch
import torch.nn.functional as F

from . import gemm
from ._triton_path import allow_tf32, triton_ok

FUSED_ACTS = ("relu", "sigmoid", "tanh", "softrelu")
_ACT_INPLACE = {"relu": torch.relu_, "sigmoid": torch.sigmoid_, "tanh": torch.tanh_,
                "softrelu": lambda z: torch._C._nn.softplus(z, 1, 20, out=z)}


def _act_grad(dy, y, act):
    """`dy * act'(z)` from the output `y = act(z)` (softrelu: `σ(z) = 1 − e^−y`)."""
    if act == "relu":
        return torch.ops.aten.threshold_backward(dy, y, 0)
    if act == "sigmoid":
        return torch.ops.aten.sigmoid_backward(dy, y)
    if act == "tanh":
        return torch.ops.aten.tanh_backward(dy, y)
    return dy * -torch.expm1(-y)


class LinearActFunction(torch.autograd.Function):
    """`act(x Wᵀ + b)` (act None or one of FUSED_ACTS) on the torch path for GEMMs large enough
    for oneDNN (`gemm.py`): the activation in place over the GEMM's output, and a backward
    from that output alone (no pre-activation is kept)."""

    @staticmethod
    def forward(ctx, x, w, b, act):
        y = gemm.linear(x, w, b)
        if act:
            _ACT_INPLACE[act](y)
        ctx.save_for_backward(x, w, y if act else None)
        ctx.act, ctx.has_bias = act, b is not None
        return y

    @staticmethod
    def backward(ctx, dy):
        x, w, y = ctx.saved_tensors
        dz = _act_grad(dy, y, ctx.act) if ctx.act else dy
        need = ctx.needs_input_grad
        return (gemm.mm(dz, w) if need[0] else None, gemm.mm_tn(dz, x) if need[1] else None,
                dz.sum(0) if ctx.has_bias and need[2] else None, None)


class FullyConnectedFunction(torch.autograd.Function):
    """`act(x Wᵀ + b)` through kernels/fc.py; `x` is 2-D here (the functional reshapes)."""

    @staticmethod
    def forward(ctx, x, w, b, act, tf32):
        from bucketmod.kernels.fc import fc_fwd
        y = fc_fwd(x, w, b, act or "", allow_tf32=tf32)
        ctx.save_for_backward(x, w, y if act else None)
        ctx.act, ctx.has_bias, ctx.tf32 = act or "", b is not None, tf32
        return y

    @staticmethod
    def backward(ctx, dy):
        from bucketmod.kernels.fc import fc_bwd
        x, w, y = ctx.saved_tensors
        dx, dw, db = fc_bwd(dy, x, w, y, ctx.act, has_bias=ctx.has_bias, allow_tf32=ctx.tf32,
                            need_dx=ctx.needs_input_grad[0], need_dw=ctx.needs_input_grad[1])
        return dx, dw, db, None, None


def fully_connected(x, w, b=None, *, act=None, flatten=True):
    """`[N, ...] -> [N, num_hidden]` (flatten) or `[..., K] -> [..., num_hidden]`.

    Args:
        x: input; with `flatten` every axis after the first is folded into K.
        w: `[num_hidden, K]`. b: `[num_hidden]` or None (MXNet's no_bias).
        act: None or an activation fused after the bias ('relu', 'sigmoid', 'tanh', 'softrelu').
    """
    if flatten:
        x = x.reshape(x.shape[0], -1) if x.dim() != 1 else x.reshape(x.shape[0], 1)
    if x.dim() >= 1 and (not act or act in FUSED_ACTS):
        rows = x.reshape(-1, x.shape[-1])
        if triton_ok(x, w, b):
            y = FullyConnectedFunction.apply(rows, w, b, act, allow_tf32())
        elif gemm.onednn_for(rows, w, rows.numel() * w.shape[0]) is not None:
            y = LinearActFunction.apply(rows, w, b, act)
        else:
            y = F.linear(rows, w, b)
            if act:  # in place where autograd allows it (softplus has no such variant)
                y = F.softplus(y) if act == "softrelu" else _ACT_INPLACE[act](y)
        return y.reshape(*x.shape[:-1], w.shape[0])
    y = F.linear(x, w, b)
    if act:
        from .activation import activation
        y = activation(y, act)
    return y
