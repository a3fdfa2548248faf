"""Multi-tensor optimizer steps: one `torch._foreach_*` call per term over all parameters.

The learning rate, weight decay and bias-corrected step size are numbers, or, for a step that
a CUDA graph captures (the optimizer's `_capturable`), 0-d tensors on the parameters' device,
refilled from the host before each step (`fill_` launches no sync): such a step reads nothing
from the host that changes between steps, so it can be captured once and replayed. The
formulas are MXNet's fused operators' (`sgd_update`, `sgd_mom_update`, `nag_mom_update`,
`adam_update`), term by term.
"""
from collections import defaultdict

import torch


class StepScalars:
    """0-d tensors per (device, name, group), created once and refilled every step."""

    def __init__(self):
        self._tensors = {}

    def get(self, device, dtype, key, value):
        t = self._tensors.get((device, dtype, key))
        if t is None:
            t = torch.empty((), dtype=dtype, device=device)
            self._tensors[(device, dtype, key)] = t
        t.fill_(value)
        return t


def group_by(weights, grads, states, *scalars):
    """Items grouped by device, dtype and their per-parameter scalars (lr, wd, ...): each
    group runs as one set of foreach calls."""
    groups = defaultdict(lambda: ([], [], []))
    for i, (w, g, s) in enumerate(zip(weights, grads, states)):
        key = (w.device, w.dtype) + tuple(values[i] for values in scalars)
        ws, gs, ss = groups[key]
        ws.append(w)
        gs.append(g if g.dtype == w.dtype and g.device == w.device else
                  g.to(device=w.device, dtype=w.dtype))
        ss.append(s)
    return groups.items()


def add_scaled_(ys, xs, a):
    """`ys += a * xs` for every pair, `a` a number or a 0-d tensor."""
    if isinstance(a, torch.Tensor):
        torch._foreach_add_(ys, torch._foreach_mul(xs, a))
    else:
        torch._foreach_add_(ys, xs, alpha=a)


def grads_and_lr(grads, rescale_grad, clip, neg_lr):
    """The gradients and step size a step applies: `(g, -lr * rescale_grad)` without
    clipping (the rescale folded into the step, no copy of the gradients), else
    `(clip(rescale_grad * g), -lr)`."""
    if clip is None:
        return grads, neg_lr * rescale_grad
    return scaled_grads(grads, rescale_grad, clip), neg_lr


def scaled_grads(grads, rescale_grad, clip):
    """`clip(rescale_grad * g)` as new tensors (the gradients are left as they are)."""
    gs = torch._foreach_mul(grads, rescale_grad)
    if clip is not None:
        torch._foreach_clamp_min_(gs, -clip)
        torch._foreach_clamp_max_(gs, clip)
    return gs


def sgd_step(ws, gs, moms, momentum, neg_lr, neg_lr_wd, decay):
    """`mom = momentum*mom - lr*wd*w - lr*g; w += mom`, or without momentum
    `w = (1 - lr*wd)*w - lr*g` (`decay` holds 1 - lr*wd)."""
    if moms is not None:
        torch._foreach_mul_(moms, momentum)
        add_scaled_(moms, ws, neg_lr_wd)
        add_scaled_(moms, gs, neg_lr)
        torch._foreach_add_(ws, moms)
        return
    torch._foreach_mul_(ws, decay)
    add_scaled_(ws, gs, neg_lr)


def nag_step(ws, gs, moms, momentum, neg_lr, wd):
    """MXNet's `nag_mom_update` run with `out=weight`, whose momentum step reads the weight
    already updated: `mom *= momentum; w += (momentum+1)*(mom - lr*(g + wd*w)) - mom;
    mom -= lr*(g + wd*w_new)`."""
    torch._foreach_mul_(moms, momentum)
    d = torch._foreach_add(gs, torch._foreach_mul(ws, wd))
    new_w = torch._foreach_add(moms, torch._foreach_mul(d, neg_lr))
    torch._foreach_mul_(new_w, momentum + 1.0)
    torch._foreach_sub_(new_w, moms)
    torch._foreach_add_(ws, new_w)
    d = torch._foreach_add(gs, torch._foreach_mul(ws, wd))
    add_scaled_(moms, d, neg_lr)


def adam_step(ws, gs, means, variances, beta1, beta2, epsilon, neg_lr):
    """`mean = b1*mean + (1-b1)*g; var = b2*var + (1-b2)*g²; w -= lr*mean/(sqrt(var)+eps)`
    with `g` already rescaled, decayed and clipped and `lr` bias-corrected."""
    torch._foreach_mul_(means, beta1)
    torch._foreach_add_(means, gs, alpha=1.0 - beta1)
    torch._foreach_mul_(variances, beta2)
    torch._foreach_addcmul_(variances, gs, gs, value=1.0 - beta2)
    denom = torch._foreach_sqrt(variances)
    torch._foreach_add_(denom, epsilon)
    add_scaled_(ws, torch._foreach_div(means, denom), neg_lr)
