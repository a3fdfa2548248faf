"""Graphs built from `mx.rnn` cells, written against MXNet's API so that the same function
builds the MXNet 1.9.1 graph (make_rnn_cell.py) and the bucketmod one (tests/rnn).

Each case returns `(symbol, input_shapes, deterministic)`; `deterministic` cases are also
compared in training mode (gradients), the others only in inference mode.
"""
import warnings

B, T, C, H = 3, 4, 5, 6


def _data(mx):
    return mx.sym.Variable("data")


def rnn_tanh(mx):
    out, _ = mx.rnn.RNNCell(H).unroll(T, _data(mx), layout="NTC", merge_outputs=True)
    return out, {"data": (B, T, C)}, True


def rnn_relu_list_tnc(mx):
    cell = mx.rnn.RNNCell(H, activation="relu", prefix="relu_")
    outs, states = cell.unroll(T, _data(mx), layout="TNC", merge_outputs=False)
    assert len(states) == 1  # the state is the last output, which MXNet would not head twice
    return mx.sym.Group(outs), {"data": (T, B, C)}, True


def lstm(mx):
    out, states = mx.rnn.LSTMCell(H, forget_bias=2.0).unroll(T, _data(mx), merge_outputs=True)
    return mx.sym.Group([out] + states), {"data": (B, T, C)}, True


def gru(mx):
    out, states = mx.rnn.GRUCell(H).unroll(T, _data(mx), merge_outputs=True)
    return mx.sym.Group([out] + states), {"data": (B, T, C)}, True


def lstm_lm(mx):
    """MXNet's lstm_bucketing.py sym_gen, with small sizes."""
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    embed = mx.sym.Embedding(data=data, input_dim=11, output_dim=C, name="embed")
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=H, prefix="lstm_l%d_" % i))
    stack.reset()
    outputs, _ = stack.unroll(T, inputs=embed, merge_outputs=True)
    pred = mx.sym.Reshape(outputs, shape=(-1, H))
    pred = mx.sym.FullyConnected(data=pred, num_hidden=11, name="pred")
    label = mx.sym.Reshape(label, shape=(-1,))
    pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
    return pred, {"data": (B, T), "softmax_label": (B, T)}, True


def bidirectional_merged(mx):
    cell = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(H, prefix="l_"),
                                    mx.rnn.GRUCell(H, prefix="r_"), output_prefix="bi_")
    out, _ = cell.unroll(T, _data(mx), merge_outputs=True)
    return out, {"data": (B, T, C)}, True


def bidirectional_list(mx):
    cell = mx.rnn.BidirectionalCell(mx.rnn.RNNCell(H, prefix="l_"),
                                    mx.rnn.RNNCell(H, prefix="r_"))
    outs, _ = cell.unroll(T, _data(mx), layout="TNC", merge_outputs=False)
    return mx.sym.Group(outs), {"data": (T, B, C)}, True


def _fused(mx, mode, bidirectional, layers, layout="NTC"):
    cell = mx.rnn.FusedRNNCell(H, num_layers=layers, mode=mode, bidirectional=bidirectional,
                               get_next_state=True, prefix="f%s_" % mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, states = cell.unroll(T, _data(mx), layout=layout, merge_outputs=True)
    shape = (B, T, C) if layout == "NTC" else (T, B, C)
    return mx.sym.Group([out] + states), {"data": shape}, True


def fused_lstm_bi(mx):
    return _fused(mx, "lstm", True, 2)


def fused_gru(mx):
    return _fused(mx, "gru", False, 2, layout="TNC")


def fused_rnn_tanh_bi(mx):
    return _fused(mx, "rnn_tanh", True, 1)


def fused_rnn_relu(mx):
    return _fused(mx, "rnn_relu", False, 2)


def unfused_lstm_bi(mx):
    cell = mx.rnn.FusedRNNCell(H, num_layers=2, mode="lstm", bidirectional=True, dropout=0.5,
                               prefix="f_").unfuse()
    out, _ = cell.unroll(T, _data(mx), merge_outputs=True)
    return out, {"data": (B, T, C)}, False


def modifiers(mx):
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.ZoneoutCell(mx.rnn.LSTMCell(H, prefix="z_"), zoneout_outputs=0.3,
                                 zoneout_states=0.2))
    stack.add(mx.rnn.DropoutCell(0.4))
    stack.add(mx.rnn.ResidualCell(mx.rnn.GRUCell(H, prefix="res_")))
    outs, states = stack.unroll(T, _data(mx), merge_outputs=False)
    return mx.sym.Group(outs + states), {"data": (B, T, H)}, False


def residual_merged(mx):
    cell = mx.rnn.ResidualCell(mx.rnn.RNNCell(C, prefix="res_"))
    out, _ = cell.unroll(T, _data(mx), merge_outputs=True)
    return out, {"data": (B, T, C)}, True


def variable_states(mx):
    cell = mx.rnn.LSTMCell(H, prefix="v_")
    begin = cell.begin_state(func=mx.sym.Variable)
    out, states = cell.unroll(T, _data(mx), begin_state=begin, merge_outputs=True)
    return mx.sym.Group([out] + states), {"data": (B, T, C), "v_begin_state_0": (B, H),
                                         "v_begin_state_1": (B, H)}, True


def rnn_op_given_states(mx):
    """The RNN operator itself, its states fed as Variables (so they get gradients too).
    MXNet 1.9.1's CPU RNN ignores use_sequence_length and lstm_state_clip_*; those are
    checked in test_rnn_cell.py against their documented (cuDNN) meaning instead."""
    rnn = mx.sym.RNN(data=_data(mx), state=mx.sym.Variable("h0"), state_size=H, num_layers=2,
                     bidirectional=True, mode="gru", state_outputs=True, name="direct")
    return mx.sym.Group(list(rnn)), {"data": (T, B, C)}, True


def sequence_ops(mx):
    data, lengths = _data(mx), mx.sym.Variable("sequence_length")
    parts = [mx.sym.SequenceReverse(data, lengths, use_sequence_length=True),
             mx.sym.SequenceMask(data, lengths, use_sequence_length=True, value=-2.0),
             mx.sym.SequenceLast(data, lengths, use_sequence_length=True),
             mx.sym.SequenceLast(data), mx.sym.reverse(data, axis=(0, 2)),
             mx.sym.slice_axis(data, axis=2, begin=1, end=-1)]
    return mx.sym.Group(parts), {"data": (T, B, C)}, True


CASES = [rnn_tanh, rnn_relu_list_tnc, lstm, gru, lstm_lm, bidirectional_merged,
         bidirectional_list, fused_lstm_bi, fused_gru, fused_rnn_tanh_bi, fused_rnn_relu,
         unfused_lstm_bi, modifiers, residual_merged, variable_states, rnn_op_given_states,
         sequence_ops]


def random_inputs(symbol, shapes, seed):
    """`(values, token_names)`: integer tokens for the LM's data/label (which take no gradient),
    uniform(-1, 1) for every other argument."""
    import numpy as np
    rng = np.random.RandomState(seed)
    arg_shapes, _, _ = symbol.infer_shape(**shapes)
    values, tokens = {}, set()
    for name, shape in zip(symbol.list_arguments(), arg_shapes):
        if name == "softmax_label" or (name == "data" and len(shape) == 2):
            values[name] = rng.randint(0, 11, size=shape).astype("float32")
            tokens.add(name)
        elif name.endswith("sequence_length"):
            values[name] = rng.randint(1, T + 1, size=shape).astype("float32")
            tokens.add(name)
        else:
            values[name] = rng.uniform(-1, 1, size=shape).astype("float32")
    return values, tokens
