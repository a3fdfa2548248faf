"""Control flow over subgraphs: `_foreach`, `_while_loop` and `_cond`, the operators behind
MXNet's symbolic `mx.sym.contrib.foreach/while_loop/cond` (bucketmod/symbol/control_flow.py
builds them).

A node of these operators carries its graphs in `params['subgraphs']` (each a tuple of head
entries, see `graph.Node.subgraphs`). A subgraph's inputs are its variables in MXNet's DFS
order, and the node's `*_locs` params say which of the node's inputs feeds each. The forward
runs a subgraph as a nested `Program` on torch tensors, once per step, so autograd records
every step and gives the gradients MXNet's `_backward_foreach/_while_loop/_cond` compute.

MXNet 1.9.1 registers no shape function for `_while_loop` and `_cond` (their output shapes are
known only once they ran); bucketmod infers them from the subgraphs (`_while_loop`'s stacked
outputs are `max_iterations` long, as MXNet makes them), so such a graph binds with
`simple_bind` and in a Module. Rows past the last step of a `_while_loop` output are zeros
(MXNet leaves them uninitialised).
"""
import torch

from ..base import MXNetError
from .params import Param
from .registry import OpDef, register
from .shape_ops import merge


def subgraph_inputs(heads):
    """The variables a subgraph reads, in MXNet's order (its inputs' order)."""
    from ..symbol import graph
    return [n for n in graph.topo_order(list(heads)) if n.is_variable]


def _infer_sub(heads, in_shapes):
    """(input shapes, output shapes) of a subgraph from its input shapes (None: unknown)."""
    from ..symbol import graph
    inputs = subgraph_inputs(heads)
    known = {n.name: s for n, s in zip(inputs, in_shapes) if s is not None}
    shapes = graph.infer_shapes(list(heads), known, partial=True)
    return [shapes.get((id(n), 0)) for n in inputs], [shapes.get((id(n), i)) for n, i in heads]


def _infer_sub_types(heads, in_types):
    from ..symbol import graph
    inputs = subgraph_inputs(heads)
    known = {n.name: t for n, t in zip(inputs, in_types) if t is not None}
    types = graph.infer_types(list(heads), known)
    return [types.get((id(n), 0)) for n in inputs], [types.get((id(n), i)) for n, i in heads]


def _fill(shapes, position, shape, label):
    """Merge `shape` into `shapes[position]` (the node's input shapes)."""
    if shape is not None:
        shapes[position] = merge(label, shapes[position], shape)


class _Runner:
    """One subgraph of a bound node: a compiled `Program` per input signature."""

    __slots__ = ("heads", "names", "programs")

    def __init__(self, heads):
        self.heads = list(heads)
        self.names = [n.name for n in subgraph_inputs(heads)]
        self.programs = {}

    def program(self, tensors):
        from ..program import Program
        key = tuple(tuple(t.shape) for t in tensors)
        prog = self.programs.get(key)
        if prog is None:
            device = tensors[0].device if tensors else torch.device("cpu")
            prog = Program(self.heads, dict(zip(self.names, key)), device)
            self.programs[key] = prog
        return prog

    def run(self, tensors, is_train):
        prog = self.program(tensors)
        return prog.run(prog.slots(dict(zip(self.names, tensors))), is_train)


def _graphs(p):
    graphs = p.get("subgraphs")
    if not graphs:
        raise MXNetError("a control-flow operator runs subgraphs, and this node has none: make "
                         "it with mx.sym.contrib.foreach, while_loop or cond, or load it from "
                         "JSON with its 'subgraphs'")
    return graphs


def _runners(p):
    """The node's runners, made once per bound node (`bind_params`), else per call."""
    bound = p.get("runners")
    return bound if bound is not None else [_Runner(h) for h in _graphs(p)]


def _bind(p, out_shapes, device):
    return dict(p, runners=[_Runner(h) for h in _graphs(p)])


def _outputs(p):
    """nnvm's default output names: `output` for one, `output0`, `output1`... for more."""
    n = p["num_outputs"]
    return ["output"] if n == 1 else [f"output{i}" for i in range(n)]


def _register(name, n_graphs, params, **kwargs):
    """A control-flow operator: its inputs `data0`... after its `n_graphs` graphs, which MXNet
    counts in `num_args`."""
    register(OpDef(
        name=name, params=params,
        arguments=lambda p: [f"data{i}" for i in range(p["num_args"] - n_graphs)],
        outputs=_outputs, bind_params=_bind, variadic="data", key_var_num_args="num_args",
        **kwargs))


def _as_bool(value, what):
    if value.numel() != 1:
        raise MXNetError(f"{what}: the condition must be one value, got shape "
                         f"{tuple(value.shape)}")
    return bool(value.reshape(()).item())


def _in_range(name, locs, size):
    bad = [x for x in locs if not 0 <= x < size]
    return f"{name} {list(locs)} points outside the {size} input(s)" if bad else None


# -- _foreach --------------------------------------------------------------------------------
def _foreach_parts(p):
    return len(p["in_data_locs"]), len(p["in_state_locs"])


def _step_shape(shape):
    """A data slice's shape: MXNet's slice of a 1-d array keeps one element, shape (1,)."""
    return tuple(shape[1:]) if len(shape) > 1 else (1,)


def _foreach_shape(p, s):
    n_data, n_state = _foreach_parts(p)
    n_out = p["num_out_data"]
    sub = [None] * (p["num_args"] - 1)
    for j, loc in enumerate(p["in_data_locs"]):
        sub[loc] = None if s[j] is None else _step_shape(s[j])
    for j, loc in enumerate(p["in_state_locs"]):
        sub[loc] = s[n_data + j]
    for j, loc in enumerate(p["remain_locs"]):
        sub[loc] = s[n_data + n_state + j]
    ins, outs = _infer_sub(_graphs(p)[0], sub)
    length = s[0][0] if s[0] is not None else 0
    new_in = list(s)
    for j, loc in enumerate(p["in_data_locs"]):
        if ins[loc] is not None and length:
            one_d = s[j] is not None and len(s[j]) == 1
            _fill(new_in, j, (length,) if one_d else (length,) + tuple(ins[loc]), f"data{j}")
    for j, loc in enumerate(p["in_state_locs"]):
        _fill(new_in, n_data + j, ins[loc], f"data{n_data + j}")
        _fill(new_in, n_data + j, outs[n_out + j], f"data{n_data + j}")
    for j, loc in enumerate(p["remain_locs"]):
        _fill(new_in, n_data + n_state + j, ins[loc], f"data{n_data + n_state + j}")
    out_shapes = [(length,) + tuple(o) if o is not None and length else None
                  for o in outs[:n_out]]
    out_shapes += [new_in[n_data + j] for j in range(n_state)]
    return new_in, out_shapes


def _remap_types(p, types, sizes):
    n_data, n_state = sizes
    sub = [None] * (p["num_args"] - 1)
    groups = (p["in_data_locs"], p["in_state_locs"], p["remain_locs"])
    starts = (0, n_data, n_data + n_state)
    for locs, start in zip(groups, starts):
        for j, loc in enumerate(locs):
            sub[loc] = types[start + j]
    ins, outs = _infer_sub_types(_graphs(p)[0], sub)
    new_in = list(types)
    for locs, start in zip(groups, starts):
        for j, loc in enumerate(locs):
            new_in[start + j] = new_in[start + j] or ins[loc]
    return new_in, outs


def _foreach_type(p, types):
    return _remap_types(p, types, _foreach_parts(p))


def _foreach_forward(p, inputs, aux, is_train):
    runner = _runners(p)[0]
    n_data, n_state = _foreach_parts(p)
    n_out = p["num_out_data"]
    sub = [None] * len(inputs)
    for j, loc in enumerate(p["remain_locs"]):
        sub[loc] = inputs[n_data + n_state + j]
    for j, loc in enumerate(p["in_state_locs"]):
        sub[loc] = inputs[n_data + j]
    length = inputs[0].shape[0]
    for j in range(1, n_data):
        if inputs[j].shape[0] != length:
            raise MXNetError(f"_foreach: data {j} has {inputs[j].shape[0]} steps along axis 0, "
                             f"data 0 has {length}")
    steps = [[] for _ in range(n_out)]
    for i in range(length):
        for j, loc in enumerate(p["in_data_locs"]):
            x = inputs[j]
            sub[loc] = x[i] if x.dim() > 1 else x[i:i + 1]
        outs = runner.run(sub, is_train)
        for k in range(n_out):
            steps[k].append(outs[k])
        for k, loc in enumerate(p["in_state_locs"]):
            sub[loc] = outs[n_out + k]
    if length == 0:
        raise MXNetError("_foreach: the data has 0 steps along axis 0")
    return [torch.stack(s) for s in steps] + [sub[loc] for loc in p["in_state_locs"]]


def _foreach_check(p, sizes):
    (n_in, n_out), = sizes
    n_data, n_state = _foreach_parts(p)
    if n_in != p["num_args"] - 1:
        return f"the subgraph reads {n_in} input(s), num_args - 1 is {p['num_args'] - 1}"
    if n_out != p["num_outputs"]:
        return f"the subgraph has {n_out} output(s), num_outputs is {p['num_outputs']}"
    named = n_data + n_state + len(p["remain_locs"])
    if named != n_in:
        return (f"in_data_locs, in_state_locs and remain_locs name {named} input(s), the "
                f"subgraph reads {n_in}")
    if n_data < 1 or n_state != p["num_outputs"] - p["num_out_data"]:
        return (f"expected at least one data input and num_outputs - num_out_data = "
                f"{p['num_outputs'] - p['num_out_data']} states, got {n_data} and {n_state}")
    locs = list(p["in_data_locs"]) + list(p["in_state_locs"]) + list(p["remain_locs"])
    if sorted(locs) != list(range(n_in)):
        return f"the locs {locs} are not a permutation of the subgraph's {n_in} inputs"
    return None


_register(
    "_foreach", 1,
    {"num_args": Param("int", lower=1), "num_outputs": Param("int"),
     "num_out_data": Param("int"), "in_state_locs": Param("shape"),
     "in_data_locs": Param("shape"), "remain_locs": Param("shape")},
    infer_shape=_foreach_shape, infer_type=_foreach_type, forward=_foreach_forward,
    extra={"subgraphs": 1, "check_subgraphs": _foreach_check})


# -- _while_loop -----------------------------------------------------------------------------
def _while_shape(p, s):
    cond_heads, func_heads = _graphs(p)
    n_out = p["num_out_data"]
    func_locs, var_locs = p["func_input_locs"], p["func_var_locs"]
    new_in = list(s)
    for heads, locs in ((cond_heads, p["cond_input_locs"]), (func_heads, func_locs)):
        ins, _ = _infer_sub(heads, [new_in[x] for x in locs])
        for k, loc in enumerate(locs):
            _fill(new_in, loc, ins[k], f"data{loc}")
    _, outs = _infer_sub(func_heads, [new_in[x] for x in func_locs])
    for i, v in enumerate(var_locs):
        loc = func_locs[v]
        _fill(new_in, loc, outs[n_out + i], f"data{loc}")
    out_shapes = [None if o is None else (p["max_iterations"],) + tuple(o)
                  for o in outs[:n_out]]
    out_shapes += [new_in[func_locs[v]] for v in var_locs]
    return new_in, out_shapes


def _while_type(p, types):
    cond_heads, func_heads = _graphs(p)
    new_in = list(types)
    for heads, locs in ((cond_heads, p["cond_input_locs"]), (func_heads, p["func_input_locs"])):
        ins, _ = _infer_sub_types(heads, [new_in[x] for x in locs])
        for k, loc in enumerate(locs):
            new_in[loc] = new_in[loc] or ins[k]
    _, outs = _infer_sub_types(func_heads, [new_in[x] for x in p["func_input_locs"]])
    n_out = p["num_out_data"]
    return new_in, list(outs[:n_out]) + [new_in[p["func_input_locs"][v]] or outs[n_out + i]
                                         for i, v in enumerate(p["func_var_locs"])]


def _while_forward(p, inputs, aux, is_train):
    cond_run, func_run = _runners(p)
    n_out = p["num_out_data"]
    cond_locs, func_locs = p["cond_input_locs"], p["func_input_locs"]
    cond_in = [inputs[x] for x in cond_locs]
    func_in = [inputs[x] for x in func_locs]
    # which cond input each loop variable also is (MXNet's oi_map)
    shared = [[k for k, c in enumerate(cond_locs) if c == func_locs[v]]
              for v in p["func_var_locs"]]
    steps = [[] for _ in range(n_out)]
    count = 0
    while count < p["max_iterations"] and \
            _as_bool(cond_run.run(cond_in, is_train)[0], "_while_loop"):
        outs = func_run.run(func_in, is_train)
        for k in range(n_out):
            steps[k].append(outs[k])
        for i, v in enumerate(p["func_var_locs"]):
            func_in[v] = outs[n_out + i]
            for k in shared[i]:
                cond_in[k] = outs[n_out + i]
        count += 1
    data = []
    for k in range(n_out):
        if count:
            stacked = torch.stack(steps[k])
        else:
            shape = tuple(func_run.program(func_in).shapes[k])
            stacked = torch.zeros((0,) + shape, dtype=inputs[0].dtype, device=inputs[0].device)
        pad = p["max_iterations"] - count
        if pad:
            stacked = torch.cat([stacked, stacked.new_zeros((pad,) + stacked.shape[1:])])
        data.append(stacked)
    final = [func_in[v] if count else func_in[v].clone() for v in p["func_var_locs"]]
    return data + final


def _while_check(p, sizes):
    (c_in, c_out), (f_in, f_out) = sizes
    n = p["num_args"] - 2
    if c_out != 1:
        return f"the condition subgraph has {c_out} outputs, expected 1"
    if c_in != len(p["cond_input_locs"]) or f_in != len(p["func_input_locs"]):
        return (f"the subgraphs read {c_in} and {f_in} input(s), cond_input_locs and "
                f"func_input_locs name {len(p['cond_input_locs'])} and "
                f"{len(p['func_input_locs'])}")
    if f_out != p["num_outputs"]:
        return f"the loop body has {f_out} output(s), num_outputs is {p['num_outputs']}"
    if len(p["func_var_locs"]) != p["num_outputs"] - p["num_out_data"]:
        return (f"func_var_locs names {len(p['func_var_locs'])} loop variables, "
                f"num_outputs - num_out_data is {p['num_outputs'] - p['num_out_data']}")
    return (_in_range("cond_input_locs", p["cond_input_locs"], n)
            or _in_range("func_input_locs", p["func_input_locs"], n)
            or _in_range("func_var_locs", p["func_var_locs"], f_in))


_register(
    "_while_loop", 2,
    {"num_args": Param("int", lower=2), "num_outputs": Param("int", lower=1),
     "num_out_data": Param("int", lower=0), "max_iterations": Param("int", lower=1),
     "cond_input_locs": Param("shape"), "func_input_locs": Param("shape"),
     "func_var_locs": Param("shape")},
    infer_shape=_while_shape, infer_type=_while_type, forward=_while_forward,
    extra={"subgraphs": 2, "check_subgraphs": _while_check})


# -- _cond -----------------------------------------------------------------------------------
_BRANCH_LOCS = ("cond_input_locs", "then_input_locs", "else_input_locs")


def _cond_shape(p, s):
    new_in = list(s)
    outs = [None] * p["num_outputs"]
    for heads, key in zip(_graphs(p), _BRANCH_LOCS):
        locs = p[key]
        ins, sub_outs = _infer_sub(heads, [new_in[x] for x in locs])
        for k, loc in enumerate(locs):
            _fill(new_in, loc, ins[k], f"data{loc}")
        if key != "cond_input_locs":
            for i, o in enumerate(sub_outs):
                _fill(outs, i, o, f"output{i}")
    return new_in, outs


def _cond_type(p, types):
    new_in = list(types)
    outs = [None] * p["num_outputs"]
    for heads, key in zip(_graphs(p), _BRANCH_LOCS):
        ins, sub_outs = _infer_sub_types(heads, [new_in[x] for x in p[key]])
        for k, loc in enumerate(p[key]):
            new_in[loc] = new_in[loc] or ins[k]
        if key != "cond_input_locs":
            outs = [a or b for a, b in zip(outs, sub_outs)]
    return new_in, outs


def _cond_forward(p, inputs, aux, is_train):
    pred, then_run, else_run = _runners(p)
    taken = _as_bool(pred.run([inputs[x] for x in p["cond_input_locs"]], is_train)[0], "_cond")
    run, key = (then_run, "then_input_locs") if taken else (else_run, "else_input_locs")
    return list(run.run([inputs[x] for x in p[key]], is_train))


def _cond_check(p, sizes):
    n = p["num_args"] - 3
    if sizes[0][1] != 1:
        return f"the condition subgraph has {sizes[0][1]} outputs, expected 1"
    for (n_in, n_out), key in zip(sizes, _BRANCH_LOCS):
        if n_in != len(p[key]):
            return f"a subgraph reads {n_in} input(s), {key} names {len(p[key])}"
        if key != "cond_input_locs" and n_out != p["num_outputs"]:
            return f"a branch has {n_out} output(s), num_outputs is {p['num_outputs']}"
        problem = _in_range(key, p[key], n)
        if problem:
            return problem
    return None


_register(
    "_cond", 3,
    {"num_args": Param("int", lower=3), "num_outputs": Param("int", lower=1),
     "cond_input_locs": Param("shape"), "then_input_locs": Param("shape"),
     "else_input_locs": Param("shape")},
    infer_shape=_cond_shape, infer_type=_cond_type, forward=_cond_forward,
    extra={"subgraphs": 3, "check_subgraphs": _cond_check})
