"""Activation and LeakyReLU with MXNet's act_type names, and the seam to kernels/activation.py."""
import torch
import torch.nn.functional as F

from ._triton_path import triton_ok

ACT_TYPES = ("relu", "sigmoid", "tanh", "softrelu", "softsign")
LEAKY_ACT_TYPES = ("leaky", "elu", "selu", "gelu", "prelu", "rrelu")


class ActivationFunction(torch.autograd.Function):
    """Elementwise `act(x)` through kernels/activation.py. relu/sigmoid/tanh/softrelu keep only
    their output for the backward; the others keep the input."""

    @staticmethod
    def forward(ctx, x, act_type, slope):
        from bucketmod.kernels.activation import GRAD_FROM_OUTPUT, activation_fwd
        y = activation_fwd(x, act_type, slope)
        ctx.from_output = act_type in GRAD_FROM_OUTPUT
        ctx.save_for_backward(y if ctx.from_output else x)
        ctx.act_type, ctx.slope = act_type, slope
        return y

    @staticmethod
    def backward(ctx, dy):
        from bucketmod.kernels.activation import activation_bwd
        (saved,) = ctx.saved_tensors
        if ctx.from_output:
            return activation_bwd(dy, ctx.act_type, y=saved, slope=ctx.slope), None, None
        return activation_bwd(dy, ctx.act_type, x=saved, slope=ctx.slope), None, None


def activation(x, act_type):
    if act_type in ACT_TYPES and triton_ok(x):
        return ActivationFunction.apply(x, act_type, 0.0)
    if act_type == "relu":
        return F.relu(x)
    if act_type == "sigmoid":
        return torch.sigmoid(x)
    if act_type == "tanh":
        return torch.tanh(x)
    if act_type == "softrelu":
        return F.softplus(x)
    if act_type == "softsign":
        return F.softsign(x)
    raise ValueError(f"act_type: expected one of {ACT_TYPES}, got {act_type!r}")


def leaky_relu(x, act_type="leaky", slope=0.25, gamma=None, lower_bound=0.125,
               upper_bound=0.334, training=False):
    if act_type in ("leaky", "elu", "selu", "gelu") and triton_ok(x):
        return ActivationFunction.apply(x, act_type, float(slope))
    if act_type == "rrelu" and not training and triton_ok(x):
        return ActivationFunction.apply(x, "leaky", (lower_bound + upper_bound) / 2)
    if act_type == "leaky":
        return F.leaky_relu(x, slope)
    if act_type == "elu":
        return F.elu(x, slope)
    if act_type == "selu":
        return F.selu(x)
    if act_type == "gelu":
        return F.gelu(x)
    if act_type == "prelu":
        g = gamma.reshape((1, -1) + (1,) * (x.dim() - 2)) if x.dim() > 1 else gamma
        return torch.where(x > 0, x, x * g)
    if act_type == "rrelu":
        if training:
            return F.rrelu(x, lower_bound, upper_bound, training=True)
        return F.leaky_relu(x, (lower_bound + upper_bound) / 2)
    raise ValueError(f"act_type: expected one of {LEAKY_ACT_TYPES}, got {act_type!r}")
