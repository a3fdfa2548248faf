"""Linear/Logistic/MAE RegressionOutput: loss layers whose backward ignores the head gradient.

MXNet's gradient is `grad_scale / num_output * f(out, label)` with num_output the label's size
per sample: out - label (linear, logistic after the sigmoid) or sign(out - label) (MAE).
"""
import torch

KINDS = ("linear", "logistic", "mae")


class RegressionOutputFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, data, label, kind, grad_scale):
        out = torch.sigmoid(data) if kind == "logistic" else data.clone()
        ctx.save_for_backward(out, label)
        ctx.kind, ctx.grad_scale = kind, grad_scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        out, label = ctx.saved_tensors
        label = label.reshape(out.shape)
        diff = out - label.to(out.dtype)
        if ctx.kind == "mae":
            diff = torch.sign(diff)
        num_output = max(label.numel() // max(label.shape[0], 1), 1) if label.dim() else 1
        return diff * (ctx.grad_scale / num_output), None, None, None


def regression_output(data, label, kind, grad_scale=1.0):
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    return RegressionOutputFunction.apply(data, label, kind, grad_scale)


class MakeLossFunction(torch.autograd.Function):
    """Identity forward; backward `grad_scale / normaliser` everywhere, ignoring the head grad."""

    @staticmethod
    def forward(ctx, data, grad_scale, normalization, valid_thresh):
        if normalization == "batch":
            scale = grad_scale / data.shape[0]
        elif normalization == "valid":
            scale = grad_scale / max(int((data > valid_thresh).sum()), 1)
        else:
            scale = grad_scale
        ctx.scale = scale
        return data.clone()

    @staticmethod
    def backward(ctx, grad_out):
        return torch.full_like(grad_out, ctx.scale), None, None, None


def make_loss(data, grad_scale=1.0, normalization="null", valid_thresh=0.0):
    return MakeLossFunction.apply(data, grad_scale, normalization, valid_thresh)
