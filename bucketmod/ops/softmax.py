"""softmax and log_softmax along an axis, and the seam to kernels/softmax.py."""
import torch

from ._triton_path import triton_ok


class SoftmaxFunction(torch.autograd.Function):
    """Softmax / log-softmax of `x / temperature` over the last axis via kernels/softmax.py."""

    @staticmethod
    def forward(ctx, x, log, temperature):
        from bucketmod.kernels.softmax import softmax_fwd
        y, ctx.online = softmax_fwd(x, log, temperature)
        ctx.save_for_backward(y)
        ctx.log, ctx.temperature = log, temperature
        return y

    @staticmethod
    def backward(ctx, dy):
        from bucketmod.kernels.softmax import softmax_bwd
        (y,) = ctx.saved_tensors
        return softmax_bwd(dy, y, ctx.log, ctx.temperature), None, None


def _last_axis(x, axis):
    return x.dim() > 0 and axis in (-1, x.dim() - 1)



def softmax(x, axis=-1, temperature=None):
    if _last_axis(x, axis) and triton_ok(x):
        return SoftmaxFunction.apply(x, False, 1.0 if temperature is None else float(temperature))
    if temperature is not None and temperature != 1.0:
        x = x / temperature
    return torch.softmax(x, dim=axis)


def log_softmax(x, axis=-1, temperature=None):
    if _last_axis(x, axis) and triton_ok(x):
        return SoftmaxFunction.apply(x, True, 1.0 if temperature is None else float(temperature))
    if temperature is not None and temperature != 1.0:
        x = x / temperature
    return torch.log_softmax(x, dim=axis)
