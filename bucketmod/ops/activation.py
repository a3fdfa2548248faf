"""Activation and LeakyReLU with MXNet's act_type names, and the seam to kernels/activation.py."""
import torch
import torch.nn.functional as F

ACT_TYPES = ("relu", "sigmoid", "tanh", "softrelu", "softsign")
LEAKY_ACT_TYPES = ("leaky", "elu", "selu", "gelu", "prelu", "rrelu")


def activation(x, act_type):
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
