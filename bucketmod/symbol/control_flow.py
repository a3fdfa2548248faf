"""Symbolic control flow: `mx.sym.contrib.foreach`, `while_loop` and `cond`, made as MXNet 1.9.1
makes them, so that graphs, argument lists and JSON agree with MXNet's.

The user's function runs once on fresh variables inside an `AttrScope(__subgraph_name__=...)`;
every node it makes carries that attribute. The subgraph is then cut out: an input of a marked
node that comes from an unmarked one (a symbol from outside the function) becomes a new variable
of the subgraph, named after that output (`w`, `fc1_output`), and the outside output becomes an
input of the control-flow node. Variables made inside the function (a layer's weight) are
inputs of the node too, as copies with the same name and attributes, so they appear in
`list_arguments`. The `*_locs` parameters map the node's inputs onto the subgraph's inputs,
which are the subgraph's variables in MXNet's DFS order. The original nodes are never changed.
"""
from ..attribute import AttrScope
from ..ops.control_flow import subgraph_inputs
from . import graph
from .graph import Node
from .symbol import Group, Symbol, _invoke, var

_SUBGRAPH = "__subgraph_name__"


def _flatten(args, what):
    if isinstance(args, Symbol):
        length = len(args.list_outputs())
        return [args], (length if length > 1 else 0)
    if not isinstance(args, (list, tuple)):
        raise AssertionError(f"{what} must be (nested) list of Symbol, but got {args} of type "
                             f"{type(args)}")
    flat, fmts = [], []
    for item in args:
        arg, fmt = _flatten(item, what)
        flat.extend(arg)
        fmts.append(fmt)
    return flat, fmts


def _regroup(args, fmt):
    if isinstance(fmt, int):
        if fmt == 0:
            return args[0], args[1:]
        return args[:fmt], args[fmt:]
    out = []
    for item in fmt:
        res, args = _regroup(args, item)
        out.append(res)
    return out, args


def _check_symbols(items, message):
    if not all(isinstance(x, Symbol) for x in items):
        raise AssertionError(message)


def _unique_name(sym):
    """The name of the subgraph variable standing for an input symbol: `name-index`."""
    return f"{sym.name}-{sym._outputs[0][1]}"


def _subgraph_name(name):
    parent = AttrScope.current()._attr.get(_SUBGRAPH, "")
    if parent:
        name = f"{parent}${name}"
    counts = AttrScope._subgraph_names
    counts[name] += 1
    return f"{name}{counts[name] - 1}"


def _in_graph(sym, name):
    return sym.list_attr().get(_SUBGRAPH, "") == name


def _identity(sym):
    return _invoke("_copy", "identity", [sym], {})


def _graph_outputs(outputs, states, name, copy_state_named_like_output=False):
    """The subgraph's head symbols: an output that is an input variable, or made outside the
    function, goes through an identity (so outputs and inputs differ, as MXNet requires)."""
    input_names = Group(outputs + states).list_inputs() if outputs + states else []
    output_names = {o.name for o in outputs}
    heads = []
    for o in outputs:
        heads.append(_identity(o) if o.name in input_names or not _in_graph(o, name) else o)
    for s in states:
        clash = copy_state_named_like_output and s.name in output_names
        heads.append(_identity(s) if s.name in input_names or clash or not _in_graph(s, name)
                     else s)
    return heads


class _Subgraph:
    """The cut graph under `heads` (symbols made in subgraph `name`): its head entries, its
    input names in order, and {cut variable name: the outside entry it stands for}."""

    def __init__(self, heads, name):
        entries = [e for h in heads for e in h._outputs]
        copies, cut_vars, self.cut = {}, {}, {}
        for node in graph.topo_order(entries):
            if node.attrs.get(_SUBGRAPH) != name:
                continue
            inputs = []
            for child, index in node.inputs:
                if child.attrs.get(_SUBGRAPH) == name:
                    inputs.append((copies[id(child)], index))
                    continue
                key = (id(child), index)
                if key not in cut_vars:
                    var_name = child.name if child.is_variable else child.output_name(index)
                    cut_vars[key] = Node(None, var_name)
                    self.cut[var_name] = Symbol([(child, index)])
                inputs.append((cut_vars[key], 0))
            copies[id(node)] = node.with_inputs(inputs) if node.inputs else node
        self.heads = tuple((copies[id(n)], i) for n, i in entries)
        self.inputs = subgraph_inputs(self.heads)
        self.input_names = [n.name for n in self.inputs]
        if len(set(self.input_names)) != len(self.input_names):
            raise AssertionError(f"The inputs of the subgraph don't have unique names: "
                                 f"{self.input_names}")

    def outer(self, position):
        """The outside symbol for subgraph input `position` that is neither data nor a loop
        variable: the cut entry, or a copy of a variable made inside the function."""
        node = self.inputs[position]
        if node.name in self.cut:
            return self.cut[node.name]
        return Symbol([(Node(None, node.name, node.attrs), 0)])


def foreach(body, data, init_states, name="foreach"):
    """Run `body(data slice, states) -> (outputs, new states)` over axis 0 of `data`.

    Returns (outputs stacked along axis 0, the states after the last step), as MXNet's
    `mx.sym.contrib.foreach`: one `_foreach` node whose subgraph is the body.
    """
    flat_data, data_fmt = _flatten(data, "foreach input")
    _check_symbols(flat_data, "data should be a symbol or a nested list of symbols")
    flat_states, state_fmt = _flatten(init_states, "foreach states")
    _check_symbols(flat_states, "init_states should be a symbol or a nested list of symbols")
    name = _subgraph_name(name)
    with AttrScope(__subgraph_name__=name):
        in_eles, _ = _regroup([var(_unique_name(s)) for s in flat_data], data_fmt)
        states, _ = _regroup([var(_unique_name(s)) for s in flat_states], state_fmt)
        sym_out, sym_states = body(in_eles, states)
        sym_out, out_fmt = _flatten(sym_out, "foreach output")
        sym_states, out_state_fmt = _flatten(sym_states, "foreach loop_vars")
        if out_state_fmt != state_fmt:
            raise AssertionError("The input and output loop_vars have different format")
        _check_symbols(sym_out, "the output should be an NDArray or a nested list of NDArrays")
        _check_symbols(sym_states, "the output states should be an NDArray or a nested list "
                                   "of NDArrays")
        heads = _graph_outputs(sym_out, sym_states, name, copy_state_named_like_output=True)
    sub = _Subgraph(heads, name)
    names = sub.input_names
    data_locs, state_locs = [], []
    for sym, locs, what in ((flat_data, data_locs, "data"), (flat_states, state_locs, "state")):
        for s in sym:
            if _unique_name(s) not in names:
                raise AssertionError(f"the {what} arrays have to be used in the loop body")
            locs.append(names.index(_unique_name(s)))
    given = set(data_locs) | set(state_locs)
    remain_locs = [k for k in range(len(names)) if k not in given]
    inputs = flat_data + flat_states + [sub.outer(k) for k in remain_locs]
    n_out = len(sym_out)
    ret = _invoke("_foreach", "_foreach", inputs, {
        "num_args": len(inputs) + 1, "num_outputs": n_out + len(sym_states),
        "num_out_data": n_out, "in_state_locs": state_locs, "in_data_locs": data_locs,
        "remain_locs": remain_locs}, subgraphs=[sub.heads])
    outs, _ = _regroup([ret[i] for i in range(n_out)], out_fmt)
    final, _ = _regroup([ret[n_out + i] for i in range(len(sym_states))], state_fmt)
    return outs, final


def _branch(graph_vars, func, name):
    """Run `func(*fresh variables)` in a new subgraph scope; (heads, number of data outputs,
    output format) with the heads cut out."""
    name = _subgraph_name(name)
    with AttrScope(__subgraph_name__=name):
        flat, fmt = _flatten(graph_vars, "while loop_vars")
        fresh, _ = _regroup([var(_unique_name(s)) for s in flat], fmt)
        outputs, states, out_fmt = func(fresh)
        heads = _graph_outputs(outputs, states, name)
    return _Subgraph(heads, name), len(outputs), out_fmt


def _union_inputs(subgraphs, loop_vars=()):
    """MXNet's `_union_inputs`: the node's inputs and, per subgraph, where its inputs are among
    them and where each loop variable is among its inputs. while_loop shares the loop variables
    (by their names in the subgraphs); cond shares an input whose name (the node's name)
    matches an input taken before, as MXNet matches them; anything else is added anew."""
    var_names = [_unique_name(s) for s in loop_vars]
    inputs, where, locs = [], {}, []
    for sub in subgraphs:
        shared = dict(zip(var_names, loop_vars)) if loop_vars else {s.name: s for s in inputs}
        input_locs, var_locs = [], [-1] * len(loop_vars)
        for k, in_name in enumerate(sub.input_names):
            sym = shared[in_name] if in_name in shared else sub.outer(k)
            if id(sym) not in where:
                where[id(sym)] = len(inputs)
                inputs.append(sym)
            input_locs.append(where[id(sym)])
            if in_name in var_names:
                var_locs[var_names.index(in_name)] = len(input_locs) - 1
        locs.append((input_locs, var_locs))
    return inputs, locs


def while_loop(cond, func, loop_vars, max_iterations=None, name="while_loop"):
    """Run `func(*loop_vars) -> (step output, new loop_vars)` while `cond(*loop_vars)` holds, at
    most `max_iterations` times. Returns (step outputs stacked along axis 0, padded to
    max_iterations rows; the final loop_vars), as MXNet's `mx.sym.contrib.while_loop`."""
    flat_vars, var_fmt = _flatten(loop_vars, "while loop_vars")
    _check_symbols(flat_vars, "loop_vars should be a symbol or a nested list of symbols")
    if max_iterations is None:
        raise ValueError("max_iterations should be specified")
    try:
        max_iterations = int(max_iterations.asscalar() if hasattr(max_iterations, "asscalar")
                             else max_iterations)
    except (TypeError, ValueError):
        raise ValueError("Cannot convert max_iteration to python int") from None
    if len(loop_vars) == 0:
        raise ValueError("loop_vars should contain at least one element")

    def cond_graph(fresh):
        result = cond(*fresh)
        if not isinstance(result, Symbol):
            raise ValueError("Return of cond must be a Symbol")
        return [], [result], None

    def func_graph(fresh):
        step_output, new_vars = func(*fresh)
        step_output = [] if step_output is None else step_output
        new_vars = [] if new_vars is None else new_vars
        step_output = list(step_output) if isinstance(step_output, tuple) else step_output
        new_vars = list(new_vars) if isinstance(new_vars, tuple) else new_vars
        step_output, out_fmt = _flatten(step_output, "while output")
        new_vars, _ = _flatten(new_vars, "while loop_vars")
        if len(fresh) != len(new_vars):
            raise ValueError("The number of loop_vars should be consistent during the loop")
        return step_output, new_vars, out_fmt

    cond_g, _, _ = _branch(loop_vars, cond_graph, name + "_cond")
    func_g, n_out, out_fmt = _branch(loop_vars, func_graph, name + "_func")
    inputs, ((cond_locs, _), (func_locs, func_var_locs)) = _union_inputs([cond_g, func_g],
                                                                         flat_vars)
    for i, loc in enumerate(func_var_locs, 1):
        if loc == -1:
            raise ValueError(f"The {i}-th loop_var doesn't involve into the computation")
    num_outputs = n_out + len(flat_vars)
    ret = _invoke("_while_loop", "_while_loop", inputs, {
        "num_args": len(inputs) + 2, "num_outputs": num_outputs, "num_out_data": n_out,
        "max_iterations": max_iterations, "cond_input_locs": cond_locs,
        "func_input_locs": func_locs, "func_var_locs": func_var_locs},
        subgraphs=[cond_g.heads, func_g.heads])
    outputs, _ = _regroup([ret[i] for i in range(n_out)], out_fmt)
    final, _ = _regroup([ret[i] for i in range(n_out, num_outputs)], var_fmt)
    return outputs, final


def cond(pred, then_func, else_func, name="cond"):
    """`then_func()` where the one-element `pred` is non-zero, else `else_func()`, as one `_cond`
    node (MXNet's `mx.sym.contrib.cond`); both branches give the same number of outputs."""
    def outputs_of(func):
        def make(_):
            outputs, fmt = _flatten(func(), "cond outputs")
            return outputs, [], fmt
        return make

    pred_g, n_pred, _ = _branch([], outputs_of(lambda: pred), name + "_pred")
    if n_pred != 1:
        raise ValueError("pred should always be a single output")
    then_g, n_then, then_fmt = _branch([], outputs_of(then_func), name + "_then")
    else_g, n_else, _ = _branch([], outputs_of(else_func), name + "_else")
    if n_then != n_else:
        raise ValueError("Number of outputs differs between then-branch and else-branch")
    inputs, locs = _union_inputs([pred_g, then_g, else_g])
    (cond_locs, _), (then_locs, _), (else_locs, _) = locs
    ret = _invoke("_cond", "_cond", inputs, {
        "num_args": len(inputs) + 3, "num_outputs": n_then, "cond_input_locs": cond_locs,
        "then_input_locs": then_locs, "else_input_locs": else_locs},
        subgraphs=[pred_g.heads, then_g.heads, else_g.heads])
    outputs, _ = _regroup([ret[i] for i in range(n_then)], then_fmt)
    return outputs
