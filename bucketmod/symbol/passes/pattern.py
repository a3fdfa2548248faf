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
    inputs change, variables are shared. The new graph is built from the heads down, so a new
    node may read entries that come after its first reader in `g`'s order; a match whose
    inputs depend on its own outputs raises MXNetError.
    """
    from ...base import MXNetError
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
    produced_by = {}
    for m in chosen:
        for k, (node, idx) in enumerate(m.outputs):
            produced_by[(id(node), idx)] = (m, k)

    def source(e):
        """(key, match or node, output index) of an old entry in the new graph."""
        node, idx = e
        hit = produced_by.get((id(node), idx))
        if hit is not None:
            return ("m", id(hit[0])), hit[0], hit[1]
        return ("n", id(node)), node, idx

    built, visiting = {}, set()

    def build(key, obj):
        stack = [(key, obj)]
        while stack:
            key, obj = stack[-1]
            if key in built:
                stack.pop()
                continue
            ins = [source(e) for e in obj.inputs] if isinstance(obj, Match) or \
                not obj.is_variable else []
            pending = [(k, o) for k, o, _ in ins if k not in built]
            if pending:
                if key in visiting:
                    raise MXNetError(f"graph rewrite: {obj.name} would read its own output")
                visiting.add(key)
                stack.extend(pending)
                continue
            stack.pop()
            new_ins = [(built[k], i) for k, _, i in ins]
            if isinstance(obj, Match):
                built[key] = Node.derived(registry.get(obj.op), obj.name, obj.params, new_ins)
            else:
                built[key] = obj if obj.is_variable else obj.with_inputs(new_ins)
        return built[key]

    out = []
    for e in heads:
        key, obj, idx = source(e)
        out.append((build(key, obj), idx))
    return out
