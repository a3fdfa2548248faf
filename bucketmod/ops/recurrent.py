"""What the LSTM, GRU and vanilla RNN operators share: the registry entries of a cell step
(`_fused_<cell>_cell`) and of a whole sequence (`_<cell>_sequence`), and the CPU/CUDA choice.

Both are put in the graph by passes (symbol/passes/cells.py, sequences.py) in place of the nodes
MXNet's cells unroll to; their inputs are the data, the begin states and the i2h/h2h weights and
biases, in that order. A sequence op reads its data as one tensor whose time axis is
`input_axis` (0 or 1), or, with `input_axis=-1`, as `seq_len` per-step inputs; it outputs each
step's h (views of the sequence), the last states after h, and the whole sequence in `layout`.
"""
import math

import torch

from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch, merge

WEIGHTS = ["i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias"]


def batch_of(shapes):
    """The batch size of the first `[B, ...]` shape that knows it, else 0."""
    return next((t[0] for t in shapes if t is not None and t[0]), 0)


def time_axis(batch_first):
    return 1 if batch_first else 0


def sequence_outputs(hs, seq_lens, batch_first):
    """`(out, h_T)` from the state sequence of a kernel: out zero on padded steps, h_T the
    state after the last step (a view of hs)."""
    axis = time_axis(batch_first)
    h_last = hs.select(axis, hs.shape[axis] - 1)
    if seq_lens is None:
        return hs, h_last
    steps = torch.arange(hs.shape[axis], device=hs.device)
    valid = steps[:, None] < seq_lens.to(hs.device)[None, :]
    valid = (valid.T if batch_first else valid)[:, :, None]
    return torch.where(valid, hs, torch.zeros((), dtype=hs.dtype, device=hs.device)), h_last


def aten_state(h, dtype):
    """A `[B, H]` state as ATen's RNNs take it: `[1, B, H]` in the data's dtype."""
    return (h if h.dtype == dtype else h.to(dtype)).unsqueeze(0)


def grads_for(ctx, grads):
    """The kernel grads in the forward's input order, None where no grad was asked for."""
    return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad))


def sequence_input(p, data):
    """A sequence op's data tensor (`input_axis` 0 or 1) as `[T, B, I]` or `[B, T, I]` in the
    op's layout, axes after the first two flattened into I."""
    seq = data if data.dim() == 3 else data.reshape(data.shape[0], data.shape[1], -1)
    return seq.transpose(0, 1) if p["input_axis"] != time_axis(p["layout"] == "NTC") else seq


def sequence_op_outputs(p, out, last_states):
    """A sequence op's outputs: each step's h (views of `out`; None where `p["_read"]` says
    no step is read), the other last states, the whole sequence."""
    read = p.get("_read")
    steps = out.unbind(time_axis(p["layout"] == "NTC")) \
        if read is None or any(read[:p["seq_len"]]) else [None] * p["seq_len"]
    return list(steps) + list(last_states) + [out]


def sequence_batch_and_size(p, d):
    """`(batch, input size)` of a sequence op's data tensor shape `d` (`input_axis` 0 or 1)."""
    T = p["seq_len"]
    if len(d) < 2 or d[p["input_axis"]] not in (0, T):
        raise ShapeMismatch("data", f"{T} steps on axis {p['input_axis']} of a 2-d or higher "
                            f"tensor", d)
    return d[1 - p["input_axis"]], _flat_size(d[2:])


def weights_infer(s, w, gates, nh, in_size):
    if in_size is not None:
        s[w] = merge("i2h_weight", s[w], (gates * nh, in_size))
    s[w + 2] = merge("h2h_weight", s[w + 2], (gates * nh, nh))
    for i in (w + 1, w + 3):
        s[i] = merge("bias", s[i], (gates * nh,))


def states_infer(s, first, count, batch, nh):
    for i in range(first, first + count):
        s[i] = merge("state", s[i], (batch, nh))


def _flat_size(shape):
    return math.prod(shape) if all(shape) else None


def register_cell(name, gates, states, step, params=None):
    """`name`: one cell step, `step(p, x, state..., i2h_w, i2h_b, h2h_w, h2h_b)` -> new states."""
    def infer(p, s):
        nh = p["num_hidden"]
        batch = batch_of(s[:1 + states])
        if batch:
            states_infer(s, 1, states, batch, nh)
        in_size = _flat_size(s[0][1:]) if s[0] is not None else None
        weights_infer(s, 1 + states, gates, nh, in_size)
        return s, [(batch, nh) if batch else None] * states

    def forward(p, x, aux, train):
        data = x[0].reshape(x[0].shape[0], -1)
        return list(step(p, data, *x[1:]))

    state_names = ["h", "c"][:states]
    register(OpDef(
        name=name, params=dict({"num_hidden": Param("int", lower=1)}, **(params or {})),
        arguments=lambda p: ["data"] + state_names + WEIGHTS,
        outputs=lambda p: ["out", "state"][:states], infer_shape=infer, forward=forward))


SEQUENCE_PARAMS = {"num_hidden": Param("int", lower=1), "seq_len": Param("int", lower=1),
                   "layout": Param("str", "TNC", ("TNC", "NTC")),
                   "input_axis": Param("int", 0)}


def register_sequence(name, gates, states, run, params=None):
    """`name`: all steps at once, `run(p, x, states, weights, batch_first)` -> `(out, h_T,
    *other last states)` with x `[T, B, I]` or `[B, T, I]` and out in the same layout. The
    data's axes after the first two are flattened into I, as each step's FullyConnected reads
    them (2-d data, one number per step, is I = 1)."""
    def n_data(p):
        return p["seq_len"] if p["input_axis"] < 0 else 1

    def arguments(p):
        data = ([f"data{t}" for t in range(p["seq_len"])] if p["input_axis"] < 0
                else ["data"])
        return data + ["h", "c"][:states] + WEIGHTS

    def outputs(p):
        return [f"step{t}" for t in range(p["seq_len"])] + ["state_cell"][:states - 1] + \
            ["output"]

    def infer(p, s):
        T, nh, n = p["seq_len"], p["num_hidden"], n_data(p)
        batch, in_size = None, None
        if p["input_axis"] < 0:
            batch = batch_of(s[:n])
            known = next((d for d in s[:n] if d is not None), None)
            in_size = _flat_size(known[1:]) if known is not None else None
        elif s[0] is not None:
            batch, in_size = sequence_batch_and_size(p, s[0])
        batch = batch or batch_of(s[n:n + states])
        if batch:
            states_infer(s, n, states, batch, nh)
        weights_infer(s, n + states, gates, nh, in_size)
        if not batch:
            return s, [None] * (T + states)
        seq = (batch, T, nh) if p["layout"] == "NTC" else (T, batch, nh)
        return s, [(batch, nh)] * (T + states - 1) + [seq]

    def forward(p, x, aux, train):
        n, batch_first = n_data(p), p["layout"] == "NTC"
        axis = time_axis(batch_first)
        if p["input_axis"] < 0:
            seq = torch.stack([d.reshape(d.shape[0], -1) for d in x[:n]], dim=axis)
        else:
            seq = sequence_input(p, x[0])
        out, _, *others = run(p, seq, x[n:n + states], x[n + states:], batch_first)
        return sequence_op_outputs(p, out, others)

    register(OpDef(name=name, params=dict(SEQUENCE_PARAMS, **(params or {})),
                   arguments=arguments, outputs=outputs, infer_shape=infer, forward=forward,
                   extra={"skips_unread_outputs": True}))
