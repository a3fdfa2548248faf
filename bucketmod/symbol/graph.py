"""The graph IR under Symbol: nodes, topological order, and shape/type inference.

A node is a variable (`op is None`) or an operator with parsed params and input entries
`(node, output_index)`. Graph passes that rewrite patterns before binding work on these nodes.
"""
import numpy as np

from ..base import MXNetError
from ..dtype import to_numpy_dtype
from ..ops.params import param_to_string
from ..ops.shape_ops import ShapeMismatch, is_known, merge

HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage",
               "profiler_scope")
# MXNet's `__dtype__` attribute holds its type code.
DTYPE_CODES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32,
               5: np.int8, 6: np.int64, 7: np.bool_}
DTYPE_TO_CODE = {np.dtype(v): k for k, v in DTYPE_CODES.items()}


class Node:
    __slots__ = ("op", "name", "attrs", "raw_params", "params", "inputs", "_names_cache")

    def __init__(self, op, name, attrs=None, raw_params=None, inputs=(), subgraphs=()):
        self.op = op
        self.name = name
        self.attrs = dict(attrs or {})
        self.raw_params = {k: param_to_string(v) for k, v in (raw_params or {}).items()}
        self.params = op.parse(self.raw_params) if op is not None else {}
        if subgraphs:
            self.params = dict(self.params, subgraphs=tuple(subgraphs))
        self.inputs = list(inputs)
        self._names_cache = None

    @property
    def subgraphs(self):
        """The graphs a control-flow operator runs (`_foreach`'s body...): each a list of head
        entries; kept in `params` so that every operator function sees them."""
        return () if self.op is None else self.params.get("subgraphs", ())

    @classmethod
    def derived(cls, op, name, params, inputs):
        """An operator node made by a graph pass (params already typed, no user attrs)."""
        node = cls.__new__(cls)
        node.op, node.name, node.attrs, node.inputs = op, name, {}, list(inputs)
        node._names_cache = None
        node.raw_params = {k: str(v) for k, v in params.items()}
        node.params = op.parse(node.raw_params)
        return node

    def with_inputs(self, inputs):
        """A copy of this node reading `inputs` (params and attrs shared, not re-parsed)."""
        node = Node.__new__(Node)
        node.op, node.name, node.attrs = self.op, self.name, self.attrs
        node.raw_params, node.params, node.inputs = self.raw_params, self.params, list(inputs)
        node._names_cache = self._names_cache
        return node

    @property
    def is_variable(self):
        return self.op is None

    @property
    def arg_names(self):
        return list(self._names()[0])

    @property
    def aux_names(self):
        return list(self._names()[1])

    @property
    def output_names(self):
        return list(self._names()[2])

    def _names(self):
        """(argument, aux, output) names as tuples, computed once per params, so that labelling
        every input or output of a node with many stays linear."""
        if self.op is None:
            return (), (), ("output",)
        cached = self._names_cache
        if cached is None or cached[0] is not self.params:
            p = self.params
            cached = self._names_cache = (p, tuple(self.op.arguments(p)), tuple(self.op.aux(p)),
                                          tuple(self.op.outputs(p)))
        return cached[1:]

    @property
    def num_outputs(self):
        return len(self._names()[2])

    @property
    def num_all_outputs(self):
        """Visible and hidden outputs, as MXNet's JSON counts them in node_row_ptr."""
        if self.op is not None and self.op.num_all_outputs is not None:
            return self.op.num_all_outputs(self.params)
        return self.num_outputs

    def output_name(self, index):
        if self.op is None:
            return self.name
        return f"{self.name}_{self._names()[2][index]}"

    def input_label(self, position):
        args, aux, _ = self._names()
        if position < len(args):
            return args[position]
        if position < len(args) + len(aux):
            return aux[position - len(args)]
        return f"input{position}"


def topo_order(heads):
    """Nodes reachable from `heads` (entries), inputs before users, in MXNet's DFS order."""
    order, seen = [], set()
    for head, _ in heads:
        stack = [(head, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in seen:
                continue
            if expanded or not node.inputs:
                seen.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            for child, _ in reversed(node.inputs):
                if id(child) not in seen:
                    stack.append((child, False))
    return order


def variables(heads, nodes=None):
    """(arguments, aux_states): variable nodes in order, split by how operators use them.
    `nodes`: `topo_order(heads)` where the caller keeps it."""
    nodes = topo_order(heads) if nodes is None else nodes
    aux_ids = set()
    for node in nodes:
        n_args = len(node.arg_names)
        for child, _ in node.inputs[n_args:]:
            aux_ids.add(id(child))
    args = [n for n in nodes if n.is_variable and id(n) not in aux_ids]
    aux = [n for n in nodes if n.is_variable and id(n) in aux_ids]
    return args, aux


def _shape_attr(node):
    text = node.attrs.get("__shape__")
    if text is None:
        return None
    from ..ops.params import PARSERS
    shape = PARSERS["shape"](text)
    return shape if shape else None


def _propagate(nodes, visit):
    """Visit the operator nodes in topological order until nothing changes. `visit(node)` sets
    entries and returns those it changed; a node is visited again only when an entry it reads
    or writes changed after it last looked (forward rules settle in one pass; a backward rule,
    e.g. a begin state's batch taken from a later FullyConnected, sends the sweep back only
    to the nodes it touched)."""
    readers = {}
    for k, node in enumerate(nodes):
        for c, i in node.inputs:
            readers.setdefault((id(c), i), []).append(k)
    producer = {id(node): k for k, node in enumerate(nodes)}
    pending = [k for k, node in enumerate(nodes) if not node.is_variable]
    for _ in range(len(nodes) + 1):
        if not pending:
            return
        scheduled, later = set(pending), set()
        for k in pending:
            for entry in visit(nodes[k]):
                p = producer[entry[0]]
                if p < k and not nodes[p].is_variable:
                    later.add(p)
                for r in readers.get(entry, ()):
                    if r != k and (r < k or r not in scheduled):
                        later.add(r)
        pending = sorted(later)


def infer_shapes(heads, known, partial, nodes=None):
    """Shapes of every entry, from `known` {variable name: shape}.

    Returns {(id(node), index): shape or None}. Raises MXNetError naming the operator, its
    input and both shapes when they disagree. `nodes`: `topo_order(heads)` if known.
    """
    nodes = topo_order(heads) if nodes is None else nodes
    shapes = {}
    for node in nodes:
        if node.is_variable:
            shape = _shape_attr(node)
            given = known.get(node.name)
            if given is not None:
                try:
                    shape = merge(node.name, shape, tuple(given))
                except ShapeMismatch:
                    raise MXNetError(f"variable {node.name}: its __shape__ attribute "
                                     f"{shape} disagrees with the given shape "
                                     f"{tuple(given)}") from None
            shapes[(id(node), 0)] = shape
    def visit(node):
        in_shapes = [shapes.get((id(c), i)) for c, i in node.inputs]
        out_prev = [shapes.get((id(node), i)) for i in range(node.num_outputs)]
        try:
            new_in, outs = node.op.infer_shape(node.params, list(in_shapes))
            if node.op.infer_backward is not None:
                known_out = [merge("output", a, b) for a, b in zip(out_prev, outs)]
                new_in = node.op.infer_backward(node.params, list(new_in), known_out)
        except ShapeMismatch as err:
            raise _shape_error(node, err) from None
        changed = []
        for pos, ((child, idx), shape) in enumerate(zip(node.inputs, new_in)):
            old = shapes.get((id(child), idx))
            try:
                merged = merge(node.input_label(pos), old, shape)
            except ShapeMismatch as err:
                raise _shape_error(node, err, child.output_name(idx)) from None
            if merged != old:
                shapes[(id(child), idx)] = merged
                changed.append((id(child), idx))
        for i, shape in enumerate(outs):
            try:
                merged = merge("output", out_prev[i], shape)
            except ShapeMismatch as err:
                raise _shape_error(node, err) from None
            if merged != out_prev[i]:
                shapes[(id(node), i)] = merged
                changed.append((id(node), i))
        return changed

    _propagate(nodes, visit)
    return shapes


def _shape_error(node, err, source=None):
    where = f" ({source})" if source else ""
    return MXNetError(f"Error in operator {node.name} ({node.op.name}): shape of input "
                      f"{err.input_name!r}{where} is {err.got}, expected {err.expected}. "
                      f"Shape inconsistent")


def infer_types(heads, known, nodes=None):
    """dtypes (numpy types) of every entry from `known` {variable name: dtype}; None if unknown.
    `nodes`: `topo_order(heads)` if known."""
    nodes = topo_order(heads) if nodes is None else nodes
    types = {}
    for node in nodes:
        if node.is_variable:
            code = node.attrs.get("__dtype__")
            dt = known.get(node.name)
            if dt is None and code is not None:
                dt = DTYPE_CODES[int(code)]
            types[(id(node), 0)] = None if dt is None else to_numpy_dtype(dt)
    def visit(node):
        in_types = [types.get((id(c), i)) for c, i in node.inputs]
        if node.op.infer_type is not None:
            new_in, outs = node.op.infer_type(node.params, in_types)
            new_in = [_numpy_type(node, t) for t in new_in]
            outs = [_numpy_type(node, t) for t in outs]
        else:
            first = next((t for t in in_types if t is not None), None)
            if first is None:
                first = next((types.get((id(node), i)) for i in range(node.num_outputs)
                              if types.get((id(node), i)) is not None), None)
            new_in = [t if t is not None else first for t in in_types]
            outs = [first] * node.num_outputs
        changed = []
        for (child, idx), t in zip(node.inputs, new_in):
            if t is not None and types.get((id(child), idx)) is None:
                types[(id(child), idx)] = t
                changed.append((id(child), idx))
        for i, t in enumerate(outs):
            if t is not None and types.get((id(node), i)) is None:
                types[(id(node), i)] = t
                changed.append((id(node), i))
        return changed

    _propagate(nodes, visit)
    return types


def _numpy_type(node, dtype):
    if dtype is None:
        return None
    try:
        return to_numpy_dtype(dtype)
    except TypeError:
        raise MXNetError(f"Error in operator {node.name} ({node.op.name}): {dtype!r} is not a "
                         f"data type") from None


def all_known(shapes):
    return all(is_known(s) for s in shapes)
