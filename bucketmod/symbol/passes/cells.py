"""The cell pass: each unrolled MXNet LSTMCell, GRUCell and RNNCell step becomes one node
(`_fused_lstm_cell`, `_fused_gru_cell`, `_fused_rnn_cell`)."""
from .pattern import Graph, Match, is_op, other_input, replace

_LSTM_ACTS = ("sigmoid", "sigmoid", "tanh", "sigmoid")


def _two_fcs(g, add, gates):
    """The two FullyConnected nodes (i2h, h2h: bias, flatten, `gates` blocks) summed by `add`,
    each read by nothing else; None otherwise."""
    if not is_op(add, "elemwise_add"):
        return None
    fcs = [c for c, _ in add.inputs]
    if fcs[0] is fcs[1] or any(not is_op(fc, "FullyConnected", flatten=True, no_bias=False) or
                               g.sole_user(fc) is not add for fc in fcs):
        return None
    num_hidden = fcs[0].params["num_hidden"]
    if num_hidden % gates or fcs[1].params["num_hidden"] != num_hidden:
        return None
    return fcs


def _cell_inputs(fcs, states):
    return [fcs[0].inputs[0]] + states + [e for fc in fcs for e in fc.inputs[1:3]]


def _match_lstm(g, slc):
    """One MXNet LSTMCell step whose gates `slc` splits, or None."""
    if not is_op(slc, "SliceChannel", num_outputs=4, axis=1, squeeze_axis=False):
        return None
    add = slc.inputs[0][0]
    if slc.inputs[0][1] != 0 or g.sole_user(add) is not slc:
        return None
    fcs = _two_fcs(g, add, 4)
    if fcs is None:
        return None
    acts = []
    for idx, act_type in enumerate(_LSTM_ACTS):
        act = g.sole_user(slc, idx, "Activation")
        if act is None or act.params["act_type"] != act_type or act.inputs[0][0] is not slc:
            return None
        acts.append(act)
    a_i, a_f, a_g, a_o = acts
    m_fc = g.sole_user(a_f, op="elemwise_mul")
    m_ig = g.sole_user(a_i, op="elemwise_mul")
    if m_fc is None or m_ig is None or m_ig is m_fc or g.sole_user(a_g) is not m_ig:
        return None
    c_prev = other_input(m_fc, a_f)
    if c_prev is None or other_input(m_ig, a_i) != (a_g, 0):
        return None
    next_c = g.sole_user(m_fc, op="elemwise_add")
    if next_c is None or g.sole_user(m_ig) is not next_c:
        return None
    m_out = g.sole_user(a_o, op="elemwise_mul")
    if m_out is None:
        return None
    tanh_c = other_input(m_out, a_o)
    if tanh_c is None or not is_op(tanh_c[0], "Activation", act_type="tanh") or \
            tanh_c[0].inputs[0] != (next_c, 0) or g.sole_user(tanh_c[0]) is not m_out:
        return None
    return Match("_fused_lstm_cell", {"num_hidden": fcs[0].params["num_hidden"] // 4},
                  _cell_inputs(fcs, [fcs[1].inputs[0], c_prev]), [(m_out, 0), (next_c, 0)],
                  fcs + [add, slc, m_fc, m_ig, tanh_c[0]] + acts)


def _match_gru(g, out):
    """One MXNet GRUCell step ending in `out` = (1 - z) * n + z * h, or None."""
    if not is_op(out, "elemwise_add"):
        return None
    m_n, m_h = (c for c, _ in out.inputs)
    if not (is_op(m_n, "elemwise_mul") and is_op(m_h, "elemwise_mul")) or m_n is m_h or \
            g.sole_user(m_n) is not out or g.sole_user(m_h) is not out:
        return None
    (one_minus, _), (a_n, _) = m_n.inputs
    (a_z, _), h_prev = m_h.inputs
    if not (is_op(one_minus, "_rminus_scalar", scalar=1.0) and
            is_op(a_n, "Activation", act_type="tanh") and
            is_op(a_z, "Activation", act_type="sigmoid")) or one_minus.inputs[0][0] is not a_z:
        return None
    if {id(u) for u in g.users[(id(a_z), 0)]} != {id(one_minus), id(m_h)} or \
            (id(a_z), 0) in g.heads or g.sole_user(one_minus) is not m_n or \
            g.sole_user(a_n) is not m_n:
        return None
    add_n = a_n.inputs[0][0]
    if not is_op(add_n, "elemwise_add") or g.sole_user(add_n) is not a_n:
        return None
    (slc_i, i_idx), (m_r, _) = add_n.inputs
    add_z = a_z.inputs[0][0]
    if not (is_op(m_r, "elemwise_mul") and is_op(add_z, "elemwise_add")) or \
            g.sole_user(m_r) is not add_n or g.sole_user(add_z) is not a_z:
        return None
    (a_r, _), (slc_h, h_idx) = m_r.inputs
    if not is_op(a_r, "Activation", act_type="sigmoid") or g.sole_user(a_r) is not m_r:
        return None
    add_r = a_r.inputs[0][0]
    if not is_op(add_r, "elemwise_add") or g.sole_user(add_r) is not a_r:
        return None
    slices = (slc_i, slc_h)
    if (i_idx, h_idx) != (2, 2) or add_r.inputs != [(slc_i, 0), (slc_h, 0)] or \
            add_z.inputs != [(slc_i, 1), (slc_h, 1)] or any(
                not is_op(s, "SliceChannel", num_outputs=3, axis=1, squeeze_axis=False)
                for s in slices):
        return None
    fcs = [s.inputs[0][0] for s in slices]
    if any(s.inputs[0][1] != 0 or g.sole_user(fc) is not s for s, fc in zip(slices, fcs)):
        return None
    if any(not is_op(fc, "FullyConnected", flatten=True, no_bias=False) for fc in fcs) or \
            fcs[0].params["num_hidden"] != fcs[1].params["num_hidden"] or \
            fcs[0].params["num_hidden"] % 3 or fcs[1].inputs[0] != h_prev:
        return None
    return Match("_fused_gru_cell", {"num_hidden": fcs[0].params["num_hidden"] // 3},
                  _cell_inputs(fcs, [h_prev]), [(out, 0)],
                  fcs + list(slices) + [add_r, a_r, add_z, a_z, m_r, add_n, a_n, one_minus,
                                        m_n, m_h])


def _match_rnn(g, act):
    """One MXNet RNNCell step `act(i2h + h2h)` with act tanh or relu, or None."""
    if not is_op(act, "Activation") or act.params["act_type"] not in ("tanh", "relu"):
        return None
    add = act.inputs[0][0]
    if g.sole_user(add) is not act:
        return None
    fcs = _two_fcs(g, add, 1)
    if fcs is None:
        return None
    return Match("_fused_rnn_cell", {"num_hidden": fcs[0].params["num_hidden"],
                                      "act_type": act.params["act_type"]},
                  _cell_inputs(fcs, [fcs[1].inputs[0]]), [(act, 0)], fcs + [add])


MATCHERS = (_match_lstm, _match_gru, _match_rnn)


def fuse_cells(heads):
    """Replace every unrolled MXNet LSTMCell, GRUCell and RNNCell step by one fused node."""
    g = Graph(heads)
    matches = [m for node in g.nodes for m in (matcher(g, node) for matcher in MATCHERS)
               if m is not None]
    return replace(g, heads, matches)
