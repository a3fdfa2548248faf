"""Symbol: MXNet's declarative graph — Variables, operators, inference, JSON, binding."""
import json
import numbers
import warnings

import numpy as np

from .. import name as _name
from ..attribute import AttrScope
from ..base import MXNetError, as_shape
from ..context import current_context
from ..ops import registry
from ..ops.params import param_to_string
from . import graph, validate
from .graph import DTYPE_TO_CODE, HIDDEN_KEYS, Node


class Symbol:
    """One or more outputs of a graph. Immutable: operators make new symbols."""

    def __init__(self, outputs):
        self._outputs = list(outputs)
        self._graph_cache = None
        self._shapes_cache = None

    def _entry_shapes(self, known):
        """`graph.infer_shapes` of this symbol for {variable name: shape}. The last result is
        kept and serves any `known` that extends the shapes it was inferred from and agrees
        with it (the same fixed point): binding infers once in simple_bind, and the
        executor's passes, given every bound shape, reuse it. The dict must not be changed."""
        known = {k: tuple(v) for k, v in known.items()}
        cache = getattr(self, "_shapes_cache", None)
        if cache is not None:
            given, shapes = cache
            if all(known.get(k) == v for k, v in given.items()) and all(
                    shapes.get((id(n), 0)) == known[n.name] for n in self._nodes()[0]
                    if n.is_variable and n.name in known):
                return shapes
        shapes = graph.infer_shapes(self._outputs, known, True, self._nodes()[0])
        self._shapes_cache = (known, shapes)
        return shapes

    def _drop_caches(self):
        """Forget the shapes inferred for binding and each node's name lists (made again on
        demand): a bucketed module keeps every bucket's symbol, and these were over a third of
        the memory a bound bucket's graph kept."""
        self._shapes_cache = None
        for node in self._nodes()[0]:
            node._names_cache = None

    def _nodes(self):
        """The graph's nodes in topological order, and its (argument, aux) variables; computed
        once, since a symbol never changes (binding an unrolled bucket asks many times)."""
        cache = getattr(self, "_graph_cache", None)
        if cache is None:
            nodes = graph.topo_order(self._outputs)
            cache = self._graph_cache = (nodes, graph.variables(self._outputs, nodes))
        return cache

    # -- identity and structure --------------------------------------------------------------
    @property
    def name(self):
        """The head node's name; None for a group of outputs of several nodes."""
        node = self._single_node()
        return None if node is None else node.name

    def _single_node(self):
        nodes = {id(n): n for n, _ in self._outputs}
        return next(iter(nodes.values())) if len(nodes) == 1 else None

    def __len__(self):
        return len(self.list_outputs())

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        outputs = self.list_outputs()
        if isinstance(index, str):
            matches = [i for i, name in enumerate(outputs) if name == index]
            if not matches:
                raise ValueError(f"Symbol: no output named {index!r}; outputs are {outputs}")
            if len(matches) > 1:
                raise ValueError(f"Symbol: more than one output named {index!r}")
            index = matches[0]
        if isinstance(index, slice):
            return Symbol(self._expanded()[index])
        if not isinstance(index, int):
            raise TypeError(f"Symbol index: expected int, str or slice, got {type(index).__name__}")
        entries = self._expanded()
        if not -len(entries) <= index < len(entries):
            raise IndexError(f"Symbol index {index} out of range for {len(entries)} outputs")
        return Symbol([entries[index]])

    def _expanded(self):
        return list(self._outputs)

    def __copy__(self):
        return Symbol(self._outputs)

    def __deepcopy__(self, memo):
        return load_json(self.tojson())

    def __repr__(self):
        name = self.name
        if name is None:
            return f"<Symbol group [{', '.join(self.list_outputs())}]>"
        return f"<Symbol {name}>"

    def get_internals(self):
        """A group of every output of every node, inputs before their users."""
        entries = []
        for node in self._nodes()[0]:
            entries.extend((node, i) for i in range(node.num_outputs))
        return Symbol(entries)

    def get_children(self):
        """The inputs of each distinct output node, in order (a group's too), or None if none."""
        nodes = {id(n): n for n, _ in self._outputs}
        entries = [entry for node in nodes.values() for entry in node.inputs]
        return Symbol(entries) if entries else None

    # -- listing ----------------------------------------------------------------------------
    def list_arguments(self):
        return [n.name for n in self._nodes()[1][0]]

    def list_auxiliary_states(self):
        return [n.name for n in self._nodes()[1][1]]

    def list_inputs(self):
        return [n.name for n in self._nodes()[0] if n.is_variable]

    def list_outputs(self):
        return [node.output_name(i) if not node.is_variable else node.name
                for node, i in self._outputs]

    # -- attributes -------------------------------------------------------------------------
    def attr(self, key):
        """The attribute `key` of this symbol's head node (`lr_mult` finds `__lr_mult__`)."""
        node = self._single_node()
        if node is None:
            return None
        for k in (key, f"__{key}__"):
            if k in node.attrs:
                return node.attrs[k]
        return node.raw_params.get(key)

    def list_attr(self, recursive=False):
        """The attributes of the first output's node (of a group too, as MXNet does)."""
        if recursive:
            raise DeprecationWarning("Symbol.list_attr with recursive=True has been deprecated. "
                                     "Please use attr_dict instead.")
        return _listed_attrs(self._outputs[0][0])

    def attr_dict(self):
        """{node name: {attribute: string}} over every node that has attributes."""
        out = {}
        for node in self._nodes()[0]:
            attrs = _listed_attrs(node)
            if attrs:
                out[node.name] = attrs
        return out

    def _set_attr(self, **kwargs):
        for node, _ in self._outputs:
            for key, value in kwargs.items():
                if not isinstance(value, str):
                    raise ValueError(f"_set_attr: value of {key} must be a string, "
                                     f"got {value!r}")
                node.attrs[key] = value

    # -- inference --------------------------------------------------------------------------
    def _named_inputs(self, what, args, kwargs):
        arg_names = self.list_arguments()
        if args and kwargs:
            raise ValueError(f"{what}: give the inputs positionally or by name, not both")
        if args:
            if len(args) > len(arg_names):
                raise ValueError(f"{what}: {len(args)} positional inputs for "
                                 f"{len(arg_names)} arguments {arg_names}")
            return {n: v for n, v in zip(arg_names, args) if v is not None}
        names = set(arg_names) | set(self.list_auxiliary_states())
        for key in kwargs:
            if key not in names:
                raise MXNetError(f"{what}: keyword argument name {key} not found; "
                                 f"candidate arguments are {arg_names}")
        return {k: v for k, v in kwargs.items() if v is not None}

    def _infer_shape(self, partial, args, kwargs):
        known = self._named_inputs("infer_shape", args, kwargs)
        known = {k: as_shape(f"infer_shape: argument {k!r}", v) for k, v in known.items()}
        _, (arg_nodes, aux_nodes) = self._nodes()
        shapes = self._entry_shapes(known)
        arg_s = [shapes.get((id(n), 0)) for n in arg_nodes]
        out_s = [shapes.get((id(n), i)) for n, i in self._outputs]
        aux_s = [shapes.get((id(n), 0)) for n in aux_nodes]
        if partial:
            return [s or () for s in arg_s], [s or () for s in out_s], [s or () for s in aux_s]
        if not graph.all_known(arg_s + out_s + aux_s):
            missing = [f"{n.name}: {s or ()}" for n, s in zip(arg_nodes, arg_s)
                       if not graph.is_known(s)]
            warnings.warn("Cannot decide shape for the following arguments (0s in shape means "
                          "unknown dimensions). Consider providing them as input:\n\t"
                          + "\n\t".join(missing), stacklevel=3)
            return None, None, None
        return arg_s, out_s, aux_s

    def infer_shape(self, *args, **kwargs):
        """(arg_shapes, out_shapes, aux_shapes) from the given input shapes, or Nones."""
        return self._infer_shape(False, args, kwargs)

    def infer_shape_partial(self, *args, **kwargs):
        """Like infer_shape, with `()` or 0-dimensions for what cannot be inferred."""
        return self._infer_shape(True, args, kwargs)

    def _infer_type(self, partial, args, kwargs):
        known = self._named_inputs("infer_type", args, kwargs)
        nodes, (arg_nodes, aux_nodes) = self._nodes()
        types = graph.infer_types(self._outputs, known, nodes)
        arg_t = [types.get((id(n), 0)) for n in arg_nodes]
        out_t = [types.get((id(n), i)) for n, i in self._outputs]
        aux_t = [types.get((id(n), 0)) for n in aux_nodes]
        if partial:
            return arg_t, out_t, aux_t
        if any(t is None for t in arg_t + out_t + aux_t):
            missing = [f"{n.name}: None" for n, t in zip(arg_nodes, arg_t) if t is None]
            warnings.warn("Cannot decide type for the following arguments. Consider providing "
                          "them as input:\n\t" + "\n\t".join(missing), stacklevel=3)
            return None, None, None
        return arg_t, out_t, aux_t

    def infer_type(self, *args, **kwargs):
        """(arg_types, out_types, aux_types) from the given input dtypes, or Nones."""
        return self._infer_type(False, args, kwargs)

    def infer_type_partial(self, *args, **kwargs):
        """Like infer_type, with None for each type that cannot be inferred."""
        return self._infer_type(True, args, kwargs)

    # -- serialisation ----------------------------------------------------------------------
    def tojson(self):
        doc = _graph_document(self._outputs)
        doc["attrs"] = {"mxnet_version": ["int", 10901]}
        return json.dumps(doc, indent=2)

    def save(self, fname, remove_amp_cast=True):
        """Write the JSON to `fname` atomically (a temporary file renamed into place)."""
        if not isinstance(fname, str):
            raise TypeError(f"fname: expected a str, got {type(fname).__name__}")
        from ..ndarray.serialization import atomic_write
        atomic_write(fname, [self.tojson().encode()])

    # -- binding ----------------------------------------------------------------------------
    def simple_bind(self, ctx, grad_req="write", type_dict=None, stype_dict=None,
                    group2ctx=None, shared_arg_names=None, shared_exec=None,
                    shared_buffer=None, **kwargs):
        """Allocate every argument, gradient and aux array from input shapes and bind."""
        from ..executor import Executor
        return Executor.simple_bind(self, ctx, grad_req, type_dict or {}, kwargs,
                                    shared_exec=shared_exec, shared_arg_names=shared_arg_names)

    def bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None,
             group2ctx=None, shared_exec=None):
        """Bind to given arrays (lists in list_arguments order, or dicts by name).

        `group2ctx` and `shared_exec` are accepted as MXNet's signature has them: every array
        is given here, so there is no memory left to share (`simple_bind` shares).
        """
        from ..executor import Executor
        return Executor(self, ctx, args, args_grad, grad_req, aux_states)

    def eval(self, ctx=None, **kwargs):
        ctx = ctx or current_context()
        exe = self.bind(ctx, kwargs)
        return exe.forward()

    # -- arithmetic -------------------------------------------------------------------------
    def _binary(self, other, op, scalar_op, reverse_scalar_op=None, reverse=False):
        if isinstance(other, Symbol):
            lhs, rhs = (other, self) if reverse else (self, other)
            return _invoke(op, op.lower(), [lhs, rhs], {})
        if isinstance(other, numbers.Number):
            name = reverse_scalar_op if reverse and reverse_scalar_op else scalar_op
            return _invoke(name, name.lower(), [self], {"scalar": other})
        raise TypeError(f"type {type(other).__name__} not supported in symbol arithmetic")

    def __add__(self, o): return self._binary(o, "_Plus", "_PlusScalar")
    def __radd__(self, o): return self._binary(o, "_Plus", "_PlusScalar", reverse=True)
    def __sub__(self, o): return self._binary(o, "_Minus", "_MinusScalar")
    def __rsub__(self, o): return self._binary(o, "_Minus", "_MinusScalar", "_RMinusScalar", True)
    def __mul__(self, o): return self._binary(o, "_Mul", "_MulScalar")
    def __rmul__(self, o): return self._binary(o, "_Mul", "_MulScalar", reverse=True)
    def __truediv__(self, o): return self._binary(o, "_Div", "_DivScalar")
    def __rtruediv__(self, o): return self._binary(o, "_Div", "_DivScalar", "_RDivScalar", True)
    def __mod__(self, o): return self._binary(o, "_Mod", "_ModScalar")
    def __rmod__(self, o): return self._binary(o, "_Mod", "_ModScalar", "_RModScalar", True)
    def __pow__(self, o): return self._binary(o, "_Power", "_PowerScalar")
    def __rpow__(self, o): return self._binary(o, "_Power", "_PowerScalar", "_rpower_scalar", True)
    def __neg__(self): return self._binary(-1.0, None, "_MulScalar")
    def __abs__(self): return self.abs()
    def abs(self, **kwargs): return _invoke("abs", "abs", [self], kwargs)

    def _no_inplace(self, other):
        raise NotImplementedForSymbol("in-place arithmetic (+=, -=, *=, /=)")

    __iadd__ = __isub__ = __imul__ = __itruediv__ = __imod__ = _no_inplace
    def __eq__(self, o): return self._binary(o, "_equal", "_equal_scalar")
    def __ne__(self, o): return self._binary(o, "_not_equal", "_not_equal_scalar")
    def __gt__(self, o): return self._binary(o, "_greater", "_greater_scalar")
    def __ge__(self, o): return self._binary(o, "_greater_equal", "_greater_equal_scalar")
    def __lt__(self, o): return self._binary(o, "_lesser", "_lesser_scalar")
    def __le__(self, o): return self._binary(o, "_lesser_equal", "_lesser_equal_scalar")

    __hash__ = object.__hash__

    def __bool__(self):
        raise NotImplementedForSymbol("bool")

    # MXNet offers the reductions and a few math ops as methods too.
    def reshape(self, *args, **kwargs):
        shape = args[0] if len(args) == 1 else args
        if shape:
            kwargs["shape"] = shape
        return _invoke("Reshape", "reshape", [self], kwargs)

    def sum(self, **kwargs): return _invoke("sum", "sum", [self], kwargs)
    def mean(self, **kwargs): return _invoke("mean", "mean", [self], kwargs)
    def flatten(self, **kwargs): return _invoke("Flatten", "flatten", [self], kwargs)
    def expand_dims(self, axis, **kwargs):
        return _invoke("expand_dims", "expand_dims", [self], dict(kwargs, axis=axis))
    def transpose(self, axes=(), **kwargs):
        return _invoke("transpose", "transpose", [self], dict(kwargs, axes=axes))


def _graph_document(heads):
    """MXNet's JSON object of the graph under `heads`; a control-flow node carries its
    subgraphs as nested objects of the same form (without the version attribute)."""
    nodes = graph.topo_order(heads)
    index = {id(n): i for i, n in enumerate(nodes)}
    out_nodes, row_ptr = [], [0]
    for node in nodes:
        entry = {"op": node.op.name if node.op else "null", "name": node.name}
        attrs = dict(node.raw_params)
        attrs.update(node.attrs)
        if attrs:
            entry["attrs"] = {k: attrs[k] for k in sorted(attrs)}
        entry["inputs"] = [[index[id(c)], i, 0] for c, i in node.inputs]
        if node.subgraphs:
            entry["subgraphs"] = [_graph_document(g) for g in node.subgraphs]
        out_nodes.append(entry)
        row_ptr.append(row_ptr[-1] + node.num_all_outputs)
    return {"nodes": out_nodes,
            "arg_nodes": [i for i, n in enumerate(nodes) if n.is_variable],
            "node_row_ptr": row_ptr,
            "heads": [[index[id(n)], i, 0] for n, i in heads]}


class NotImplementedForSymbol(TypeError):
    def __init__(self, what):
        super().__init__(f"{what} is not supported on a Symbol: a symbol has no value "
                         f"until it is bound and run")


def _listed_attrs(node):
    out = dict(node.raw_params)
    for key, value in node.attrs.items():
        out[key] = value
        stripped = key[2:-2] if key.startswith("__") and key.endswith("__") else None
        if stripped in HIDDEN_KEYS:
            out[stripped] = value
    return out


# -- construction -----------------------------------------------------------------------------
def Variable(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None,
             stype=None, **kwargs):
    """A named input (data, label or parameter).

    Args:
        shape: optional known shape (0 for unknown dims); dtype: numpy dtype or name;
        init: an Initializer (or its JSON) used for this parameter in preference to the global one.
    """
    if not isinstance(name, str):
        raise TypeError(f"Variable: name must be a string, got {type(name).__name__}")
    attrs = AttrScope.current().get(attr)
    if shape is not None:
        attrs["__shape__"] = str(as_shape(f"Variable {name}: shape", shape))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        attrs["__dtype__"] = str(DTYPE_TO_CODE[np.dtype(dtype)])
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        attrs["__storage_type__"] = str(stype)
    for key, value in kwargs.items():
        if not (key.startswith("__") and key.endswith("__")):
            raise ValueError(f"Attribute name={key} is not supported. Additional attributes "
                             f"must start and end with double underscores, e.g, __yourattr__")
        attrs[key] = str(value)
    return Symbol([(Node(None, name, attrs), 0)])


var = Variable


def Group(symbols):
    """One symbol whose outputs are the outputs of `symbols`, in order."""
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise TypeError("Group: expected a non-empty list of Symbols")
    return Symbol([entry for s in symbols for entry in s._outputs])


def _invoke(op_name, hint, inputs, kwargs, sym_kwargs=None, name=None, attr=None,
            subgraphs=()):
    """Create an operator node. `inputs` are positional symbols; `sym_kwargs` named ones;
    `subgraphs` the head entries of each graph a control-flow operator runs."""
    opdef = registry.get(op_name)
    sym_kwargs = dict(sym_kwargs or {})
    params = registry.given_params(opdef, kwargs)
    if opdef.key_var_num_args and opdef.key_var_num_args not in params:
        params[opdef.key_var_num_args] = len(inputs)
    node_attrs = AttrScope.current().get(attr)
    try:
        parsed = opdef.parse({k: param_to_string(v) for k, v in params.items()})
    except MXNetError as err:
        raise MXNetError(f"{err} (creating operator {op_name})") from None
    node_name = _name.current().get(name, hint)
    arg_names = opdef.arguments(parsed) + opdef.aux(parsed)
    for key in sym_kwargs:
        if key not in arg_names:
            raise MXNetError(f"{op_name}: unknown input {key!r}; inputs are {arg_names}")
    if len(inputs) > len(arg_names):
        raise MXNetError(f"{op_name}: {len(inputs)} positional inputs for {len(arg_names)} "
                         f"inputs {arg_names}")
    entries = []
    for pos, arg in enumerate(arg_names):
        sym = inputs[pos] if pos < len(inputs) else sym_kwargs.get(arg)
        if sym is None:
            var_attrs = {k: param_to_string(v) for k, v in params.items()}
            var_attrs.update(node_attrs)
            sym = Symbol([(Node(None, f"{node_name}_{arg}", var_attrs), 0)])
        if not isinstance(sym, Symbol):
            raise TypeError(f"{op_name}: input {arg} must be a Symbol, got "
                            f"{type(sym).__name__}")
        if len(sym._outputs) != 1:
            raise MXNetError(f"{op_name}: input {arg} is a group of {len(sym._outputs)} "
                             f"outputs; pick one with [i]")
        entries.append(sym._outputs[0])
    for pos, init in opdef.extra.get("var_init", {}).items():
        var_node = entries[pos][0]
        if var_node.is_variable and "__init__" not in var_node.attrs:
            var_node.attrs["__init__"] = init
    node = Node(opdef, node_name, node_attrs, params, entries)
    node.params = dict(parsed, subgraphs=tuple(subgraphs)) if subgraphs else parsed
    return Symbol([(node, i) for i in range(node.num_outputs)])


def make_op_function(op_name, func_name):
    """`mx.sym.<func_name>`: operator `op_name` with MXNet's calling convention (inputs, then
    parameters in MXNet's order; a variadic operator's inputs positionally)."""
    opdef = registry.get(op_name)

    def op_function(*args, name=None, attr=None, out=None, **kwargs):
        positional, named, params = registry.split_call(
            opdef, func_name, args, kwargs, lambda v: isinstance(v, Symbol), "Symbol")
        return _invoke(op_name, func_name.lower(), positional, params, named, name, attr)

    op_function.__name__ = func_name
    op_function.__doc__ = registry.doc(opdef, "symbolic")
    return op_function


# -- loading ----------------------------------------------------------------------------------
def load_json(json_str):
    """A Symbol from MXNet's JSON (as written by MXNet 1.x or by `tojson`).

    The document is checked completely before any node is built (`validate.read_graph`);
    a malformed one raises `SymbolFormatError` (an MXNetError) naming the node and the problem.
    """
    return _from_document(json_str, "<json string>")


def _from_document(text, source):
    specs, heads = validate.read_graph(text, source)
    return Symbol(_build_graph(specs, heads))


def _build_graph(specs, heads):
    """Head entries of the nodes made from validated specs (subgraphs built the same way)."""
    nodes = []
    for spec in specs:
        inputs = [(nodes[nid], index) for nid, index in spec.inputs]
        subgraphs = [tuple(_build_graph(*sub)) for sub in spec.subgraphs]
        nodes.append(Node(spec.op, spec.name, spec.attrs, spec.params, inputs, subgraphs))
    return [(nodes[nid], index) for nid, index in heads]


def load(fname):
    """A Symbol from a JSON file written by `Symbol.save` (or MXNet's `sym.save`)."""
    if not isinstance(fname, str):
        raise TypeError(f"fname: expected a str, got {type(fname).__name__}")
    try:
        with open(fname, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise MXNetError(f"load: symbol file {fname!r} does not exist") from None
    except OSError as err:
        raise MXNetError(f"load: cannot read symbol file {fname!r}: {err.strerror or err}") \
            from None
    return _from_document(text, repr(fname))


def fromjson(json_str):
    return load_json(json_str)
