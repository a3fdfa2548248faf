"""One vanilla RNN step, `h_new = act(x Wiᵀ + bi + h Whᵀ + bh)` with act tanh or relu: two
GEMMs into float32 pre-activations, the activation kernel, and a backward from `h_new`."""
import functools

import torch

from ._cell import gates_bwd, summed_gates
from ._common import check_dtype
from .activation import activation_bwd, activation_fwd

RNN_ACTS = ("tanh", "relu")


def rnn_cell_ref(x, h, i2h_w, i2h_b, h2h_w, h2h_b, activation="tanh"):
    """`x: [B, I]`, `h: [B, H]`, `i2h_w: [H, I]`, `h2h_w: [H, H]` -> `(h_new,)` in float32."""
    z = x.float() @ i2h_w.float().T + h.float() @ h2h_w.float().T
    for b in (i2h_b, h2h_b):
        if b is not None:
            z = z + b.float()
    return (torch.tanh(z) if activation == "tanh" else torch.relu(z),)


def rnn_cell_fwd(x, h, i2h_w, i2h_b, h2h_w, h2h_b, activation="tanh", allow_tf32=False):
    """One step -> `h_new` (h's dtype; its value is all the backward needs besides inputs)."""
    if activation not in RNN_ACTS:
        raise ValueError(f"activation: expected one of {RNN_ACTS}, got {activation!r}")
    check_dtype("x", x)
    H = h.shape[1]
    if tuple(i2h_w.shape) != (H, x.shape[1]) or tuple(h2h_w.shape) != (H, H):
        raise ValueError(f"rnn_cell: expected i2h_weight [H, I] and h2h_weight [H, H] for "
                         f"x {tuple(x.shape)}, h {tuple(h.shape)}; got {tuple(i2h_w.shape)} "
                         f"and {tuple(h2h_w.shape)}")
    z = summed_gates(x, h, i2h_w, i2h_b, h2h_w, h2h_b, allow_tf32)
    return activation_fwd(z, activation, out=z).to(h.dtype)


def rnn_cell_bwd(dh_new, x, h, i2h_w, h2h_w, h_new, has_i2h_bias=True, has_h2h_bias=True,
                 activation="tanh", allow_tf32=False):
    """-> `(dx, dh, di2h_w, di2h_b, dh2h_w, dh2h_b)`; act' comes from `h_new` (tanh: 1-h²,
    relu: h>0)."""
    dz = activation_bwd(dh_new.to(x.dtype), activation, y=h_new)
    return gates_bwd(dz, dz, x, h, i2h_w, h2h_w, has_i2h_bias, has_h2h_bias, allow_tf32)


def compile_cases(shapes):
    """Launcher calls at the project's shapes, for the AOT check (kernels/README.md)."""
    t, B = shapes.tensor, shapes.batch
    for dtype, tf32 in shapes.dot_kinds():
        for H in shapes.hidden:
            x, h = t(B, H, dtype=dtype), t(B, H, dtype=dtype)
            wi, wh, b = t(H, H, dtype=dtype), t(H, H, dtype=dtype), t(H, dtype=dtype)
            for act in RNN_ACTS:
                yield functools.partial(rnn_cell_fwd, x, h, wi, b, wh, b, act, tf32)
                yield functools.partial(rnn_cell_bwd, h, x, h, wi, wh, h, True, True, act, tf32)
