"""Tensor operators: shape manipulation, reductions, elementwise/broadcast/scalar arithmetic and
unary math, registered with MXNet's names (symbol arithmetic uses the `_`-prefixed ones)."""
import torch

from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch, infer_reshape, merge, size


def _same(p, s):
    return s, [s[0]]


def _unary(name, fn, aliases=(), params=None):
    register(OpDef(name=name, params=params or {}, aliases=aliases, infer_shape=_same,
                   forward=lambda p, x, aux, train: [fn(x[0], p)]))


def _elemwise_infer(p, s):
    shape = merge("rhs", s[1], s[0])
    return [shape, shape], [shape]


def _broadcast_shape(a, b):
    if a is None or b is None:
        return None
    if len(a) != len(b):
        raise ShapeMismatch("rhs", f"the same number of axes as lhs {a}", b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ShapeMismatch("rhs", f"a shape broadcastable with {a}", b)
        out.append(max(x, y))
    return tuple(out)


def _broadcast_infer(p, s):
    return s, [_broadcast_shape(s[0], s[1])]


def _binary(name, fn, hint_aliases=(), broadcast=False):
    register(OpDef(name=name, params={}, aliases=hint_aliases,
                   arguments=lambda p: ["lhs", "rhs"],
                   infer_shape=_broadcast_infer if broadcast else _elemwise_infer,
                   forward=lambda p, x, aux, train: [fn(x[0], x[1])]))


def _scalar(name, fn, aliases=()):
    register(OpDef(name=name, params={"scalar": Param("float", 1.0),
                                      "is_int": Param("bool", True)},
                   aliases=aliases, infer_shape=_same,
                   forward=lambda p, x, aux, train: [fn(x[0], p["scalar"])]))


def _cmp(fn):
    return lambda a, b: fn(a, b).to(a.dtype)


_ALIASES = {"elemwise_add": ("_plus", "_Plus", "_add"),
            "elemwise_sub": ("_minus", "_Minus", "_sub"),
            "elemwise_mul": ("_mul", "_Mul"), "elemwise_div": ("_div", "_Div"),
            "broadcast_add": ("broadcast_plus",), "broadcast_sub": ("broadcast_minus",)}
for _op, _fn in (("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div)):
    _binary(f"elemwise_{_op}", _fn, _ALIASES.get(f"elemwise_{_op}", ()))
    _binary(f"broadcast_{_op}", _fn, _ALIASES.get(f"broadcast_{_op}", ()), broadcast=True)

_binary("_power", torch.pow, ("_Power",))
_binary("_maximum", torch.maximum, ("_Maximum",))
_binary("_minimum", torch.minimum, ("_Minimum",))
_binary("_hypot", torch.hypot, ("_Hypot",))
_binary("_mod", torch.fmod, ("_Mod",))
_binary("broadcast_power", torch.pow, broadcast=True)
_binary("broadcast_maximum", torch.maximum, broadcast=True)
_binary("broadcast_minimum", torch.minimum, broadcast=True)
for _name, _fn in (("equal", torch.eq), ("not_equal", torch.ne), ("greater", torch.gt),
                   ("greater_equal", torch.ge), ("lesser", torch.lt), ("lesser_equal", torch.le)):
    _binary(f"_{_name}", _cmp(_fn))
    _binary(f"broadcast_{_name}", _cmp(_fn), broadcast=True)
    _scalar(f"_{_name}_scalar", _cmp(_fn))

_scalar("_plus_scalar", torch.add, ("_PlusScalar",))
_scalar("_minus_scalar", torch.sub, ("_MinusScalar",))
_scalar("_rminus_scalar", lambda x, s: s - x, ("_RMinusScalar",))
_scalar("_mul_scalar", torch.mul, ("_MulScalar",))
_scalar("_div_scalar", torch.div, ("_DivScalar",))
_scalar("_rdiv_scalar", lambda x, s: s / x, ("_RDivScalar",))
_scalar("_power_scalar", torch.pow, ("_PowerScalar",))
_scalar("_rpower_scalar", lambda x, s: torch.pow(s, x), ("_RPowerScalar",))
_scalar("_maximum_scalar", lambda x, s: torch.clamp(x, min=s), ("_MaximumScalar",))
_scalar("_minimum_scalar", lambda x, s: torch.clamp(x, max=s), ("_MinimumScalar",))
_scalar("_mod_scalar", torch.fmod, ("_ModScalar",))

for _name, _fn in (("negative", torch.neg), ("exp", torch.exp), ("log", torch.log),
                   ("sqrt", torch.sqrt), ("square", torch.square), ("abs", torch.abs),
                   ("tanh", torch.tanh), ("sigmoid", torch.sigmoid), ("relu", torch.relu),
                   ("sign", torch.sign), ("rsqrt", torch.rsqrt), ("log1p", torch.log1p),
                   ("expm1", torch.expm1), ("sin", torch.sin), ("cos", torch.cos),
                   ("floor", torch.floor), ("ceil", torch.ceil), ("round", torch.round),
                   ("reciprocal", torch.reciprocal),
                   ("softsign", torch.nn.functional.softsign)):
    _unary(_name, lambda x, p, fn=_fn: fn(x))
_unary("zeros_like", lambda x, p: torch.zeros_like(x))
_unary("ones_like", lambda x, p: torch.ones_like(x))
_unary("BlockGrad", lambda x, p: x.detach(), aliases=("stop_gradient",))
_unary("identity", lambda x, p: x, aliases=("_copy",))
_unary("clip", lambda x, p: torch.clamp(x, p["a_min"], p["a_max"]),
       params={"a_min": Param("float"), "a_max": Param("float")})


def _where_infer(p, s):
    shape = merge("x", s[1], s[2])
    if s[0] is not None and shape is not None and len(s[0]) == 1 and len(shape) > 1:
        return [s[0], shape, shape], [shape]
    shape = merge("condition", s[0], shape)
    return [shape, shape, shape], [shape]


def _where_forward(p, x, aux, train):
    cond, a, b = x
    if cond.dim() == 1 and a.dim() > 1:
        cond = cond.reshape((-1,) + (1,) * (a.dim() - 1))
    return [torch.where(cond != 0, a, b)]


register(OpDef(name="where", params={}, arguments=lambda p: ["condition", "x", "y"],
               infer_shape=_where_infer, forward=_where_forward))


# -- shape manipulation -----------------------------------------------------------------------
def _reshape_target(p):
    return p["shape"] if p["shape"] else p["target_shape"]


def _reshape_infer(p, s):
    if s[0] is None:
        return s, [None]
    try:
        return s, [infer_reshape(s[0], _reshape_target(p), p["reverse"])]
    except (ValueError, IndexError) as err:
        raise ShapeMismatch("data", f"a shape that Reshape {_reshape_target(p)} accepts "
                            f"({err})", s[0]) from None


register(OpDef(
    name="Reshape", aliases=("reshape",),
    params={"shape": Param("shape", ()), "reverse": Param("bool", False),
            "target_shape": Param("shape", ()), "keep_highest": Param("bool", False)},
    infer_shape=_reshape_infer,
    forward=lambda p, x, aux, train: [x[0].reshape(
        infer_reshape(x[0].shape, _reshape_target(p), p["reverse"]))],
))
register(OpDef(
    name="Flatten", aliases=("flatten",), params={},
    infer_shape=lambda p, s: (s, [None if s[0] is None else (s[0][0], size(s[0][1:]))]),
    forward=lambda p, x, aux, train: [x[0].reshape(x[0].shape[0], -1)],
))


def _variadic_args(p):
    return [f"arg{i}" for i in range(p["num_args"])]


def _concat_infer(p, s):
    dim = p["dim"]
    known = [x for x in s if x is not None]
    if len(known) < len(s):
        return s, [None]
    ref = known[0]
    for i, x in enumerate(s):
        if len(x) != len(ref) or any(a != b for j, (a, b) in enumerate(zip(x, ref))
                                     if j != dim % len(ref)):
            raise ShapeMismatch(f"arg{i}", f"{ref} apart from axis {dim}", x)
    out = list(ref)
    out[dim % len(ref)] = sum(x[dim % len(ref)] for x in s)
    return s, [tuple(out)]


register(OpDef(
    name="Concat", aliases=("concat",), variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1), "dim": Param("int", 1)},
    arguments=_variadic_args,
    infer_shape=_concat_infer,
    forward=lambda p, x, aux, train: [torch.cat(list(x), dim=p["dim"])],
))


def _common_shape(s):
    """The one shape every variadic input must have (merged from the known ones)."""
    shape = None
    for i, x in enumerate(s):
        shape = merge(f"arg{i}", shape, x)
    return shape


def _stack_infer(p, s):
    shape = _common_shape(s)
    s = [shape] * len(s)
    if shape is None:
        return s, [None]
    out = list(shape)
    out.insert(p["axis"] % (len(shape) + 1), len(s))
    return s, [tuple(out)]


register(OpDef(
    name="stack", variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1), "axis": Param("int", 0)},
    arguments=_variadic_args,
    infer_shape=_stack_infer,
    forward=lambda p, x, aux, train: [torch.stack(list(x), dim=p["axis"])],
))


def _add_n_infer(p, s):
    shape = _common_shape(s)
    return [shape] * len(s), [shape]


register(OpDef(
    name="add_n", aliases=("ElementWiseSum",), variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1)},
    arguments=_variadic_args,
    infer_shape=_add_n_infer,
    forward=lambda p, x, aux, train: [torch.stack(list(x)).sum(0) if len(x) > 1 else x[0] * 1],
))


def _slice_channel_infer(p, s):
    d = s[0]
    n = p["num_outputs"]
    if d is None:
        return s, [None] * n
    axis = p["axis"] % len(d)
    if d[axis] % n:
        raise ShapeMismatch("data", f"axis {axis} divisible by num_outputs={n}", d)
    part = list(d)
    part[axis] = d[axis] // n
    if p["squeeze_axis"]:
        if part[axis] != 1:
            raise ShapeMismatch("data", f"axis {axis} of size num_outputs={n} to squeeze", d)
        part.pop(axis)
    return s, [tuple(part)] * n


def _slice_channel_forward(p, x, aux, train):
    parts = torch.chunk(x[0], p["num_outputs"], dim=p["axis"])
    if p["squeeze_axis"]:
        parts = [t.squeeze(p["axis"]) for t in parts]
    return list(parts)


register(OpDef(
    name="SliceChannel", aliases=("split",),
    params={"num_outputs": Param("int", lower=1), "axis": Param("int", 1),
            "squeeze_axis": Param("bool", False)},
    outputs=lambda p: [f"output{i}" for i in range(p["num_outputs"])],
    infer_shape=_slice_channel_infer, forward=_slice_channel_forward,
))


def _expand_infer(p, s):
    if s[0] is None:
        return s, [None]
    out = list(s[0])
    out.insert(p["axis"] % (len(out) + 1), 1)
    return s, [tuple(out)]


register(OpDef(name="expand_dims", params={"axis": Param("int")}, infer_shape=_expand_infer,
               forward=lambda p, x, aux, train: [x[0].unsqueeze(p["axis"])]))


def _swap_infer(p, s):
    if s[0] is None:
        return s, [None]
    out = list(s[0])
    out[p["dim1"]], out[p["dim2"]] = out[p["dim2"]], out[p["dim1"]]
    return s, [tuple(out)]


register(OpDef(name="SwapAxis", aliases=("swapaxes",),
               params={"dim1": Param("int", 0), "dim2": Param("int", 0)},
               infer_shape=_swap_infer,
               forward=lambda p, x, aux, train: [x[0].transpose(p["dim1"], p["dim2"])]))


def _axes(p, ndim):
    return tuple(p["axes"]) if p["axes"] else tuple(reversed(range(ndim)))


register(OpDef(
    name="transpose", params={"axes": Param("shape", ())},
    infer_shape=lambda p, s: (s, [None if s[0] is None else
                                  tuple(s[0][a] for a in _axes(p, len(s[0])))]),
    forward=lambda p, x, aux, train: [x[0].permute(*_axes(p, x[0].dim()))],
))


# -- reductions -------------------------------------------------------------------------------
def _reduce_axes(p, ndim):
    axis = p["axis"]
    axes = tuple(range(ndim)) if axis is None else (
        (axis,) if isinstance(axis, int) else tuple(axis))
    axes = tuple(sorted(a % ndim for a in axes))
    if p["exclude"]:
        axes = tuple(a for a in range(ndim) if a not in axes)
    return axes


def _reduce_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    axes = _reduce_axes(p, len(d))
    if p["keepdims"]:
        out = tuple(1 if i in axes else n for i, n in enumerate(d))
    else:
        out = tuple(n for i, n in enumerate(d) if i not in axes) or (1,)
    return s, [out]


def _reducer(fn):
    def forward(p, x, aux, train):
        data = x[0]
        axes = _reduce_axes(p, data.dim())
        out = fn(data, dim=axes, keepdim=p["keepdims"]) if axes else data
        return [out.reshape(1) if out.dim() == 0 else out]
    return forward


_REDUCE_PARAMS = {"axis": Param("axis", None), "keepdims": Param("bool", False),
                  "exclude": Param("bool", False)}
register(OpDef(name="sum", aliases=("sum_axis",), params=_REDUCE_PARAMS,
               infer_shape=_reduce_infer, forward=_reducer(torch.sum)))
register(OpDef(name="mean", params=_REDUCE_PARAMS, infer_shape=_reduce_infer,
               forward=_reducer(torch.mean)))
register(OpDef(name="max", aliases=("max_axis",), params=_REDUCE_PARAMS,
               infer_shape=_reduce_infer, forward=_reducer(torch.amax)))
register(OpDef(name="min", aliases=("min_axis",), params=_REDUCE_PARAMS,
               infer_shape=_reduce_infer, forward=_reducer(torch.amin)))
