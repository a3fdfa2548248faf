"""The one GRU of bucketmod (MXNet's GRUCell: gates r, z, n, the reset gate scaling the whole
h2h candidate as torch.nn.GRU does): `gru_sequence`, its one-step case `gru_cell`, and the
operators `_fused_gru_cell`, `_gru_sequence` and `RNN` (mode 'gru') that call it.

Triton: the whole-sequence kernels of kernels/gru.py. torch: ATen's GRU (`torch._VF.gru`);
per-sample lengths on the torch path run the reference loop under autograd (see ops/lstm.py).
"""
import torch

from ..kernels._recurrent import check_sequence
from ._triton_path import allow_tf32, triton_ok
from .lstm import _aten_weights
from .recurrent import (
    aten_state,
    grads_for,
    register_cell,
    register_sequence,
    sequence_outputs,
    time_axis,
)


class GRUSequenceFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens, batch_first, tf32):
        from bucketmod.kernels.gru import gru_seq_fwd
        hs, gates, ghn = gru_seq_fwd(x, h0, i2h_w, i2h_b, h2h_w, h2h_b, seq_lens, batch_first,
                                     tf32)
        ctx.save_for_backward(x, h0, i2h_w, h2h_w, hs, gates, ghn, seq_lens)
        ctx.has_bias = (i2h_b is not None, h2h_b is not None)
        ctx.batch_first, ctx.tf32 = batch_first, tf32
        ctx.set_materialize_grads(False)
        return hs

    @staticmethod
    def backward(ctx, dhs):
        from bucketmod.kernels.gru import gru_seq_bwd
        x, h0, i2h_w, h2h_w, hs, gates, ghn, seq_lens = ctx.saved_tensors
        grads = gru_seq_bwd(None if dhs is None else dhs.contiguous(), x, h0, i2h_w, h2h_w, hs,
                            gates, ghn, seq_lens, *ctx.has_bias, ctx.batch_first, ctx.tf32)
        return grads_for(ctx, grads) + (None, None, None)


def gru_sequence(x, h0, i2h_weight, i2h_bias, h2h_weight, h2h_bias, *, seq_lens=None,
                 batch_first=False):
    """A whole GRU sequence: x `[T, B, I]` (`[B, T, I]` batch first), h0 `[B, H]`, weights
    `[3H, I]`/`[3H, H]`, biases `[3H]` or None -> `(out, h_T)` (see `lstm_sequence`)."""
    weights = (i2h_weight, i2h_bias, h2h_weight, h2h_bias)
    check_sequence("gru_sequence", x, h0, i2h_weight, h2h_weight, 3, batch_first)
    if triton_ok(x, h0, *weights):
        hs = GRUSequenceFunction.apply(x, h0, *weights, seq_lens, batch_first, allow_tf32())
        return sequence_outputs(hs, seq_lens, batch_first)
    if seq_lens is None:
        out, _ = torch._VF.gru(x, aten_state(h0, x.dtype), _aten_weights(*weights),
                               i2h_bias is not None or h2h_bias is not None, 1, 0.0,
                               torch.is_grad_enabled(), False, batch_first)
        return out, out.select(time_axis(batch_first), -1)
    from bucketmod.kernels.gru import gru_seq_ref
    out, h = gru_seq_ref(x, h0, *weights, seq_lens, batch_first)
    return out.to(x.dtype), h.to(x.dtype)


def gru_cell(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias):
    """One GRU step, `x: [B, I]`, `h: [B, H]` -> `h_new`: `gru_sequence` over one step."""
    return gru_sequence(x[None], h, i2h_weight, i2h_bias, h2h_weight, h2h_bias)[1]


register_cell("_fused_gru_cell", 3, 1, lambda p, x, h, *w: [gru_cell(x, h, *w)])
register_sequence(
    "_gru_sequence", 3, 1,
    lambda p, x, states, w, batch_first: gru_sequence(x, *states, *w, batch_first=batch_first))
