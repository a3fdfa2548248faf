"""The one LSTM of bucketmod (MXNet's gate order i, f, c, o): `lstm_sequence` runs a whole
sequence, `lstm_cell` is its one-step case, `lstm_stack` runs stacked layers, and the
operators `_fused_lstm_cell`, `_lstm_sequence`, `_lstm_stack` (put in the graph by the passes)
and `RNN` (mode 'lstm') all call it.

Triton (CUDA tensors under the default backend): the whole-sequence kernels of kernels/lstm.py
(`LSTMSequenceFunction`). torch (CPU tensors, or `BUCKETMOD_BACKEND=torch`): ATen's LSTM
(`torch._VF.lstm`: oneDNN's fused LSTM on the CPU, cuDNN on CUDA), which takes MXNet's separate
i2h/h2h weights as they are, gates in the same order. Per-sample lengths on the torch path,
and state clipping anywhere, run the reference loop `lstm_seq_ref` under autograd.
"""
import torch

from ..kernels._recurrent import check_sequence
from ._triton_path import allow_tf32, triton_ok
from .params import Param
from .recurrent import (
    SEQUENCE_PARAMS,
    WEIGHTS,
    aten_state,
    batch_of,
    grads_for,
    register_cell,
    register_sequence,
    sequence_batch_and_size,
    sequence_input,
    sequence_op_outputs,
    sequence_outputs,
    states_infer,
    time_axis,
    weights_infer,
)
from .registry import OpDef, register


class LSTMSequenceFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, c0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens, batch_first, tf32):
        from bucketmod.kernels.lstm import lstm_seq_fwd
        hs, cs, gates = lstm_seq_fwd(x, h0, c0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens,
                                     batch_first, tf32)
        ctx.save_for_backward(x, h0, c0, i2h_w, h2h_w, hs, cs, gates, seq_lens)
        ctx.has_bias = (i2h_b is not None, h2h_b is not None)
        ctx.batch_first, ctx.tf32 = batch_first, tf32
        ctx.set_materialize_grads(False)
        axis = time_axis(batch_first)
        return hs, cs.select(axis, cs.shape[axis] - 1).to(x.dtype, copy=True)

    @staticmethod
    def backward(ctx, dhs, dc_last):
        from bucketmod.kernels.lstm import lstm_seq_bwd
        x, h0, c0, i2h_w, h2h_w, hs, cs, gates, seq_lens = ctx.saved_tensors
        grads = lstm_seq_bwd(None if dhs is None else dhs.contiguous(), dc_last, x, h0, c0,
                             i2h_w, h2h_w, hs, cs, gates, seq_lens, *ctx.has_bias,
                             ctx.batch_first, ctx.tf32)
        return grads_for(ctx, grads) + (None, None, None)


def lstm_sequence(x, h0, c0, i2h_weight, i2h_bias, h2h_weight, h2h_bias, *, seq_lens=None,
                  state_clip=None, batch_first=False):
    """A whole LSTM sequence.

    Args:
        x: `[T, B, I]`, or `[B, T, I]` with `batch_first`. h0, c0: `[B, H]`.
        i2h_weight: `[4H, I]`. h2h_weight: `[4H, H]`. i2h_bias, h2h_bias: `[4H]` or None.
        seq_lens: `[B]` or None; steps at or past a sample's length keep its state and output
            zeros. state_clip: `(lo, hi, clip_nan)` or None (MXNet's `lstm_state_clip_*`).
    Returns:
        `(out, h_T, c_T)`: out `[T, B, H]` in x's layout, h_T a view of the last step's state.

    Example::

        out, h, c = lstm_sequence(x, h0, c0, wi, bi, wh, bh)  # x: [T, B, I]
    """
    weights = (i2h_weight, i2h_bias, h2h_weight, h2h_bias)
    check_sequence("lstm_sequence", x, h0, i2h_weight, h2h_weight, 4, batch_first)
    if state_clip is None and triton_ok(x, h0, c0, *weights):
        hs, c_last = LSTMSequenceFunction.apply(x, h0, c0, *weights, seq_lens, batch_first,
                                                allow_tf32())
        return (*sequence_outputs(hs, seq_lens, batch_first), c_last)
    if state_clip is None and seq_lens is None:
        out, _, c_n = torch._VF.lstm(x, (aten_state(h0, x.dtype), aten_state(c0, x.dtype)),
                                     _aten_weights(*weights), i2h_bias is not None or
                                     h2h_bias is not None, 1, 0.0, torch.is_grad_enabled(),
                                     False, batch_first)
        return out, out.select(time_axis(batch_first), -1), c_n[0]
    from bucketmod.kernels.lstm import lstm_seq_ref
    out, h, c = lstm_seq_ref(x, h0, c0, *weights, seq_lens, state_clip, batch_first)
    return out.to(x.dtype), h.to(x.dtype), c.to(x.dtype)


def _aten_weights(i2h_w, i2h_b, h2h_w, h2h_b):
    """ATen's per-layer weight list: `[w_ih, w_hh]` plus `[b_ih, b_hh]` when there is a bias
    (a missing one of the two becomes zeros)."""
    if i2h_b is None and h2h_b is None:
        return [i2h_w, h2h_w]
    return [i2h_w, h2h_w, i2h_b if i2h_b is not None else torch.zeros_like(h2h_b),
            h2h_b if h2h_b is not None else torch.zeros_like(i2h_b)]


def lstm_stack(x, layers, *, batch_first=False):
    """Stacked LSTM layers over a whole sequence, each layer's output the next one's input.

    Args:
        x: `[T, B, I]`, or `[B, T, I]` with `batch_first`.
        layers: per layer `(h0, c0, i2h_weight, i2h_bias, h2h_weight, h2h_bias)`, as
            `lstm_sequence` takes them.
    Returns:
        `(out, h_T, c_T)` of the top layer.

    On the torch path, where every layer has biases or none has, it is one call of ATen's
    multi-layer LSTM; otherwise `lstm_sequence` layer by layer.
    """
    flat = [t for layer in layers for t in layer if t is not None]
    biased = {layer[3] is not None or layer[5] is not None for layer in layers}
    if len(biased) == 1 and not triton_ok(x, *flat):
        _check_stack(x, layers, batch_first)
        h0 = torch.cat([aten_state(layer[0], x.dtype) for layer in layers])
        c0 = torch.cat([aten_state(layer[1], x.dtype) for layer in layers])
        out, _, c_n = torch._VF.lstm(x, (h0, c0), [w for layer in layers
                                                  for w in _aten_weights(*layer[2:])],
                                     biased.pop(), len(layers), 0.0, torch.is_grad_enabled(),
                                     False, batch_first)
        return out, out.select(time_axis(batch_first), -1), c_n[-1]
    for layer in layers:
        x, h, c = lstm_sequence(x, *layer, batch_first=batch_first)
    return x, h, c


def _check_stack(x, layers, batch_first):
    """Layer 0 as `lstm_sequence` checks it; every layer above with layer 0's state shape and
    `[4H, H]` weights (ATen's stacked LSTM has one hidden size)."""
    _, _, H = check_sequence("lstm_stack", x, layers[0][0], layers[0][2], layers[0][4], 4,
                             batch_first)
    for k, (h0, c0, wi, _, wh, _) in enumerate(layers[1:], 1):
        if h0.shape != layers[0][0].shape or c0.shape != h0.shape or \
                tuple(wi.shape) != (4 * H, H) or tuple(wh.shape) != (4 * H, H):
            raise ValueError(
                f"lstm_stack: layer {k} expected h0 and c0 {tuple(layers[0][0].shape)}, "
                f"i2h_weight and h2h_weight {(4 * H, H)}; got h0 {tuple(h0.shape)}, c0 "
                f"{tuple(c0.shape)}, i2h_weight {tuple(wi.shape)}, h2h_weight "
                f"{tuple(wh.shape)}")


def lstm_cell(x, h, c, i2h_weight, i2h_bias, h2h_weight, h2h_bias):
    """One LSTM step, `x: [B, I]`, `h, c: [B, H]` -> `(h_new, c_new)`: `lstm_sequence` over one
    step."""
    _, h_new, c_new = lstm_sequence(x[None], h, c, i2h_weight, i2h_bias, h2h_weight, h2h_bias)
    return h_new, c_new


register_cell("_fused_lstm_cell", 4, 2, lambda p, x, h, c, *w: lstm_cell(x, h, c, *w))
register_sequence(
    "_lstm_sequence", 4, 2,
    lambda p, x, states, w, batch_first: lstm_sequence(x, *states, *w,
                                                       batch_first=batch_first))


LAYER_INPUTS = ["h", "c"] + WEIGHTS


def _stack_infer(p, s):
    T, nh, L = p["seq_len"], p["num_hidden"], p["num_layers"]
    batch, in_size = sequence_batch_and_size(p, s[0]) if s[0] is not None else (None, None)
    batch = batch or batch_of([s[1 + 6 * k + i] for k in range(L) for i in (0, 1)])
    for k in range(L):
        first = 1 + 6 * k
        if batch:
            states_infer(s, first, 2, batch, nh)
        weights_infer(s, first + 2, 4, nh, in_size if k == 0 else nh)
    if not batch:
        return s, [None] * (T + 2)
    seq = (batch, T, nh) if p["layout"] == "NTC" else (T, batch, nh)
    return s, [(batch, nh)] * (T + 1) + [seq]


def _stack_forward(p, x, aux, train):
    layers = [tuple(x[1 + 6 * k:7 + 6 * k]) for k in range(p["num_layers"])]
    out, _, c = lstm_stack(sequence_input(p, x[0]), layers,
                           batch_first=p["layout"] == "NTC")
    return sequence_op_outputs(p, out, [c])


# `num_layers` stacked `_lstm_sequence`s reading a tensor (the passes' `lstm_stacks`): the data,
# then per layer its begin states and weights; the outputs are the top layer's.
register(OpDef(
    name="_lstm_stack",
    params=dict(SEQUENCE_PARAMS, num_layers=Param("int", lower=2)),
    arguments=lambda p: ["data"] + [f"l{k}_{name}" for k in range(p["num_layers"])
                                    for name in LAYER_INPUTS],
    outputs=lambda p: [f"step{t}" for t in range(p["seq_len"])] + ["state_cell", "output"],
    infer_shape=_stack_infer, forward=_stack_forward, extra={"skips_unread_outputs": True}))
