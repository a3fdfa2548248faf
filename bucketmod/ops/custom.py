"""`Custom`: the one registry entry behind every `mx.operator` op, chosen by its `op_type`.

A Custom node's params are `op_type` plus whatever its registered `CustomOpProp` takes, all
strings as in MXNet. Parsing them makes the prop (`prop_cls(**strings)`), which then gives the
node its arguments, outputs, aux states, shape and type rules, and which of `out_grad`,
`in_data`, `out_data` its backward reads (`declare_backward_dependency`). The user's
`CustomOp` runs inside `CustomFunction`, a torch autograd Function whose backward calls the
user's `backward`, so the executor treats a Custom node like any other operator. A bound node
makes its `CustomOp` once (`create_operator`), on its first forward.
"""
import warnings

import torch

from ..base import MXNetError
from .params import Param, param_to_string
from .registry import OpDef, register

_PROPS = {}
_DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.uint8: 3,
                torch.int32: 4, torch.int8: 5, torch.int64: 6, torch.bool: 7,
                torch.bfloat16: 12}


def register_prop(op_type, prop_cls):
    """Make `prop_cls` the prop of `op_type`; a second registration warns and replaces it."""
    if not isinstance(op_type, str) or not op_type:
        raise TypeError(f"register: the op name must be a non-empty str, got {op_type!r}")
    if op_type in _PROPS:
        warnings.warn(f"New registration is overriding existing custom operator {op_type!r}",
                      stacklevel=3)
    _PROPS[op_type] = prop_cls


def registered_op_types():
    return sorted(_PROPS)


class _Params(dict):
    """Custom's params schema: `op_type`, then any name the prop takes (never `__attr__`s).

    Membership is what JSON loading uses to tell a node's params from its attributes.
    """

    def __contains__(self, key):
        return not (key.startswith("__") and key.endswith("__"))


def _parse(given):
    strings = {k: param_to_string(v) for k, v in given.items()}
    op_type = strings.pop("op_type", None)
    if not op_type:
        raise MXNetError("Custom: required parameter op_type is not given")
    prop_cls = _PROPS.get(op_type)
    if prop_cls is None:
        raise MXNetError(f"Cannot find custom operator {op_type!r}: register its CustomOpProp "
                         f"with @mx.operator.register({op_type!r}) before building or loading "
                         f"a graph that uses it")
    try:
        prop = prop_cls(**strings)
    except TypeError as err:
        raise MXNetError(f"Custom op_type={op_type!r}: {prop_cls.__name__} does not take the "
                         f"parameters {sorted(strings)} ({err})") from None
    n_args, n_out = len(prop.list_arguments()), len(prop.list_outputs())
    deps = prop.declare_backward_dependency(list(range(n_out)),
                                            list(range(n_out, n_out + n_args)),
                                            list(range(n_out + n_args, 2 * n_out + n_args)))
    return {"op_type": op_type, "kwargs": strings, "prop": prop, "deps": frozenset(deps)}


class CustomOpDef(OpDef):
    """The `Custom` entry: params parse into the prop; a node is a loss (needs no head
    gradient) when its backward reads no `out_grad`, as in MXNet."""

    def parse(self, given):
        return _parse(given)

    def loss(self, p):
        n_out = len(p["prop"].list_outputs())
        return not any(i < n_out for i in p["deps"])


def _shape_or_none(shape):
    shape = tuple(int(d) for d in shape)
    return shape or None


def _checked(what, op_type, result, counts):
    """infer_shape/infer_type's 2 or 3 lists, each the length MXNet requires."""
    if not isinstance(result, (list, tuple)) or len(result) not in (2, 3):
        raise MXNetError(f"{op_type}.{what} must return 2 or 3 lists, got {result!r}")
    lists = [list(r) for r in result] + ([[]] if len(result) == 2 else [])
    for kind, got, want in zip(("input", "output", "aux state"), lists, counts):
        if len(got) != want:
            raise MXNetError(f"{op_type}.{what}: expected {want} {kind} entries, got "
                             f"{len(got)}")
    return lists


def _counts(prop):
    return (len(prop.list_arguments()), len(prop.list_outputs()),
            len(prop.list_auxiliary_states()))


def _infer_shape(p, s):
    prop, op_type = p["prop"], p["op_type"]
    counts = _counts(prop)
    n_args = counts[0]
    try:
        result = prop.infer_shape([list(x) if x is not None else [] for x in s[:n_args]])
        ins, outs, auxs = _checked("infer_shape", op_type, result, counts)
    except Exception as err:
        if all(x is not None for x in s[:n_args]):
            if isinstance(err, MXNetError):
                raise
            raise MXNetError(f"Error in {op_type}.infer_shape: {type(err).__name__}: "
                             f"{err}") from err
        return s, [None] * counts[1]
    return [_shape_or_none(x) for x in ins + auxs], [_shape_or_none(x) for x in outs]


def _infer_type(p, types):
    prop, op_type = p["prop"], p["op_type"]
    counts = _counts(prop)
    try:
        ins, outs, auxs = _checked("infer_type", op_type, prop.infer_type(types[:counts[0]]),
                                   counts)
    except Exception:
        if all(t is not None for t in types[:counts[0]]):
            raise
        return types, [None] * counts[1]
    auxs = auxs or [None] * counts[2]
    return list(ins) + list(auxs), list(outs)


class _BoundOp:
    """A bound Custom node's `CustomOp` (made on the first forward) and its output shapes and
    dtypes for each input signature."""

    __slots__ = ("device", "op", "meta")

    def __init__(self, device=None):
        self.device = device
        self.op = None
        self.meta = {}


def _bind(p, out_shapes, device):
    return dict(p, bound=_BoundOp(device))


def _out_meta(p, tensors, n_args):
    """Output shapes and torch dtypes from the prop's rules on these inputs' shapes/dtypes."""
    from ..dtype import to_numpy_dtype, to_torch_dtype
    prop = p["prop"]
    _, outs = _infer_shape(p, [tuple(t.shape) for t in tensors])
    in_types = [to_numpy_dtype(t.dtype) for t in tensors[:n_args]]
    _, out_types = _infer_type(p, in_types + [to_numpy_dtype(t.dtype) for t in tensors[n_args:]])
    if any(s is None for s in outs):
        raise MXNetError(f"{p['op_type']}.infer_shape left an output shape unknown for inputs "
                         f"{[tuple(t.shape) for t in tensors]}")
    n_out = len(prop.list_outputs())
    out_types = list(out_types) + [None] * (n_out - len(out_types))
    fallback = tensors[0].dtype if tensors else torch.float32
    return outs, [fallback if t is None else to_torch_dtype(t) for t in out_types]


def _create_operator(p, bound, tensors, device):
    from ..context import context_of_device
    shapes = [list(t.shape) for t in tensors]
    dtypes = [_DTYPE_CODES.get(t.dtype, -1) for t in tensors]
    op = p["prop"].create_operator(context_of_device(device), shapes, dtypes)
    if bound is not None:
        bound.op = op
    return op


def _custom_forward(p, inputs, aux, is_train):
    bound = p.get("bound")
    tensors = list(inputs) + list(aux)
    device = tensors[0].device if tensors else (bound.device if bound else None) or \
        torch.device("cpu")
    op = bound.op if bound is not None and bound.op is not None else \
        _create_operator(p, bound, tensors, device)
    key = tuple((tuple(t.shape), t.dtype) for t in tensors)
    meta = bound.meta.get(key) if bound is not None else None
    if meta is None:
        meta = _out_meta(p, tensors, len(inputs))
        if bound is not None:
            bound.meta[key] = meta
    call = _Call(p, op, aux, bool(is_train), meta, device)
    return list(CustomFunction.apply(call, *inputs))


class _Call:
    """What CustomFunction needs beside the input tensors."""

    __slots__ = ("p", "op", "aux", "is_train", "meta", "device")

    def __init__(self, p, op, aux, is_train, meta, device):
        self.p, self.op, self.aux, self.is_train = p, op, aux, is_train
        self.meta, self.device = meta, device


def _wrap(tensors):
    from ..ndarray.ndarray import NDArray
    return [NDArray(t) for t in tensors]


class CustomFunction(torch.autograd.Function):
    """The user's CustomOp as one autograd node: `forward` fills fresh outputs through
    `op.forward`, `backward` hands `op.backward` the arrays its prop declared (others are empty
    arrays) and fresh input gradients with req 'write' (or 'null' where none is needed)."""

    @staticmethod
    def forward(ctx, call, *inputs):
        shapes, dtypes = call.meta
        outs = [torch.zeros(s, dtype=dt, device=call.device) for s, dt in zip(shapes, dtypes)]
        in_data = _wrap([x.detach() for x in inputs])
        call.op.forward(is_train=call.is_train, req=["write"] * len(outs), in_data=in_data,
                        out_data=_wrap(outs), aux=_wrap(call.aux))
        n_out, deps = len(outs), call.p["deps"]
        keep_in = [n_out + i in deps for i in range(len(inputs))]
        keep_out = [n_out + len(inputs) + i in deps for i in range(n_out)]
        ctx.call, ctx.keep = call, (keep_in, keep_out)
        ctx.inputs_meta = [(x.shape, x.dtype) for x in inputs]
        ctx.save_for_backward(*[x for x, k in zip(inputs, keep_in) if k],
                              *[y for y, k in zip(outs, keep_out) if k])
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        call = ctx.call
        keep_in, keep_out = ctx.keep
        saved = iter(ctx.saved_tensors)
        device = call.device

        def empty(dtype):
            return torch.empty(0, dtype=dtype, device=device)

        in_data = [next(saved) if k else empty(dt) for k, (_, dt) in zip(keep_in,
                                                                          ctx.inputs_meta)]
        out_data = [next(saved) if k else empty(dt) for k, dt in zip(keep_out, call.meta[1])]
        deps = call.p["deps"]
        out_grad = [g if i in deps and g is not None else empty(dt)
                    for i, (g, dt) in enumerate(zip(grads, call.meta[1]))]
        need = ctx.needs_input_grad[1:]
        in_grad = [torch.zeros(s, dtype=dt, device=device) for s, dt in ctx.inputs_meta]
        call.op.backward(req=["write" if n else "null" for n in need], out_grad=_wrap(out_grad),
                         in_data=_wrap(in_data), out_data=_wrap(out_data),
                         in_grad=_wrap(in_grad), aux=_wrap(call.aux))
        return (None, *[g if n else None for g, n in zip(in_grad, need)])


register(CustomOpDef(
    name="Custom", params=_Params(op_type=Param("str")),
    arguments=lambda p: list(p["prop"].list_arguments()),
    aux=lambda p: list(p["prop"].list_auxiliary_states()),
    outputs=lambda p: list(p["prop"].list_outputs()),
    infer_shape=_infer_shape, infer_type=_infer_type, bind_params=_bind,
    forward=_custom_forward,
))
