"""Multi-tensor optimizer steps: one `torch._foreach_*` call per term over all parameters.

The learning rate, weight decay and the bias-corrected step size are 0-d tensors on the
parameters' device, refilled from the host before each step (`fill_` launches no sync). A step
then reads nothing from the host that changes between steps, so it can be captured once in a
CUDA graph and replayed. The formulas are MXNet's fused operators' (`sgd_update`,
`sgd_mom_update`, `nag_mom_update`, `adam_update`), term by term.
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
        torch._foreach_add_(moms, torch._foreach_mul(ws, neg_lr_wd))
        torch._foreach_add_(moms, torch._foreach_mul(gs, neg_lr))
        torch._foreach_add_(ws, moms)
        return
    torch._foreach_mul_(ws, decay)
    torch._foreach_add_(ws, torch._foreach_mul(gs, neg_lr))


def nag_step(ws, gs, moms, momentum, neg_lr, wd):
    """MXNet's `nag_mom_update` run with `out=weight`, whose momentum step reads the weight
    already updated: `mom *= momentum; w += (momentum+1)*(mom - lr*(g + wd*w)) - mom;
    mom -= lr*(g + wd*w_new)`."""
    torch._foreach_mul_(moms, momentum)
    step = torch._foreach_mul(torch._foreach_add(gs, torch._foreach_mul(ws, wd)), neg_lr)
    new_w = torch._foreach_mul(torch._foreach_add(moms, step), momentum + 1.0)
    torch._foreach_sub_(new_w, moms)
    torch._foreach_add_(ws, new_w)
    step = torch._foreach_mul(torch._foreach_add(gs, torch._foreach_mul(ws, wd)), neg_lr)
    torch._foreach_add_(moms, step)


def adam_step(ws, gs, means, variances, beta1, beta2, epsilon, neg_lr):
    """`mean = b1*mean + (1-b1)*g; var = b2*var + (1-b2)*g²; w -= lr*mean/(sqrt(var)+eps)`
    with `g` already rescaled, decayed and clipped and `lr` bias-corrected."""
    torch._foreach_mul_(means, beta1)
    torch._foreach_add_(means, gs, alpha=1.0 - beta1)
    torch._foreach_mul_(variances, beta2)
    torch._foreach_addcmul_(variances, gs, gs, value=1.0 - beta2)
    denom = torch._foreach_sqrt(variances)
    torch._foreach_add_(denom, epsilon)
    step = torch._foreach_div(means, denom)
    torch._foreach_mul_(step, neg_lr)
    torch._foreach_add_(ws, step)
