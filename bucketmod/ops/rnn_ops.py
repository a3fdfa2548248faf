"""Operators the `mx.rnn` cells build graphs with: `_zeros`/`_ones` (begin states), `reverse`,
`slice_axis`, `SequenceReverse`/`SequenceMask`/`SequenceLast`, and the fused `RNN` operator with
MXNet's packed parameter layout."""
import torch
import torch.nn.functional as F

from ..base import MXNetError
from ..context import current_context
from ..dtype import to_torch_dtype
from .gru import gru_sequence
from .lstm import lstm_sequence
from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch, merge
from .vanilla_rnn import vanilla_rnn_sequence


# -- constant sources -------------------------------------------------------------------------
def _fill_infer(p, s):
    return s, [p["shape"] if p["shape"] else None]


def _fill_forward(value):
    def forward(p, x, aux, train):
        shape = p.get("_bound_shape", p["shape"])
        if any(d == 0 for d in shape):
            raise ValueError(f"constant of shape {p['shape']}: a dimension is still unknown "
                             f"(0); give the shape or bind so that it can be inferred")
        device = p.get("_device") or current_context().torch_device
        return [torch.full(shape, value, dtype=to_torch_dtype(p["dtype"]), device=device)]
    return forward


def _fill_bind(p, out_shapes, device):
    """The inferred shape (a begin state's batch axis comes from its consumers) and device."""
    shape = out_shapes[0] if out_shapes[0] is not None else p["shape"]
    return dict(p, _bound_shape=tuple(shape), _device=device)


_FILL_PARAMS = {"shape": Param("shape", ()), "ctx": Param("str", ""),
                "dtype": Param("dtype", "float32")}
for _name, _value in (("_zeros", 0.0), ("_ones", 1.0)):
    register(OpDef(name=_name, params=_FILL_PARAMS, arguments=lambda p: [],
                   infer_shape=_fill_infer, forward=_fill_forward(_value),
                   bind_params=_fill_bind, infer_type=lambda p, t: ([], [p["dtype"]]),
                   extra={"constant": True}))


# -- reversal and slicing along an axis -------------------------------------------------------
def _axes_of(p, ndim):
    return [a % ndim for a in p["axis"]]


register(OpDef(
    name="reverse", aliases=("flip",), params={"axis": Param("shape")},
    infer_shape=lambda p, s: (s, [s[0]]),
    forward=lambda p, x, aux, train: [torch.flip(x[0], _axes_of(p, x[0].dim()))],
))


def _slice_bounds(p, n):
    begin = p["begin"] % n if p["begin"] < 0 else p["begin"]
    end = n if p["end"] is None else (p["end"] % n if p["end"] < 0 else min(p["end"], n))
    if not 0 <= begin < end <= n:
        raise ShapeMismatch("data", f"an axis {p['axis']} of which [{p['begin']}, {p['end']}) "
                            f"is a non-empty slice", n)
    return begin, end


def _slice_axis_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    axis = p["axis"] % len(d)
    begin, end = _slice_bounds(p, d[axis])
    out = list(d)
    out[axis] = end - begin
    return s, [tuple(out)]


def _slice_axis_forward(p, x, aux, train):
    data = x[0]
    axis = p["axis"] % data.dim()
    begin, end = _slice_bounds(p, data.shape[axis])
    return [data.narrow(axis, begin, end - begin)]


register(OpDef(
    name="slice_axis",
    params={"axis": Param("int"), "begin": Param("int"), "end": Param("int_or_none")},
    infer_shape=_slice_axis_infer, forward=_slice_axis_forward,
))


# -- Sequence* operators: [T, N, ...] data with optional per-sample lengths ----------------------
_SEQ_PARAMS = {"use_sequence_length": Param("bool", False), "axis": Param("int", 0)}


def _seq_arguments(p):
    return ["data", "sequence_length"] if p["use_sequence_length"] else ["data"]


def _seq_lengths(p, x):
    """Lengths as a long tensor `[N]`, and the data moved to time-major `[T, N, ...]`."""
    data = x[0] if p["axis"] == 0 else x[0].transpose(0, 1)
    if p["use_sequence_length"]:
        lengths = x[1].long()
    else:
        lengths = torch.full((data.shape[1],), data.shape[0], dtype=torch.long)
    return data, lengths.to(data.device)


def _time_mask(lengths, steps, like):
    mask = torch.arange(steps, device=like.device)[:, None] < lengths[None, :]
    return mask.reshape(mask.shape + (1,) * (like.dim() - 2))


def _seq_infer_same(p, s):
    d = s[0]
    if d is not None and p["use_sequence_length"]:
        s[1] = merge("sequence_length", s[1], (d[1 - p["axis"]],))
    return s, [d]


def _seq_mask_forward(p, x, aux, train):
    data, lengths = _seq_lengths(p, x)
    out = torch.where(_time_mask(lengths, data.shape[0], data), data,
                      torch.full_like(data, p["value"]))
    return [out if p["axis"] == 0 else out.transpose(0, 1)]


def _seq_reverse_forward(p, x, aux, train):
    data, lengths = _seq_lengths(p, x)
    steps = data.shape[0]
    t = torch.arange(steps, device=data.device)[:, None]
    src = torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    index = src.reshape(src.shape + (1,) * (data.dim() - 2)).expand_as(data)
    out = torch.gather(data, 0, index)
    return [out if p["axis"] == 0 else out.transpose(0, 1)]


def _seq_last_infer(p, s):
    s, _ = _seq_infer_same(p, s)
    d = s[0]
    return s, [None if d is None else tuple(x for i, x in enumerate(d) if i != p["axis"])]


def _seq_last_forward(p, x, aux, train):
    data, lengths = _seq_lengths(p, x)
    last = (lengths - 1).clamp(min=0)
    index = last.reshape((1, -1) + (1,) * (data.dim() - 2)).expand((1,) + data.shape[1:])
    return [torch.gather(data, 0, index).squeeze(0)]


register(OpDef(name="SequenceMask", params={"use_sequence_length": Param("bool", False),
                                            "value": Param("float", 0.0),
                                            "axis": Param("int", 0)},
               arguments=_seq_arguments, inputs=("data", "sequence_length"),
               infer_shape=_seq_infer_same,
               forward=_seq_mask_forward))
register(OpDef(name="SequenceReverse", params=dict(_SEQ_PARAMS), arguments=_seq_arguments,
               inputs=("data", "sequence_length"),
               infer_shape=_seq_infer_same, forward=_seq_reverse_forward))
register(OpDef(name="SequenceLast", params=dict(_SEQ_PARAMS), arguments=_seq_arguments,
               inputs=("data", "sequence_length"),
               infer_shape=_seq_last_infer, forward=_seq_last_forward))


# -- the fused RNN operator -------------------------------------------------------------------
GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def rnn_param_size(mode, num_layers, input_size, state_size, bidirectional):
    """Length of the packed `parameters` vector of MXNet's RNN operator."""
    g, h, d = GATES[mode], state_size, 2 if bidirectional else 1
    first = g * h * (input_size + h + 2)
    rest = g * h * (d * h + h + 2)
    return d * (first + (num_layers - 1) * rest)


def unpack_rnn_params(flat, mode, num_layers, input_size, state_size, bidirectional):
    """Views into the packed vector: a list over layers and directions of
    `(i2h_weight [G*H, in], h2h_weight [G*H, H], i2h_bias [G*H], h2h_bias [G*H])`.

    MXNet's layout: every weight first (per layer, per direction: i2h then h2h, gates stacked
    in the order i, f, c, o for LSTM and r, z, n for GRU), then every bias in the same order.
    """
    g, h, d = GATES[mode], state_size, 2 if bidirectional else 1
    pos, weights = 0, []
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else d * h
        for _ in range(d):
            w_i = flat[pos:pos + g * h * in_size].view(g * h, in_size)
            pos += g * h * in_size
            w_h = flat[pos:pos + g * h * h].view(g * h, h)
            pos += g * h * h
            weights.append((w_i, w_h))
    out = []
    for w_i, w_h in weights:
        b_i = flat[pos:pos + g * h]
        b_h = flat[pos + g * h:pos + 2 * g * h]
        pos += 2 * g * h
        out.append((w_i, w_h, b_i, b_h))
    return out


def _rnn_arguments(p):
    names = ["data", "parameters", "state"]
    if p["mode"] == "lstm":
        names.append("state_cell")
    if p["use_sequence_length"]:
        names.append("sequence_length")
    return names


def _rnn_outputs(p):
    if not p["state_outputs"]:
        return ["output"]
    if p["mode"] == "lstm":
        return ["output", "state_output", "statecell_output"]
    return ["output", "state_output"]


def _check_rnn_params(p):
    if p["projection_size"] is not None:
        raise MXNetError("RNN: projection_size is not supported by bucketmod's RNN operator "
                         f"(got projection_size={p['projection_size']}); leave it None")
    if (p["lstm_state_clip_min"] is None) != (p["lstm_state_clip_max"] is None):
        raise MXNetError("RNN: lstm_state_clip_min and lstm_state_clip_max must be given "
                         f"together, got min={p['lstm_state_clip_min']}, "
                         f"max={p['lstm_state_clip_max']}")


def _rnn_infer(p, s):
    _check_rnn_params(p)
    d = s[0]
    if d is None:
        return s, [None] * len(_rnn_outputs(p))
    if len(d) != 3:
        raise ShapeMismatch("data", "3-d (seq_length, batch, input_size)", d)
    steps, batch, in_size = d
    dirs = 2 if p["bidirectional"] else 1
    h = p["state_size"]
    state = (dirs * p["num_layers"], batch, h)
    s[1] = merge("parameters", s[1], (rnn_param_size(p["mode"], p["num_layers"], in_size, h,
                                                     p["bidirectional"]),))
    s[2] = merge("state", s[2], state)
    n = 3
    if p["mode"] == "lstm":
        s[3] = merge("state_cell", s[3], state)
        n = 4
    if p["use_sequence_length"]:
        s[n] = merge("sequence_length", s[n], (batch,))
    outs = [(steps, batch, dirs * h)]
    if p["state_outputs"]:
        outs += [state] * (2 if p["mode"] == "lstm" else 1)
    return s, outs


def _run_direction(mode, x, h, c, weights, lengths, clip):
    """One layer in one direction over `x` `[T, N, in]` -> `(out, h_n, c_n)` through the one
    sequence functional of each cell (ops/lstm.py, gru.py, vanilla_rnn.py)."""
    w_i, w_h, b_i, b_h = weights
    if mode == "lstm":
        return lstm_sequence(x, h, c, w_i, b_i, w_h, b_h, seq_lens=lengths, state_clip=clip)
    if mode == "gru":
        return (*gru_sequence(x, h, w_i, b_i, w_h, b_h, seq_lens=lengths), None)
    return (*vanilla_rnn_sequence(x, h, w_i, b_i, w_h, b_h, mode[4:], seq_lens=lengths), None)


def _reverse_within(x, lengths):
    """Each sample's first `length` steps reversed; padding stays where it is (all steps
    reversed without lengths)."""
    if lengths is None:
        return torch.flip(x, [0])
    t = torch.arange(x.shape[0], device=x.device)[:, None]
    src = torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return torch.gather(x, 0, src[:, :, None].expand_as(x))


def rnn_forward(p, x, aux, train):
    """MXNet's RNN operator. `use_sequence_length` and `lstm_state_clip_*` follow their
    documented (cuDNN) meaning; MXNet 1.9.1's CPU path silently ignores both."""
    _check_rnn_params(p)
    mode, layers, hsize = p["mode"], p["num_layers"], p["state_size"]
    dirs = 2 if p["bidirectional"] else 1
    data = x[0]
    steps, batch, in_size = data.shape
    expected = rnn_param_size(mode, layers, in_size, hsize, p["bidirectional"])
    if x[1].numel() != expected:
        raise MXNetError(f"RNN: parameters has {x[1].numel()} elements, expected {expected} "
                         f"for mode={mode}, num_layers={layers}, input size {in_size}, "
                         f"state_size={hsize}, bidirectional={p['bidirectional']}")
    weights = unpack_rnn_params(x[1].reshape(-1), mode, layers, in_size, hsize,
                                p["bidirectional"])
    state = x[2].expand(dirs * layers, batch, hsize)
    cell = x[3].expand(dirs * layers, batch, hsize) if mode == "lstm" else None
    lengths = x[-1].long() if p["use_sequence_length"] else None
    clip = None
    if p["lstm_state_clip_min"] is not None:
        clip = (p["lstm_state_clip_min"], p["lstm_state_clip_max"], p["lstm_state_clip_nan"])
    h_out, c_out, layer_in = [], [], data
    for layer in range(layers):
        outs = []
        for direction in range(dirs):
            k = layer * dirs + direction
            c0 = cell[k] if cell is not None else None
            seq = _reverse_within(layer_in, lengths) if direction == 1 else layer_in
            out, h_n, c_n = _run_direction(mode, seq, state[k], c0, weights[k], lengths, clip)
            if direction == 1:
                out = _reverse_within(out, lengths)
            outs.append(out)
            h_out.append(h_n)
            c_out.append(c_n)
        layer_in = torch.cat(outs, dim=2) if dirs == 2 else outs[0]
        if train and p["p"] > 0 and layer < layers - 1:
            layer_in = F.dropout(layer_in, p["p"], training=True)
    result = [layer_in]
    if p["state_outputs"]:
        result.append(torch.stack(h_out))
        if mode == "lstm":
            result.append(torch.stack(c_out))
    return result


register(OpDef(
    name="RNN",
    params={"state_size": Param("int", lower=1), "num_layers": Param("int", lower=1),
            "bidirectional": Param("bool", False),
            "mode": Param("str", choices=tuple(GATES)), "p": Param("float", 0.0),
            "state_outputs": Param("bool", False),
            "projection_size": Param("int_or_none", None),
            "lstm_state_clip_min": Param("float_or_none", None),
            "lstm_state_clip_max": Param("float_or_none", None),
            "lstm_state_clip_nan": Param("bool", False),
            "use_sequence_length": Param("bool", False)},
    arguments=_rnn_arguments, outputs=_rnn_outputs,
    inputs=("data", "parameters", "state", "state_cell", "sequence_length"),
    infer_shape=_rnn_infer, forward=rnn_forward,
))
