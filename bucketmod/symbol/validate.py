"""Checks a symbol JSON document completely before any node of it is built.

`read_graph(text, source)` returns plain node specs that are known to make a well-formed graph:
every input and head entry points at an existing output of an earlier node (so the graph is
acyclic), `arg_nodes` name variables, every operator exists, its parameters parse and lie in
their ranges (`OpDef.params`), and it is given exactly the inputs its definition declares
(`OpDef.arguments` + `OpDef.aux`). A control-flow node (`_foreach`, `_while_loop`, `_cond`)
carries as many `subgraphs` as its operator runs (`OpDef.extra['subgraphs']`), each checked by
these same rules, their inputs and outputs agreeing with the node's parameters
(`OpDef.extra['check_subgraphs']`); any other node has none. Anything else raises
`SymbolFormatError`, an `MXNetError` naming the source, the node (index, name, operator; a
subgraph's node after its control-flow node) or entry, what was expected and what came.

Work and memory stay proportional to the document: the number of nodes and entries is what the
text holds, and a parameter that sets how many inputs or outputs a node declares (`num_args`,
`num_outputs`, or whatever an `OpDef` derives its lists from) may not exceed `MAX_NODE_IO`;
such parameters are found generically, by asking the `OpDef` with small values (see
`_count_params`), so no operator needs code of its own here.

Where this is stricter than MXNet 1.9.1's loader (which loads some of these graphs and fails
later, or crashes): an operator given more or fewer inputs than it declares, an entry pointing at
a later node or at an output index the node does not have, a variable with inputs, empty heads,
`__shape__`/`__dtype__`/`__lr_mult__`/`__wd_mult__` attributes that do not parse.
"""
import json
from dataclasses import dataclass

from ..base import MXNetError
from ..ops import registry
from ..ops.params import PARSERS, Param

# The most inputs or outputs one operator node may declare. MXNet's int parameters are 32-bit,
# but a node with 2**31 outputs cannot be listed; 65536 is far beyond any real graph.
MAX_NODE_IO = 1 << 16
_FLOAT_ATTRS = ("__lr_mult__", "__wd_mult__")
_SHAPE_ATTR = Param("shape")


class SymbolFormatError(MXNetError):
    """A symbol JSON document that is not a well-formed graph of known operators."""


@dataclass
class NodeSpec:
    """One validated node: `op` is the OpDef (None for a variable); `inputs` are
    `(node index, output index)` pairs that point at earlier nodes only."""

    op: object
    name: str
    attrs: dict
    params: dict
    inputs: list
    num_outputs: int
    subgraphs: tuple = ()


def read_graph(text, source="<json>"):
    """(node specs, heads) of a symbol JSON document (str or UTF-8 bytes).

    Raises:
        SymbolFormatError: for anything that does not make a well-formed graph.
    """
    doc = _parse(text, source)
    check = _Checker(source)
    _check_graph_attrs(check, doc.get("attrs"))
    return _read_nodes(check, doc)


def _read_nodes(check, doc, owner="the document"):
    """(node specs, heads) of one graph object: the document, or a control-flow node's
    subgraph (checked by the same rules, its errors prefixed with where it sits)."""
    outer = check.where
    raw_nodes = check.field(doc, "nodes", list, owner)
    raw_heads = check.field(doc, "heads", list, owner)
    raw_args = check.field(doc, "arg_nodes", list, owner)
    specs = []
    for i, raw in enumerate(raw_nodes):
        specs.append(_node_spec(check, specs, i, raw))
        check.where = outer
    if not raw_heads:
        raise check.error("heads: expected at least one output entry, got []")
    heads = [check.entry(specs, e, f"heads[{k}]") for k, e in enumerate(raw_heads)]
    for k, nid in enumerate(raw_args):
        if not _is_int(nid) or not 0 <= nid < len(specs):
            raise check.error(f"arg_nodes[{k}] is {_short(nid)}: expected a node index in "
                              f"[0, {len(specs)})")
        if specs[nid].op is not None:
            raise check.error(f"arg_nodes[{k}] is node {nid} ({specs[nid].name!r}), an "
                              f"operator ({specs[nid].op.name}): expected a variable")
    return specs, heads


def _parse(text, source):
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise SymbolFormatError(f"load_json: {source} is not UTF-8 text: byte {err.start} "
                                    f"is invalid ({err.reason})") from None
    if not isinstance(text, str):
        raise TypeError(f"load_json: expected a JSON string, got {type(text).__name__}")
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise SymbolFormatError(f"load_json: {source} is not a JSON document ({err})") from None
    except RecursionError:
        raise SymbolFormatError(f"load_json: {source} nests JSON arrays or objects too deeply "
                                "for a symbol document") from None
    if not isinstance(doc, dict):
        raise SymbolFormatError(f"load_json: {source} is not a symbol JSON document: expected "
                                f"an object with nodes, arg_nodes and heads, got "
                                f"{type(doc).__name__}")
    return doc


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON value")


class _Checker:
    """Error helpers that name the source, and the node being checked."""

    def __init__(self, source):
        self.source = source
        self.where = ""

    def error(self, what):
        return SymbolFormatError(f"load_json: {self.source}: {self.where}{what}")

    def field(self, obj, key, kind, owner):
        if key not in obj:
            raise self.error(f"{owner} has no {key!r} field")
        value = obj[key]
        if not isinstance(value, kind):
            raise self.error(f"{key!r} is {_short(value)}: expected a JSON "
                             f"{_JSON_KIND[kind]}")
        return value

    def entry(self, specs, raw, what, hint=""):
        """A `[node, index(, version)]` entry pointing at an output of one of `specs`."""
        if not isinstance(raw, list) or len(raw) not in (2, 3) or \
                not all(_is_int(x) for x in raw):
            raise self.error(f"{what} is {_short(raw)}: expected [node, output(, version)] "
                             f"of integers")
        nid, index = raw[0], raw[1]
        if not 0 <= nid < len(specs):
            raise self.error(f"{what} points at node {nid}: expected a node index in "
                             f"[0, {len(specs)}){hint}")
        target = specs[nid]
        if not 0 <= index < target.num_outputs:
            raise self.error(f"{what} reads output {index} of node {nid} ({target.name!r}), "
                             f"which has {target.num_outputs} output(s)")
        if len(raw) == 3 and raw[2] < 0:
            raise self.error(f"{what} has version {raw[2]}: expected a non-negative integer")
        return nid, index


_JSON_KIND = {list: "array", dict: "object", str: "string"}


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _short(value, limit=60):
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_graph_attrs(check, attrs):
    if attrs is None:
        return
    if not isinstance(attrs, dict):
        raise check.error(f"'attrs' is {_short(attrs)}: expected a JSON object")
    version = attrs.get("mxnet_version")
    if version is not None and not (isinstance(version, list) and len(version) == 2 and
                                    version[0] == "int" and _is_int(version[1])):
        raise check.error(f"attrs.mxnet_version is {_short(version)}: expected [\"int\", N]")


def _node_spec(check, specs, i, raw):
    outer = check.where
    check.where = f"{outer}node {i}: "
    if not isinstance(raw, dict):
        raise check.error(f"expected a JSON object, got {_short(raw)}")
    op_name = check.field(raw, "op", str, "the node")
    name = check.field(raw, "name", str, "the node")
    check.where = f"{outer}node {i} ({name!r}, {op_name}): "
    raw_inputs = check.field(raw, "inputs", list, "the node")
    attrs = _node_attrs(check, raw)
    if op_name == "null":
        if raw_inputs:
            raise check.error(f"a variable has no inputs, got {_short(raw_inputs)}")
        if "subgraphs" in raw:
            raise check.error("a variable has no subgraphs")
        return NodeSpec(None, name, attrs, {}, [], 1)
    inputs = [check.entry(specs, e, f"input {k}", " (a node reads only nodes before it)")
              for k, e in enumerate(raw_inputs)]
    try:
        opdef = registry.get(op_name)
    except MXNetError as err:
        raise check.error(str(err)) from None
    params = {k: v for k, v in attrs.items() if k in opdef.params}
    user = {k: v for k, v in attrs.items() if k not in opdef.params}
    try:
        parsed = opdef.parse(params)
    except MXNetError as err:
        raise check.error(str(err)) from None
    declared, num_outputs = _declared(check, opdef, parsed)
    if len(inputs) != len(declared):
        raise check.error(f"{op_name} with these parameters takes {len(declared)} input(s) "
                          f"{_short(declared)}, the node has {len(inputs)}")
    subgraphs = _subgraphs(check, opdef, parsed, raw)
    return NodeSpec(opdef, name, user, params, inputs, num_outputs, subgraphs)


def _subgraphs(check, opdef, parsed, raw):
    """The node's subgraphs, as many as its operator runs, each a well-formed graph whose
    inputs and outputs agree with the node's parameters (`extra['check_subgraphs']`)."""
    want = opdef.extra.get("subgraphs", 0)
    raw_subgraphs = raw.get("subgraphs", [])
    if not isinstance(raw_subgraphs, list):
        raise check.error(f"'subgraphs' is {_short(raw_subgraphs)}: expected a JSON array")
    if len(raw_subgraphs) != want:
        raise check.error(f"{opdef.name} runs {want} subgraph(s), the node has "
                          f"{len(raw_subgraphs)}")
    node_where = check.where
    out = []
    for k, sub in enumerate(raw_subgraphs):
        check.where = f"{node_where}subgraph {k}: "
        if not isinstance(sub, dict):
            raise check.error(f"expected a graph object, got {_short(sub)}")
        out.append(_read_nodes(check, sub, "the subgraph"))
    check.where = node_where
    if want:
        sizes = [(_count_inputs(specs, heads), len(heads)) for specs, heads in out]
        problem = opdef.extra["check_subgraphs"](parsed, sizes)
        if problem:
            raise check.error(problem)
    return tuple(out)


def _count_inputs(specs, heads):
    """How many variables the graph under `heads` reads."""
    seen, stack, count = set(), [nid for nid, _ in heads], 0
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        if specs[nid].op is None:
            count += 1
        stack.extend(c for c, _ in specs[nid].inputs)
    return count


def _node_attrs(check, raw):
    attrs = raw.get("attrs") or raw.get("attr") or raw.get("param") or {}
    if not isinstance(attrs, dict):
        raise check.error(f"attrs is {_short(attrs)}: expected a JSON object of strings")
    attrs = dict(attrs)
    if "param" in raw and "attr" in raw:
        if not isinstance(raw["param"], dict):
            raise check.error(f"param is {_short(raw['param'])}: expected a JSON object")
        attrs.update(raw["param"])
    for key, value in attrs.items():
        if not isinstance(value, str):
            raise check.error(f"attribute {key!r} is {_short(value)}: expected a string")
    _check_hidden_attrs(check, attrs)
    return attrs


def _check_hidden_attrs(check, attrs):
    """The attributes bucketmod itself reads later must parse now."""
    if "__shape__" in attrs:
        try:
            _SHAPE_ATTR.parse("variable", "__shape__", attrs["__shape__"])
        except MXNetError as err:
            raise check.error(str(err)) from None
    if "__dtype__" in attrs:
        from .graph import DTYPE_CODES
        code = attrs["__dtype__"].strip()
        if not (code.lstrip("-").isdigit() and len(code) < 6 and int(code) in DTYPE_CODES):
            raise check.error(f"attribute __dtype__ is {_short(attrs['__dtype__'])}: expected "
                              f"one of the type codes {sorted(DTYPE_CODES)}")
    for key in _FLOAT_ATTRS:
        if key in attrs:
            try:
                PARSERS["float"](attrs[key])
            except ValueError:
                raise check.error(f"attribute {key} is {_short(attrs[key])}: expected a "
                                  f"number") from None


def _declared(check, opdef, parsed):
    """(input names, number of outputs) of an operator node, with the counts bounded first."""
    for key in _count_params(opdef, parsed):
        value = parsed[key]
        if value > MAX_NODE_IO:
            raise check.error(f"parameter {key}={value} sets how many inputs or outputs the "
                              f"node has: at most {MAX_NODE_IO} are supported")
    try:
        declared = list(opdef.arguments(parsed)) + list(opdef.aux(parsed))
        num_outputs = len(opdef.outputs(parsed))
    except Exception as err:
        raise check.error(f"{opdef.name} cannot take these parameters "
                          f"({type(err).__name__}: {err})") from None
    if num_outputs < 1:
        raise check.error(f"{opdef.name} with these parameters has no outputs")
    return declared, num_outputs


def _count_params(opdef, parsed):
    """The int parameters above MAX_NODE_IO that change the input or output count.

    Each is probed by evaluating the OpDef's `arguments`/`aux`/`outputs` with it set to 1 and
    to 2 (the other large ones at 1); a parameter whose probe fails is treated as a count too.
    """
    big = [k for k, v in parsed.items() if _is_int(v) and abs(v) > MAX_NODE_IO]
    small = dict(parsed, **dict.fromkeys(big, 1))
    counts = []
    for key in big:
        try:
            sizes = {_io_sizes(opdef, dict(small, **{key: n})) for n in (1, 2)}
        except Exception:
            sizes = {None, 0}
        if len(sizes) > 1:
            counts.append(key)
    return counts


def _io_sizes(opdef, params):
    return (len(opdef.arguments(params)), len(opdef.aux(params)), len(opdef.outputs(params)))
