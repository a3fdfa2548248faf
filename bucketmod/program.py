"""A bound graph compiled to a flat program: integer slots and pre-bound steps.

At bind every entry `(node, index)` of the graph gets a slot in a list, and every operator node
becomes one step: a callable with its parameters parsed and specialised to the bound shapes,
the slots it reads and the slots it writes. An operator that declares
`extra["skips_unread_outputs"]` also gets `p["_read"]`, which of its outputs anything reads,
and may return None for the others. Running the program is a loop over the steps with
no dictionary, no graph walk and no parsing. A slot is cleared right after its last reader
runs, so intermediate values live no longer than the operators (or autograd) need them.

With `fold_constants`, a source operator that declares `extra["constant"]` (`_zeros`/`_ones`,
an RNN's begin states; `_full`, `_arange`, `_eye`, `_linspace`) runs once at bind and its
tensor is reused by every run, where nothing can write into it: it is not a head (the
caller's to keep) and no reader takes it as an aux input or as an input its operator
`mutates`.

An operator that declares `extra["output_arena"]` gets `p["_arena"]` from the executor's
`OutputArena` (arena.py), where the bound executor has one.
"""
from functools import partial

from . import backend
from .base import MXNetError
from .symbol import graph


class Step:
    """One operator node: `fn(args, aux, is_train) -> outputs` into slots `[start, stop)`."""

    __slots__ = ("node", "fn", "args", "aux", "start", "stop", "dead")

    def __init__(self, node, fn, args, aux, start, stop):
        self.node, self.fn, self.args, self.aux = node, fn, args, aux
        self.start, self.stop = start, stop
        self.dead = ()


class Program:
    """The steps of a graph over slots, with the bound shapes of every entry.

    Args:
        heads: the graph's output entries.
        known_shapes: {variable name: shape} of the bound arrays.
        device: the torch device the executor is bound to; it decides, once, whether the
            operators run their Triton kernels or their torch references.
        shapes: `graph.infer_shapes(heads, known_shapes, partial=True)` where the caller has
            it already.
        fold_constants: run the constant source operators once, here (see the module's doc).
        arena: the executor's `OutputArena`, or None (operators allocate their outputs).
    """

    def __init__(self, heads, known_shapes, device, shapes=None, fold_constants=True,
                 arena=None):
        self.heads = heads
        self.triton = backend.triton_on(device)
        nodes = graph.topo_order(heads)
        if shapes is None:
            shapes = graph.infer_shapes(heads, known_shapes, partial=True)
        read = {(id(c), i) for node in nodes for c, i in node.inputs}
        read.update((id(n), i) for n, i in heads)
        foldable = _foldable(nodes, heads) if fold_constants else set()
        slot = {}
        arena_keys = set()
        self.variables = []
        self.constants = []
        self.steps = []
        for node in nodes:
            start = len(slot)
            for i in range(node.num_outputs):
                slot[(id(node), i)] = start + i
            if node.is_variable:
                self.variables.append((start, node.name))
                continue
            params = node.params
            if node.op.bind_params is not None:
                outs = [shapes.get((id(node), i)) for i in range(node.num_outputs)]
                params = node.op.bind_params(params, outs, device)
            if node.op.extra.get("skips_unread_outputs"):
                params = dict(params, _read=tuple((id(node), i) in read
                                                  for i in range(node.num_outputs)))
            if arena is not None and node.op.extra.get("output_arena"):
                params = dict(params, _arena=arena.for_node(_arena_key(node, arena_keys)))
            if id(node) in foldable:
                outs = node.op.forward(params, [], [], False)
                self.constants.extend(zip(range(start, len(slot)), outs))
                continue
            inputs = [slot[(id(c), i)] for c, i in node.inputs]
            n_args = len(node.arg_names)
            self.steps.append(Step(node, partial(node.op.forward, params), tuple(inputs[:n_args]),
                                   tuple(inputs[n_args:]), start, len(slot)))
        self.num_slots = len(slot)
        self.head_slots = [slot[(id(n), i)] for n, i in heads]
        self.shapes = [shapes.get((id(n), i)) for n, i in heads]
        self._mark_dead()
        self._checked = False

    def _mark_dead(self):
        """Each step clears the slots it read for the last time (never heads or variables)."""
        last = {}
        for k, step in enumerate(self.steps):
            for s in step.args + step.aux:
                last[s] = k
        keep = set(self.head_slots) | {s for s, _ in self.variables} | \
            {s for s, _ in self.constants}
        dead = [[] for _ in self.steps]
        for s, k in last.items():
            if s not in keep:
                dead[k].append(s)
        for step, slots in zip(self.steps, dead):
            step.dead = tuple(slots)

    @property
    def nodes(self):
        """The operator nodes in execution order."""
        return [step.node for step in self.steps]

    def slots(self, variable_values):
        """A fresh slot list with the variables filled from {name: tensor}, and the folded
        constants."""
        values = [None] * self.num_slots
        for s, name in self.variables:
            values[s] = variable_values[name]
        for s, tensor in self.constants:
            values[s] = tensor
        return values

    def run(self, values, is_train, observe=None):
        """Run every step over `values` (from `slots`); returns the head values.

        `observe(step, inputs, outputs)`, when given, sees every operator's tensors (the
        executor's monitor). The first run also checks that each operator returns as many
        outputs as it declares.
        """
        previous = backend.bind(self.triton)
        try:
            return self._run(values, is_train, observe)
        finally:
            backend.bind(previous)

    def _run(self, values, is_train, observe):
        check = not self._checked
        for step in self.steps:
            args = [values[s] for s in step.args]
            aux = [values[s] for s in step.aux]
            outs = step.fn(args, aux, is_train)
            if check and len(outs) != step.stop - step.start:
                raise MXNetError(f"operator {step.node.name} ({step.node.op.name}) returned "
                                 f"{len(outs)} outputs, it declares {step.stop - step.start}")
            values[step.start:step.stop] = outs
            if observe is not None:
                observe(step, args + aux, outs)
            for s in step.dead:
                values[s] = None
        self._checked = True
        return [values[s] for s in self.head_slots]


def _arena_key(node, taken):
    """The node's name, numbered where an earlier node of this graph took it (two outputs must
    never share a buffer; the same node of another bucket's graph gets the same key)."""
    key, n = node.name, 1
    while key in taken:
        key, n = f"{node.name}#{n}", n + 1
    taken.add(key)
    return key


def _foldable(nodes, heads):
    """ids of the constant source nodes whose outputs nothing writes into."""
    written = {id(n) for n, _ in heads}
    for node in nodes:
        n_args = len(node.arg_names) if not node.is_variable else 0
        for k, (child, _) in enumerate(node.inputs):
            if k >= n_args or k in node.op.mutates:
                written.add(id(child))
    return {id(node) for node in nodes
            if not node.is_variable and not node.inputs and node.op.extra.get("constant")
            and id(node) not in written}
