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
