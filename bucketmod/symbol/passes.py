"""Graph rewrites applied when an executor binds: patterns replaced by one fused operator.

A pass takes the head entries of a graph and returns head entries of an equivalent graph. It
never mutates the nodes it was given (a Symbol may be bound many times); the variables are
shared, the rewritten operator nodes are new.
"""
from collections import defaultdict

from ..ops import registry
from .graph import Node, topo_order

_LSTM_ACTS = ("sigmoid", "sigmoid", "tanh", "sigmoid")


class _Graph:
    def __init__(self, heads):
        self.nodes = topo_order(heads)
        self.heads = {(id(n), i) for n, i in heads}
        self.users = defaultdict(list)
        for node in self.nodes:
            for child, idx in node.inputs:
                self.users[(id(child), idx)].append(node)

    def sole_user(self, node, idx=0, op=None):
        """The one node that reads `node`'s output `idx` (None if several, none, or a head)."""
        users = self.users[(id(node), idx)]
        if len(users) != 1 or (id(node), idx) in self.heads:
            return None
        if op is not None and not _is(users[0], op):
            return None
        return users[0]


def _is(node, op_name, **params):
    return (node.op is not None and node.op.name == op_name
            and all(node.params.get(k) == v for k, v in params.items()))


def _other(node, entry_node):
    """The input of a binary node that is not `entry_node` (None if neither/both are)."""
    (a, ia), (b, ib) = node.inputs
    if a is entry_node and b is not entry_node:
        return (b, ib)
    if b is entry_node and a is not entry_node:
        return (a, ia)
    return None


def _match_lstm(g, slc):
    """The entries of one MXNet LSTMCell step whose gates are split by `slc`, or None."""
    if not _is(slc, "SliceChannel", num_outputs=4, axis=1, squeeze_axis=False):
        return None
    add = slc.inputs[0][0]
    if slc.inputs[0][1] != 0 or not _is(add, "elemwise_add") or g.sole_user(add) is not slc:
        return None
    fcs = [c for c, _ in add.inputs]
    if any(not _is(fc, "FullyConnected", flatten=True, no_bias=False) or
           g.sole_user(fc) is not add for fc in fcs) or fcs[0] is fcs[1]:
        return None
    num_hidden = fcs[0].params["num_hidden"]
    if num_hidden % 4 or fcs[1].params["num_hidden"] != num_hidden:
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
    c_prev = _other(m_fc, a_f)
    if c_prev is None or _other(m_ig, a_i) != (a_g, 0):
        return None
    next_c = g.sole_user(m_fc, op="elemwise_add")
    if next_c is None or g.sole_user(m_ig) is not next_c:
        return None
    m_out = g.sole_user(a_o, op="elemwise_mul")
    if m_out is None:
        return None
    tanh_c = _other(m_out, a_o)
    if tanh_c is None or not _is(tanh_c[0], "Activation", act_type="tanh") or \
            tanh_c[0].inputs[0] != (next_c, 0) or g.sole_user(tanh_c[0]) is not m_out:
        return None
    return {"x": fcs[0].inputs[0], "h": fcs[1].inputs[0], "c": c_prev, "fcs": fcs,
            "num_hidden": num_hidden // 4, "next_c": next_c, "next_h": m_out,
            "internal": fcs + [add, slc, m_fc, m_ig, tanh_c[0]] + acts}


def fuse_lstm_cells(heads):
    """Replace every unrolled MXNet LSTMCell step by `_fused_lstm_cell` (outputs: h, c)."""
    g = _Graph(heads)
    matches = [m for m in (_match_lstm(g, n) for n in g.nodes) if m is not None]
    if not matches:
        return heads
    fused_op = registry.get("_fused_lstm_cell")
    produced_by, internal = {}, set()
    for m in matches:
        produced_by[id(m["next_h"])] = (m, 0)
        produced_by[id(m["next_c"])] = (m, 1)
        internal.update(id(n) for n in m["internal"])
    copies, fused = {}, {}

    def entry(e):
        node, idx = e
        if id(node) in produced_by:
            m, out = produced_by[id(node)]
            return (fused[id(m["next_h"])], out)
        return (copies[id(node)], idx)

    for node in g.nodes:
        if node.is_variable:
            copies[id(node)] = node
        elif id(node) in internal:
            continue
        elif id(node) in produced_by:
            m, _ = produced_by[id(node)]
            if id(m["next_h"]) in fused:
                continue
            weights = [entry(e) for fc in m["fcs"] for e in fc.inputs[1:3]]
            inputs = [entry(m["x"]), entry(m["h"]), entry(m["c"])] + weights
            fused[id(m["next_h"])] = Node.derived(
                fused_op, m["next_h"].name + "_fused", {"num_hidden": m["num_hidden"]}, inputs)
        else:
            copies[id(node)] = node.with_inputs([entry(e) for e in node.inputs])
    return [entry(e) for e in heads]


PASSES = (fuse_lstm_cells,)


def optimize(heads):
    for rewrite in PASSES:
        heads = rewrite(heads)
    return heads
