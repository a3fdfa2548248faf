"""The one vanilla RNN of bucketmod (MXNet's RNNCell, the RNN operator's rnn_tanh/rnn_relu):
`h' = act(x Wiᵀ + bi + h Whᵀ + bh)`. `vanilla_rnn_sequence`, its one-step case
`vanilla_rnn_cell`, and the operators `_fused_rnn_cell`, `_rnn_sequence` and `RNN` that call it.

Triton: the whole-sequence kernels of kernels/vanilla_rnn.py. torch: ATen's RNN
(`torch._VF.rnn_tanh`/`rnn_relu`); per-sample lengths on the torch path run the reference loop.
"""
import torch

from ..kernels._recurrent import check_sequence
from ._triton_path import allow_tf32, triton_ok
from .lstm import _aten_weights
from .params import Param
from .recurrent import (
    aten_state,
    grads_for,
    register_cell,
    register_sequence,
    sequence_outputs,
    time_axis,
)

RNN_ACTS = ("tanh", "relu")


class VanillaRNNSequenceFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, i2h_w, i2h_b, h2h_w, h2h_b, activation, seq_lens, batch_first,
                tf32):
        from bucketmod.kernels.vanilla_rnn import vanilla_rnn_seq_fwd
        hs = vanilla_rnn_seq_fwd(x, h0, i2h_w, i2h_b, h2h_w, h2h_b, activation, seq_lens,
                                 batch_first, tf32)
        ctx.save_for_backward(x, h0, i2h_w, h2h_w, hs, seq_lens)
        ctx.has_bias = (i2h_b is not None, h2h_b is not None)
        ctx.activation, ctx.batch_first, ctx.tf32 = activation, batch_first, tf32
        ctx.set_materialize_grads(False)
        return hs

    @staticmethod
    def backward(ctx, dhs):
        from bucketmod.kernels.vanilla_rnn import vanilla_rnn_seq_bwd
        x, h0, i2h_w, h2h_w, hs, seq_lens = ctx.saved_tensors
        grads = vanilla_rnn_seq_bwd(None if dhs is None else dhs.contiguous(), x, h0, i2h_w,
                                    h2h_w, hs, ctx.activation, seq_lens, *ctx.has_bias,
                                    ctx.batch_first, ctx.tf32)
        return grads_for(ctx, grads) + (None, None, None, None)


def vanilla_rnn_sequence(x, h0, i2h_weight, i2h_bias, h2h_weight, h2h_bias, activation="tanh",
                         *, seq_lens=None, batch_first=False):
    """A whole vanilla RNN sequence with act 'tanh' or 'relu': x `[T, B, I]` (`[B, T, I]` batch
    first), h0 `[B, H]`, weights `[H, I]`/`[H, H]` -> `(out, h_T)` (see `lstm_sequence`)."""
    if activation not in RNN_ACTS:
        raise ValueError(f"activation: expected one of {RNN_ACTS}, got {activation!r}")
    weights = (i2h_weight, i2h_bias, h2h_weight, h2h_bias)
    check_sequence("vanilla_rnn_sequence", x, h0, i2h_weight, h2h_weight, 1, batch_first)
    if triton_ok(x, h0, *weights):
        hs = VanillaRNNSequenceFunction.apply(x, h0, *weights, activation, seq_lens,
                                              batch_first, allow_tf32())
        return sequence_outputs(hs, seq_lens, batch_first)
    if seq_lens is None:
        run = torch._VF.rnn_tanh if activation == "tanh" else torch._VF.rnn_relu
        out, _ = run(x, aten_state(h0, x.dtype), _aten_weights(*weights),
                     i2h_bias is not None or h2h_bias is not None, 1, 0.0,
                     torch.is_grad_enabled(), False, batch_first)
        return out, out.select(time_axis(batch_first), -1)
    from bucketmod.kernels.vanilla_rnn import vanilla_rnn_seq_ref
    out, h = vanilla_rnn_seq_ref(x, h0, *weights, activation, seq_lens, batch_first)
    return out.to(x.dtype), h.to(x.dtype)


def vanilla_rnn_cell(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias, activation="tanh"):
    """One step, `x: [B, I]`, `h: [B, H]` -> `h_new`: `vanilla_rnn_sequence` over one step."""
    return vanilla_rnn_sequence(x[None], h, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                                activation)[1]


_ACT = {"act_type": Param("str", "tanh", RNN_ACTS)}
register_cell("_fused_rnn_cell", 1, 1,
              lambda p, x, h, *w: [vanilla_rnn_cell(x, h, *w, p["act_type"])], _ACT)
register_sequence(
    "_rnn_sequence", 1, 1,
    lambda p, x, states, w, batch_first: vanilla_rnn_sequence(
        x, *states, *w, p["act_type"], batch_first=batch_first), _ACT)
