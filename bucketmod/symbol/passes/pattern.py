"""What passes match graphs with: the users of every entry, and small node predicates."""
from collections import defaultdict

from ..graph import topo_order


class Graph:
    """The nodes of a graph in topological order, with the nodes reading each entry."""

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
        if op is not None and not is_op(users[0], op):
            return None
        return users[0]


def is_op(node, op_name, **params):
    return (node.op is not None and node.op.name == op_name
            and all(node.params.get(k) == v for k, v in params.items()))


def other_input(node, entry_node):
    """The input of a binary node that is not `entry_node` (None if neither/both are)."""
    (a, ia), (b, ib) = node.inputs
    if a is entry_node and b is not entry_node:
        return (b, ib)
    if b is entry_node and a is not entry_node:
        return (a, ia)
    return None


class Match:
    """One rewrite: a new node of operator `op` with `params` reading the entries `inputs`;
    entry `outputs[k]` of the old graph becomes its output k, and the `internal` nodes go.

    Every reader of an internal node must itself be internal or one of the output entries'
    nodes; `replace` checks this and drops a match that breaks it.
    """

    def __init__(self, op, params, inputs, outputs, internal, name=None):
        self.op, self.params, self.inputs = op, params, inputs
        self.outputs, self.internal = outputs, internal
        self.name = name or outputs[0][0].name + "_fused"


def _closed(g, m):
    """Whether nothing outside the match reads a node that the match removes."""
    removed = {id(n) for n in m.internal} | {id(n) for n, _ in m.outputs}
    kept = {(id(n), i) for n, i in m.outputs}
    for node in list(m.internal) + [n for n, _ in m.outputs]:
        for idx in range(node.num_outputs):
            if (id(node), idx) in kept:
                continue
            if (id(node), idx) in g.heads or any(id(u) not in removed
                                                 for u in g.users[(id(node), idx)]):
                return False
    return True


def replace(g, heads, matches):
    """Head entries of the graph with each match's nodes replaced by its one new node.

    Matches that overlap an earlier one, or whose removed nodes are read from outside, are
    skipped. The nodes of `g` are never mutated: unchanged operators are copied when their
    inputs change, variables are shared.
    """
    from ...ops import registry
    from ..graph import Node
    chosen, claimed = [], set()
    for m in matches:
        nodes = {id(n) for n in m.internal} | {id(n) for n, _ in m.outputs}
        if nodes & claimed or not _closed(g, m):
            continue
        claimed |= nodes
        chosen.append(m)
    if not chosen:
        return heads
    produced_by, internal = {}, set()
    for m in chosen:
        for k, (node, idx) in enumerate(m.outputs):
            produced_by[(id(node), idx)] = (m, k)
        internal.update(id(n) for n in m.internal)
        internal.update(id(n) for n, _ in m.outputs)
    copies, fused = {}, {}

    def entry(e):
        node, idx = e
        if (id(node), idx) in produced_by:
            m, k = produced_by[(id(node), idx)]
            if id(m) not in fused:
                fused[id(m)] = Node.derived(registry.get(m.op), m.name, m.params,
                                            [entry(x) for x in m.inputs])
            return (fused[id(m)], k)
        return (copies[id(node)], idx)

    for node in g.nodes:
        if node.is_variable:
            copies[id(node)] = node
        elif id(node) not in internal:
            copies[id(node)] = node.with_inputs([entry(e) for e in node.inputs])
    return [entry(e) for e in heads]
