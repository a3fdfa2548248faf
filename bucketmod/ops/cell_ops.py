"""`_fused_lstm_cell`, `_fused_gru_cell`, `_fused_rnn_cell`: one unrolled cell step as one
operator each.

The graph pass in `bucketmod/symbol/passes/cells.py` puts them in place of the nodes MXNet's
LSTMCell/GRUCell/RNNCell unroll to (two FullyConnected, slices, activations, the state
arithmetic). On CUDA they run the Triton cells of kernels/{lstm,gru,rnn}_cell.py. On the CPU the
LSTM step is one autograd node with a hand-written backward that recomputes the gate
activations; the GRU and RNN steps run their torch references.
"""
import torch

from ..backend import use_triton
from .params import Param
from .registry import OpDef, register
from .rnn_cell import gru_cell, lstm_cell, rnn_cell
from .shape_ops import merge


class LSTMCellTorchFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h, c, i2h_w, i2h_b, h2h_w, h2h_b):
        gates = torch.addmm(i2h_b, x, i2h_w.t()) if i2h_b is not None else x @ i2h_w.t()
        gates = torch.addmm(gates, h, h2h_w.t())
        if h2h_b is not None:
            gates += h2h_b
        act = torch.sigmoid(gates)
        i, f, _, o = act.chunk(4, dim=1)
        g = torch.tanh(gates[:, 2 * (gates.shape[1] // 4):3 * (gates.shape[1] // 4)])
        c_new = torch.addcmul(f * c, i, g)
        tanh_c = torch.tanh(c_new)
        h_new = o * tanh_c
        ctx.save_for_backward(x, h, c, i2h_w, h2h_w, i, f, g, o, tanh_c)
        ctx.has_bias = (i2h_b is not None, h2h_b is not None)
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh_new, dc_new):
        x, h, c, i2h_w, h2h_w, i, f, g, o, tanh_c = ctx.saved_tensors
        if dh_new is None:
            dh_new = torch.zeros_like(tanh_c)
        dc = dh_new * o * (1 - tanh_c * tanh_c)
        if dc_new is not None:
            dc = dc + dc_new
        dgates = torch.cat([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
                            dh_new * tanh_c * o * (1 - o)], dim=1)
        need = ctx.needs_input_grad
        dx = dgates @ i2h_w if need[0] else None
        dh = dgates @ h2h_w if need[1] else None
        dc_prev = dc * f if need[2] else None
        di2h_w = dgates.t() @ x if need[3] else None
        dh2h_w = dgates.t() @ h if need[5] else None
        db = dgates.sum(0) if any(ctx.has_bias) else None
        di2h_b = db if ctx.has_bias[0] and need[4] else None
        dh2h_b = db if ctx.has_bias[1] and need[6] else None
        return dx, dh, dc_prev, di2h_w, di2h_b, dh2h_w, dh2h_b


def fused_lstm_cell(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b):
    """`(h_new, c_new)` of one MXNet LSTMCell step (gates i, f, c, o; forget bias in the init)."""
    if use_triton(x):
        return lstm_cell(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b)
    return LSTMCellTorchFunction.apply(x, h, c, i2h_w, i2h_b, h2h_w, h2h_b)


def _cell_infer(gates, states):
    """Shape rule of a cell with `states` state inputs after the data, then the i2h and h2h
    weights and biases; `gates` gate blocks of num_hidden each."""
    def infer(p, s):
        nh = p["num_hidden"]
        batch = next((t[0] for t in s[:1 + states] if t is not None and t[0]), 0)
        for i in range(1, 1 + states):
            s[i] = merge("state", s[i], (batch, nh))
        w = 1 + states
        if s[0] is not None:
            s[w] = merge("i2h_weight", s[w], (gates * nh, s[0][1]))
        s[w + 2] = merge("h2h_weight", s[w + 2], (gates * nh, nh))
        for i in (w + 1, w + 3):
            s[i] = merge("bias", s[i], (gates * nh,))
        out = (batch, nh) if batch else None
        return s, [out] * states
    return infer


_WEIGHTS = ["i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias"]


def _flat(x):
    """FullyConnected's flatten: the cell's data as `[B, I]`."""
    return [x[0].reshape(x[0].shape[0], -1)] + list(x[1:])
register(OpDef(
    name="_fused_lstm_cell", params={"num_hidden": Param("int", lower=1)},
    arguments=lambda p: ["data", "h", "c"] + _WEIGHTS, outputs=lambda p: ["out", "state"],
    infer_shape=_cell_infer(4, 2),
    forward=lambda p, x, aux, train: list(fused_lstm_cell(*_flat(x))),
))
register(OpDef(
    name="_fused_gru_cell", params={"num_hidden": Param("int", lower=1)},
    arguments=lambda p: ["data", "h"] + _WEIGHTS, outputs=lambda p: ["out"],
    infer_shape=_cell_infer(3, 1),
    forward=lambda p, x, aux, train: [gru_cell(*_flat(x))],
))
register(OpDef(
    name="_fused_rnn_cell",
    params={"num_hidden": Param("int", lower=1),
            "act_type": Param("str", "tanh", ("tanh", "relu"))},
    arguments=lambda p: ["data", "h"] + _WEIGHTS, outputs=lambda p: ["out"],
    infer_shape=_cell_infer(1, 1),
    forward=lambda p, x, aux, train: [rnn_cell(*_flat(x), activation=p["act_type"])],
))
