"""Symbolic control-flow cases (mx.sym.contrib.foreach / while_loop / cond), shared by
`make_control_flow.py` (run under MXNet 1.9.1) and tests/ops/test_ops_control_flow.py (run
under bucketmod). Nothing here imports a framework: each case builds its symbol with the `mx`
it is given, inside a fresh name scope so that automatic names agree.

A case is (id, build(mx) -> Symbol, {input name: shape}, options); options: `steps` = (the
output holding the final step counter, the stacked outputs): while_loop's stacked outputs are
compared on the rows of the steps taken (MXNet leaves the rest uninitialised); `scale`
scales the random inputs; `forward_only`: no gradients (bound with grad_req 'null');
`mxnet_wrong`: inputs whose gradient MXNet 1.9.1 gets wrong, not recorded: inputs reaching
the subgraph through an operator output made outside it (MXNet's foreach and cond return
values unrelated to the gradient, even ~1e7 for cond: memory never written; its own autograd
over the unrolled loop disagrees). The test checks those against the graph without control
flow.
"""
import numpy as np


def _foreach_rnn(mx):
    """A body with its own weights (fc) and an outside variable (w). With an outside operator
    output added to h as well, MXNet 1.9.1's foreach gradients disagree with its own autograd
    over the unrolled loop (an MXNet bug), so that combination is left out."""
    data, w = mx.sym.var("data"), mx.sym.var("w")

    def step(x, states):
        h = mx.sym.FullyConnected(x, num_hidden=3, name="fc") + states[0] * w
        return mx.sym.tanh(h), [h * 0.5]

    outs, states = mx.sym.contrib.foreach(step, data, [mx.sym.var("s0")])
    return mx.sym.Group([outs, states[0]])


def _foreach_lists(mx):
    a, b = mx.sym.var("a"), mx.sym.var("b")
    outside = mx.sym.var("c") * 2

    def step(xs, states):
        s1, s2 = states
        o1 = mx.sym.broadcast_mul(xs[0], s1) + xs[1] + outside
        return [o1, s2 * 1.0], [mx.sym.broadcast_add(s1, mx.sym.sum(xs[1])), s2 * xs[0]]

    outs, states = mx.sym.contrib.foreach(step, [a, b], [mx.sym.var("s1"), mx.sym.var("s2")])
    return mx.sym.Group(outs + states)


def _foreach_states_only(mx):
    data = mx.sym.var("data")
    outs, states = mx.sym.contrib.foreach(lambda x, s: ([], [s[0] + x]), data,
                                          [mx.sym.var("acc")])
    return states[0]


def _while_loop(mx):
    i, s, w = mx.sym.var("i"), mx.sym.var("s"), mx.sym.var("w")
    outs, states = mx.sym.contrib.while_loop(
        lambda i, s: i <= 5,
        lambda i, s: ([mx.sym.broadcast_add(s * w, i)], [i + 1, s * w]),
        (i, s), max_iterations=10)
    return mx.sym.Group(outs + states)


def _while_loop_shared(mx):
    """cond and the body both read `w` from outside: it becomes two inputs of the node, which
    MXNet 1.9.1 cannot differentiate (its backward fails to bind), so forward only."""
    i, s, w = mx.sym.var("i"), mx.sym.var("s"), mx.sym.var("w")

    def body(i, s):
        h = mx.sym.tanh(s * w)
        return [h, mx.sym.sum(h)], [i + 1, h + s]

    outs, states = mx.sym.contrib.while_loop(
        lambda i, s: mx.sym.broadcast_lesser(i, mx.sym.sum(w)), body, [i, s],
        max_iterations=4)
    return mx.sym.Group(outs + states)


def _cond(mx):
    a, b = mx.sym.var("a"), mx.sym.var("b")
    pred = mx.sym.sum(a * b) < 5
    out = mx.sym.contrib.cond(pred, lambda: [(a + 5) * (b + 5), a * 2],
                              lambda: [(a - 5) * (b - 5), mx.sym.tanh(a)])
    return mx.sym.Group(out)


def _cond_single(mx):
    a, b = mx.sym.var("a"), mx.sym.var("b")
    c = mx.sym.FullyConnected(a, num_hidden=2, name="cfc")
    return mx.sym.contrib.cond(mx.sym.sum(b) > 0, lambda: c * b, lambda: c - b)


CASES = [
    ("foreach_rnn", _foreach_rnn, {"data": (4, 2, 5), "s0": (2, 3), "fc_weight": (3, 5),
                                   "fc_bias": (3,), "w": (2, 3)}, {}),
    ("foreach_lists", _foreach_lists, {"a": (3, 2), "b": (3, 2), "s1": (2,), "s2": (2,),
                                       "c": (2,)}, {"mxnet_wrong": ["c"]}),
    ("foreach_1d_states_only", _foreach_states_only, {"data": (5,), "acc": (1,)}, {}),
    ("while_loop", _while_loop, {"i": (1,), "s": (2,), "w": (2,)}, {"steps": (1, [0])}),
    ("while_loop_shared", _while_loop_shared,
     {"i": (1,), "s": (2, 3), "w": (2, 3)},
     {"steps": (2, [0, 1]), "forward_only": True}),
    ("cond_then", _cond, {"a": (2, 3), "b": (2, 3)}, {"scale": 0.3}),
    ("cond_else", _cond, {"a": (2, 3), "b": (2, 3)}, {"scale": 3.0}),
    ("cond_single", _cond_single, {"a": (2, 4), "b": (2, 2), "cfc_weight": (2, 4),
                                   "cfc_bias": (2,)},
     {"mxnet_wrong": ["a", "cfc_weight", "cfc_bias"]}),
]


def values(case):
    """The case's input arrays (float32), from its own seed."""
    cid, _, shapes, options = case
    rng = np.random.RandomState(sum(map(ord, cid)))
    out = {k: (rng.uniform(-1, 1, s) * options.get("scale", 1.0)).astype(np.float32)
           for k, s in shapes.items()}
    if cid == "while_loop":
        out.update(i=np.zeros(1, np.float32), s=np.array([1, 2], np.float32),
                   w=np.array([1.5, 0.5], np.float32))
    if cid == "while_loop_shared":
        out["i"] = np.zeros(1, np.float32)
        out["w"] = np.abs(out["w"]) + 0.3
    return out


def build(mx, case):
    """The case's symbol, named as in a fresh process (names and subgraph names from 0)."""
    mx.attribute.AttrScope._subgraph_names.clear()
    with mx.name.NameManager():
        return case[1](mx)
