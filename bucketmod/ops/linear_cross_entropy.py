"""Fused `SoftmaxOutput(FullyConnected(x))` for a language model's output layer: returns the
loss, never the `[M, V]` probabilities, and its gradients are exactly SoftmaxOutput's."""
import torch
import torch.nn.functional as F

from ._triton_path import allow_tf32, triton_ok
from .softmax_output import normalised_scale


class LinearCrossEntropyFunction(torch.autograd.Function):
    """All gradients are made in the forward, chunk by chunk (kernels/softmax_output.py);
    the backward only scales them by the head gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias, label, options, chunk_rows, tf32):
        from bucketmod.kernels.softmax_output import linear_cross_entropy_fwd
        scale = normalised_scale(label, options, x.shape)
        loss, dx, dw, db = linear_cross_entropy_fwd(
            x, weight, bias, label, scale, options["ignore_label"], options["use_ignore"],
            options["smooth_alpha"], chunk_rows, tf32)
        ctx.save_for_backward(dx, dw, db)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        dx, dw, db = ctx.saved_tensors
        g = grad_loss.to(dx.dtype)
        return (dx * g, dw * g, db * g if db is not None else None, None, None, None, None)


def _torch_loss(x, weight, bias, label, options):
    logits = F.linear(x, weight, bias).float()
    C = logits.shape[1]
    idx = label.long().clamp(0, C - 1)
    q = F.one_hot(idx, C).to(logits.dtype)
    alpha = options["smooth_alpha"]
    if alpha:
        q = q * (1 - alpha) + (1 - q) * alpha / max(C - 1, 1)
    rows = -(q * torch.log_softmax(logits, -1)).sum(-1)
    if options["use_ignore"]:
        rows = rows * (label != options["ignore_label"]).to(rows.dtype)
    return (rows * normalised_scale(label, options, x.shape)).sum()


def linear_cross_entropy(x, weight, bias, label, *, grad_scale=1.0, ignore_label=-1.0,
                         use_ignore=False, normalization="null", smooth_alpha=0.0,
                         chunk_rows=None):
    """Summed softmax cross-entropy of `x Wᵀ + b`, scaled by grad_scale / normaliser.

    With a head gradient of 1, every gradient equals the one
    `SoftmaxOutput(FullyConnected(x, weight, bias), label, ...)` sends back; the SoftmaxOutput
    arguments mean the same. The Triton path keeps only `chunk_rows x V` logits alive.

    Args:
        x: `[M, K]`. weight: `[V, K]`. bias: `[V]` or None. label: `[M]` class ids.
        chunk_rows: rows per chunk (default: so a chunk of logits is about x's size).
    Returns:
        a float32 scalar.
    """
    if normalization not in ("null", "batch", "valid"):
        raise ValueError(f"normalization: expected 'null', 'batch' or 'valid', "
                         f"got {normalization!r}")
    if x.dim() != 2 or label.shape != (x.shape[0],):
        raise ValueError(f"linear_cross_entropy: expected x [M, K] and label [M], got x "
                         f"{tuple(x.shape)} and label {tuple(label.shape)}")
    options = dict(grad_scale=grad_scale, ignore_label=ignore_label, use_ignore=use_ignore,
                   normalization=normalization, smooth_alpha=smooth_alpha)
    if triton_ok(x, weight, bias):
        return LinearCrossEntropyFunction.apply(x, weight, bias, label, options, chunk_rows,
                                                allow_tf32())
    return _torch_loss(x, weight, bias, label, options)
