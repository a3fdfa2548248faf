"""SoftmaxOutput: softmax forward; a backward that is `(p - onehot) * grad_scale / normaliser`.

The head gradient is ignored, as in MXNet: SoftmaxOutput is a loss layer.
"""
import math

import torch

from ._triton_path import triton_ok


def _fixed_normaliser(normalization, shape, multi_output):
    """What MXNet divides grad_scale by, for 'null' and 'batch': 1 or N, times the spatial
    size with multi_output."""
    spatial = math.prod(shape[2:]) if multi_output else 1
    return float(spatial * (shape[0] if normalization == "batch" else 1))


def softmax_output_grad(prob, label, *, grad_scale=1.0, ignore_label=-1.0, use_ignore=False,
                        normalization="null", multi_output=False, preserve_shape=False,
                        smooth_alpha=0.0):
    """The gradient SoftmaxOutput sends to its data input, given its output `prob`.

    No value is read on the host: labels outside [0, C) add nothing (a scatter of zero), and
    the 'valid' normaliser stays a tensor.
    """
    shape = prob.shape
    if multi_output:
        n, c = shape[0], shape[1]
        p = prob.reshape(n, c, -1).transpose(1, 2).reshape(-1, c)
        lab = label.reshape(-1)
    elif preserve_shape:
        p = prob.reshape(-1, shape[-1])
        lab = label.reshape(-1)
    else:
        p = prob.reshape(shape[0], -1)
        lab = label.reshape(-1) if label.shape != prob.shape else label.reshape(p.shape)
    if lab.shape == p.shape:
        grad = p - lab.to(p.dtype)
    else:
        k = p.shape[1]
        idx = lab.long()
        hit = ((idx >= 0) & (idx < k)).to(p.dtype).unsqueeze(1)
        target = idx.clamp(0, k - 1).unsqueeze(1)
        if smooth_alpha:
            grad = p - smooth_alpha / (k - 1)
            grad.scatter_add_(1, target, hit * -(1 - smooth_alpha - smooth_alpha / (k - 1)))
        else:
            grad = p.clone()
            grad.scatter_add_(1, target, -hit)
        if use_ignore:
            grad.mul_((lab != ignore_label).unsqueeze(1).to(grad.dtype))
    if normalization == "valid":
        valid = p.shape[0] if lab.shape == p.shape else \
            (lab != ignore_label).sum().clamp(min=1).to(p.dtype)
        grad.mul_(grad_scale / valid)
    else:
        grad.mul_(grad_scale / _fixed_normaliser(normalization, shape, multi_output))
    if multi_output:
        n, c = shape[0], shape[1]
        grad = grad.reshape(n, -1, c).transpose(1, 2)
    return grad.reshape(shape)


def _kernel_rows(data, label, multi_output, preserve_shape):
    """`[M, C]` rows and `[M]` labels for the kernels, or None where labels are not class ids."""
    shape = data.shape
    if multi_output:
        rows = data.reshape(shape[0], shape[1], -1).movedim(1, -1).reshape(-1, shape[1])
    elif preserve_shape:
        rows = data.reshape(-1, shape[-1])
    else:
        rows = data.reshape(shape[0], -1)
    if label.numel() != rows.shape[0]:
        return None
    return rows, label.reshape(-1)


def _from_rows(rows, shape, multi_output):
    if multi_output:
        return rows.reshape(shape[0], -1, shape[1]).movedim(-1, 1).reshape(shape)
    return rows.reshape(shape)


def normalised_scale(lab, options, shape):
    """grad_scale / normaliser for data of `shape` (a 1-element tensor for 'valid', so it costs
    no host sync)."""
    norm = options["normalization"]
    if norm == "valid":
        count = (lab != options["ignore_label"]).sum().clamp(min=1).to(torch.float32)
        return options["grad_scale"] / count
    return options["grad_scale"] / _fixed_normaliser(norm, shape,
                                                     options.get("multi_output", False))


class SoftmaxOutputFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, data, label, options):
        ctx.triton = False
        if triton_ok(data) and data.dim() >= 1:
            found = _kernel_rows(data, label, options["multi_output"], options["preserve_shape"])
            if found is not None:
                from bucketmod.kernels.softmax_output import softmax_output_fwd
                rows, lab = found
                prob, _, _ = softmax_output_fwd(rows, lab)
                ctx.triton = True
                ctx.save_for_backward(prob, lab)
                ctx.options, ctx.shape = options, data.shape
                return _from_rows(prob, data.shape, options["multi_output"])
        axis = 1 if options["multi_output"] else -1
        if axis == -1 and not options["preserve_shape"] and data.dim() > 2:
            prob = torch.softmax(data.reshape(data.shape[0], -1), -1).reshape(data.shape)
        else:
            prob = torch.softmax(data, dim=axis)
        ctx.save_for_backward(prob, label)
        ctx.options = options
        return prob

    @staticmethod
    def backward(ctx, grad_out):
        prob, label = ctx.saved_tensors
        if ctx.triton:
            from bucketmod.kernels.softmax_output import softmax_output_bwd
            o = ctx.options
            grad = softmax_output_bwd(prob, label, normalised_scale(label, o, ctx.shape),
                                      o["ignore_label"], o["use_ignore"], o["smooth_alpha"])
            return _from_rows(grad, ctx.shape, o["multi_output"]), None, None
        return softmax_output_grad(prob, label, **ctx.options), None, None


def softmax_output(data, label, *, grad_scale=1.0, ignore_label=-1.0, use_ignore=False,
                   normalization="null", multi_output=False, preserve_shape=False,
                   smooth_alpha=0.0):
    """Softmax of `data` (`[N, C]`, `[N, C, ...]` with multi_output, or `[..., C]` with
    preserve_shape); its backward is the cross-entropy gradient with respect to `label`."""
    options = dict(grad_scale=grad_scale, ignore_label=ignore_label, use_ignore=use_ignore,
                   normalization=normalization, multi_output=multi_output,
                   preserve_shape=preserve_shape, smooth_alpha=smooth_alpha)
    return SoftmaxOutputFunction.apply(data, label, options)
