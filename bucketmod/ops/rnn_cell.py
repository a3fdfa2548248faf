"""One step of MXNet's LSTMCell, GRUCell and RNNCell on tensors: torch references or the
fused Triton cells of kernels/{lstm,gru,rnn}_cell.py, chosen per call by the backend switch."""
import torch

from ._triton_path import allow_tf32, triton_ok


def _grads_for(ctx, grads, names):
    """Order kernel grads by the forward's input names, dropping the ones nobody asked for."""
    return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad[:names]))


class LSTMCellFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h, c, i2h_w, i2h_b, h2h_w, h2h_b, forget_bias, tf32):
        from bucketmod.kernels.lstm_cell import lstm_cell_fwd
        h_new, c_new, gates = lstm_cell_fwd(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b, forget_bias,
                                            tf32)
        ctx.save_for_backward(x, h, c, i2h_w, h2h_w, gates)
        ctx.has_bias = (i2h_b is not None, h2h_b is not None)
        ctx.forget_bias, ctx.tf32 = forget_bias, tf32
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh_new, dc_new):
        from bucketmod.kernels.lstm_cell import lstm_cell_bwd
        x, h, c, i2h_w, h2h_w, gates = ctx.saved_tensors
        dx, dh, dc, dwi, dbi, dwh, dbh = lstm_cell_bwd(dh_new, dc_new, x, h, c, i2h_w, h2h_w,
                                                       gates, *ctx.has_bias, ctx.forget_bias,
                                                       ctx.tf32)
        return _grads_for(ctx, (dx, dh, dc, dwi, dbi, dwh, dbh), 7) + (None, None)


class GRUCellFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h, i2h_w, i2h_b, h2h_w, h2h_b, tf32):
        from bucketmod.kernels.gru_cell import gru_cell_fwd
        h_new, i2h, h2h = gru_cell_fwd(x, h, i2h_w, i2h_b, h2h_w, h2h_b, tf32)
        ctx.save_for_backward(x, h, i2h_w, h2h_w, i2h, h2h)
        ctx.has_bias, ctx.tf32 = (i2h_b is not None, h2h_b is not None), tf32
        return h_new

    @staticmethod
    def backward(ctx, dh_new):
        from bucketmod.kernels.gru_cell import gru_cell_bwd
        x, h, i2h_w, h2h_w, i2h, h2h = ctx.saved_tensors
        grads = gru_cell_bwd(dh_new, x, h, i2h_w, h2h_w, i2h, h2h, *ctx.has_bias, ctx.tf32)
        return _grads_for(ctx, grads, 6) + (None,)


class RNNCellFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h, i2h_w, i2h_b, h2h_w, h2h_b, activation, tf32):
        from bucketmod.kernels.rnn_cell import rnn_cell_fwd
        h_new = rnn_cell_fwd(x, h, i2h_w, i2h_b, h2h_w, h2h_b, activation, tf32)
        ctx.save_for_backward(x, h, i2h_w, h2h_w, h_new)
        ctx.has_bias = (i2h_b is not None, h2h_b is not None)
        ctx.activation, ctx.tf32 = activation, tf32
        return h_new

    @staticmethod
    def backward(ctx, dh_new):
        from bucketmod.kernels.rnn_cell import rnn_cell_bwd
        x, h, i2h_w, h2h_w, h_new = ctx.saved_tensors
        grads = rnn_cell_bwd(dh_new, x, h, i2h_w, h2h_w, h_new, *ctx.has_bias,
                             ctx.activation, ctx.tf32)
        return _grads_for(ctx, grads, 6) + (None, None)


def lstm_cell(x, h, c, i2h_weight, i2h_bias, h2h_weight, h2h_bias, forget_bias=0.0):
    """One LSTM step, gates in MXNet's order i, f, c, o.

    Args:
        x: `[B, I]`. h, c: `[B, H]`. i2h_weight: `[4H, I]`. h2h_weight: `[4H, H]`.
        i2h_bias, h2h_bias: `[4H]` or None.
        forget_bias: added to the forget gate at run time (MXNet adds it in the initializer).
    Returns:
        `(h_new, c_new)`, each `[B, H]`.
    """
    if triton_ok(x, h, c, i2h_weight, i2h_bias, h2h_weight, h2h_bias):
        return LSTMCellFunction.apply(x, h, c, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                                      float(forget_bias), allow_tf32())
    from bucketmod.kernels.lstm_cell import lstm_cell_ref
    h_new, c_new = lstm_cell_ref(x, h, c, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                                 forget_bias)
    return h_new.to(h.dtype), c_new.to(c.dtype)


def gru_cell(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias):
    """One GRU step as MXNet's GRUCell (gates r, z, n): `x: [B, I]`, `h: [B, H]`,
    `i2h_weight: [3H, I]`, `h2h_weight: [3H, H]` -> `h_new: [B, H]`."""
    if triton_ok(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias):
        return GRUCellFunction.apply(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                                     allow_tf32())
    from bucketmod.kernels.gru_cell import gru_cell_ref
    return gru_cell_ref(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias)[0].to(h.dtype)


def rnn_cell(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias, activation="tanh"):
    """One vanilla RNN step, `act(x Wiᵀ + bi + h Whᵀ + bh)` with act 'tanh' or 'relu':
    `x: [B, I]`, `h: [B, H]`, `i2h_weight: [H, I]`, `h2h_weight: [H, H]` -> `[B, H]`."""
    if activation not in ("tanh", "relu"):
        raise ValueError(f"activation: expected 'tanh' or 'relu', got {activation!r}")
    if triton_ok(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias):
        return RNNCellFunction.apply(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                                     activation, allow_tf32())
    from bucketmod.kernels.rnn_cell import rnn_cell_ref
    return rnn_cell_ref(x, h, i2h_weight, i2h_bias, h2h_weight, h2h_bias,
                        activation)[0].to(h.dtype)
