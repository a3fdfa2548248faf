"""The sequence pass: the unrolled steps of one recurrent layer become one sequence op.

It runs after the cell pass, on its `_fused_<cell>_cell` nodes. A chain is a run of steps of the
same operator and weights where each step reads the previous one's states (h, and c for the
LSTM); it becomes one `_<cell>_sequence` node whose per-step outputs (views of the sequence)
and last states stand in for the steps' outputs. Then, in two more rewrites:

- a sequence whose step inputs are another sequence's steps, in order (a stacked layer), reads
  that sequence's output tensor instead (`input_axis`, no copy);
- `Concat(expand_dims(step_t, axis=a) for t, dim=a)`, the merged output of `unroll`, becomes the
  sequence output itself, in the layout the concatenation asked for;
- an LSTM sequence reading another one's (or a stack's) output tensor, in the same layout and
  with the same hidden size, where nothing else reads the lower layer, joins it in one
  `_lstm_stack` node: one call of ATen's multi-layer LSTM on the CPU.

Data that is `SliceChannel(x, num_outputs=T, axis=0 or 1, squeeze_axis=True)`, as `unroll` splits
its input, is read as `x` directly. Anything else is left as it is: a branching state, a
non-final cell state read outside the chain, a step output that is also a graph head (only the
merge is then skipped), or a chain of one step (which stays a cell node).
"""
import os

from .pattern import Graph, Match, is_op, replace

# cell operator -> (sequence operator, number of states)
SEQUENCE_OPS = {"_fused_lstm_cell": ("_lstm_sequence", 2),
                "_fused_gru_cell": ("_gru_sequence", 1),
                "_fused_rnn_cell": ("_rnn_sequence", 1)}
_LAYOUT_AXIS = {"TNC": 0, "NTC": 1}


def _follows(node, prev, states):
    """Whether cell `node` is the step after cell `prev`: same operator, params and weights,
    reading prev's states."""
    return (node.op is prev.op and node.params == prev.params
            and node.inputs[1 + states:] == prev.inputs[1 + states:]
            and all(node.inputs[1 + i] == (prev, i) for i in range(states)))


def _chains(g):
    """Runs of two or more cell steps, each the one step after the previous."""
    cells = [n for n in g.nodes if n.op is not None and n.op.name in SEQUENCE_OPS]
    after, has_prev = {}, set()
    for n in cells:
        states = SEQUENCE_OPS[n.op.name][1]
        nxt = {id(u): u for u in g.users[(id(n), 0)] if _follows(u, n, states)}
        if len(nxt) == 1:
            (succ,) = nxt.values()
            after[id(n)] = succ
            has_prev.add(id(succ))
    chains = []
    for n in cells:
        if id(n) in has_prev:
            continue
        chain = [n]
        while id(chain[-1]) in after:
            chain.append(after[id(chain[-1])])
        if len(chain) > 1:
            chains.append(chain)
    return chains


def _name(chain):
    prefix = os.path.commonprefix([chain[0].name, chain[-1].name])
    return (prefix[:-1] if prefix.endswith("t") else prefix) + "sequence"


def _descendants(g, nodes):
    """Ids of the nodes that read, directly or not, an output of `nodes`."""
    seen, stack = set(), list(nodes)
    while stack:
        node = stack.pop()
        for idx in range(node.num_outputs):
            for user in g.users[(id(node), idx)]:
                if id(user) not in seen:
                    seen.add(id(user))
                    stack.append(user)
    return seen


def _sequence_match(g, chain):
    """The sequence op of a chain, or None when a step's input depends on the chain's own
    outputs (a decoder feeding its output back)."""
    first, T = chain[0], len(chain)
    after = _descendants(g, chain)
    if any(id(n.inputs[0][0]) in after for n in chain):
        return None
    op, states = SEQUENCE_OPS[first.op.name]
    xs = [n.inputs[0] for n in chain]
    src = xs[0][0]
    if is_op(src, "SliceChannel", num_outputs=T, squeeze_axis=True) and \
            src.params["axis"] in (0, 1) and xs == [(src, t) for t in range(T)]:
        data, axis = [src.inputs[0]], src.params["axis"]
    else:
        data, axis = xs, -1
    params = dict(first.params, seq_len=T, layout="NTC" if axis == 1 else "TNC",
                  input_axis=axis)
    outputs = [(n, 0) for n in chain] + [(chain[-1], 1)] * (states - 1)
    return Match(op, params, data + first.inputs[1:], outputs, [], name=_name(chain))


def _sequences(g):
    ops = {op for op, _ in SEQUENCE_OPS.values()}
    return [n for n in g.nodes if n.op is not None and n.op.name in ops]


def _stacked_match(node):
    """A sequence reading another one's steps in order -> one reading its output tensor."""
    T = node.params["seq_len"]
    if node.params["input_axis"] >= 0:
        return None
    src = node.inputs[0][0]
    if src.op is None or src.op.name not in {op for op, _ in SEQUENCE_OPS.values()} or \
            src.params["seq_len"] != T or node.inputs[:T] != [(src, t) for t in range(T)]:
        return None
    layout = src.params["layout"]
    params = dict(node.params, input_axis=_LAYOUT_AXIS[layout], layout=layout)
    return Match(node.op.name, params, [(src, src.num_outputs - 1)] + node.inputs[T:],
                 [(node, k) for k in range(node.num_outputs)], [], name=node.name)


def _read_stacked_outputs(heads):
    """`_stacked_match` from the bottom layer up: a layer whose source is rewritten in the same
    round would read it in its old layout, so it waits for the next round."""
    while True:
        g = Graph(heads)
        matches = [m for m in map(_stacked_match, _sequences(g)) if m is not None]
        rewritten = {id(m.outputs[0][0]) for m in matches}
        matches = [m for m in matches if id(m.inputs[0][0]) not in rewritten]
        if not matches:
            return heads
        heads = replace(g, heads, matches)


def _merged_match(g, node):
    """`Concat(expand_dims(step_t, axis=a), ..., dim=a)` -> the sequence output in layout a."""
    T = node.params["seq_len"]
    expands, concat = [], None
    for t in range(T):
        users = [u for u in g.users[(id(node), t)] if is_op(u, "expand_dims")]
        if len(users) != 1:
            return None
        concat_t = g.sole_user(users[0], op="Concat")
        if concat_t is None or (concat is not None and concat_t is not concat):
            return None
        expands.append(users[0])
        concat = concat_t
    axis = expands[0].params["axis"]
    if axis not in (0, 1) or concat.params["dim"] != axis or \
            concat.inputs != [(e, 0) for e in expands] or \
            any(e.params["axis"] != axis for e in expands):
        return None
    params = dict(node.params, layout="NTC" if axis == 1 else "TNC")
    seq_index = node.num_outputs - 1
    return Match(node.op.name, params, node.inputs,
                 [(node, k) for k in range(seq_index)] + [(concat, 0)], expands,
                 name=node.name)


def _lstm_stack_match(node):
    """An LSTM sequence reading a lower LSTM sequence's or stack's output tensor -> one stack
    (`replace` drops it where anything else reads the lower node)."""
    if node.op.name != "_lstm_sequence" or node.params["input_axis"] < 0:
        return None
    low, idx = node.inputs[0]
    if low.op is None or low.op.name not in ("_lstm_sequence", "_lstm_stack") or \
            idx != low.num_outputs - 1 or low.params["input_axis"] < 0 or any(
                low.params[k] != node.params[k] for k in ("seq_len", "layout", "num_hidden")):
        return None
    layers = low.params.get("num_layers", 1)
    params = dict(node.params, input_axis=low.params["input_axis"], num_layers=layers + 1)
    return Match("_lstm_stack", params, low.inputs + node.inputs[1:],
                 [(node, k) for k in range(node.num_outputs)], [low], name=node.name + "_stack")


def _lstm_stacks(heads):
    """Stack LSTM layers pairwise, from the bottom up (a layer whose lower layer joins a stack
    in this round joins that stack in the next), until no two are left to join."""
    while True:
        g = Graph(heads)
        new = replace(g, heads, [m for m in map(_lstm_stack_match, _sequences(g))
                                 if m is not None])
        if new is heads:
            return heads
        heads = new


def fuse_sequences(heads):
    """Replace each chain of fused cell steps by one sequence op (see the module doc)."""
    g = Graph(heads)
    heads = replace(g, heads, [m for m in (_sequence_match(g, c) for c in _chains(g))
                               if m is not None])
    heads = _read_stacked_outputs(heads)
    g = Graph(heads)
    heads = replace(g, heads, [m for m in (_merged_match(g, n) for n in _sequences(g))
                               if m is not None])
    return _lstm_stacks(heads)
