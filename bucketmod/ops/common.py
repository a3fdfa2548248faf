"""What the operator families share: shape rules (same shape, MXNet's broadcasting, reduction
axes), dtype lookups and the OpDef builders for the common operator forms."""

from ..dtype import to_torch_dtype
from .params import Param
from .registry import OpDef
from .shape_ops import ShapeMismatch, merge


def same_shape(p, s):
    """Output shape = every input's shape (merged both ways)."""
    shape = None
    for i, x in enumerate(s):
        shape = merge(f"input {i}", shape, x)
    return [shape] * len(s), [shape]


def first_shape(p, s):
    """Output shape = the first input's; the other inputs are left as they are."""
    return s, [s[0]]


def broadcast_shape(a, b, name="rhs"):
    """MXNet's broadcasting: align right, pad the shorter shape with 1s on the left, and every
    pair of dims is equal or has a 1 (0 is an unknown dim)."""
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    a1 = (1,) * (n - len(a)) + tuple(a)
    b1 = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a1, b1):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif x == 0 or y == 0:
            out.append(max(x, y))
        else:
            raise ShapeMismatch(name, f"a shape broadcastable with {tuple(a)}", tuple(b))
    return tuple(out)


def broadcast_infer(p, s):
    return s, [broadcast_shape(s[0], s[1])]


def variadic_args(p, key="num_args", prefix="arg"):
    return [f"{prefix}{i}" for i in range(p[key])]


def torch_dtype(name, default=None):
    """A dtype param (a name or None) -> torch dtype; None gives `default`."""
    return default if name is None else to_torch_dtype(name)


def norm_axis(axis, ndim, what="axis"):
    if not -ndim <= axis < max(ndim, 1):
        raise ShapeMismatch("data", f"at least {axis + 1 if axis >= 0 else -axis} axes for "
                            f"{what}={axis}", f"{ndim} axes")
    return axis % ndim if ndim else 0


def reduce_axes(axis, ndim, exclude=False):
    """MXNet's reduction axes: None or () reduce all (whatever `exclude` says)."""
    if axis is None or axis == ():
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(sorted(norm_axis(a, ndim) for a in axes))
    if len(set(axes)) != len(axes):
        raise ShapeMismatch("data", f"distinct reduction axes, not {axis}", axes)
    if exclude:
        axes = tuple(a for a in range(ndim) if a not in axes)
    return axes


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes) or (1,)


def unary_op(name, fn, params=None, aliases=(), **kwargs):
    """An elementwise operator `fn(x, p)` whose output has its input's shape."""
    return OpDef(name=name, params=params or {}, aliases=aliases, infer_shape=same_shape,
                 forward=lambda p, x, aux, train: [fn(x[0], p)], **kwargs)


def binary_op(name, fn, broadcast=False, aliases=(), **kwargs):
    """A two-input operator `fn(lhs, rhs)`: the same shape, or MXNet's broadcasting."""
    if broadcast:
        def forward(p, x, aux, train):
            a, b = x
            n = max(a.dim(), b.dim())
            return [fn(a.reshape((1,) * (n - a.dim()) + a.shape),
                       b.reshape((1,) * (n - b.dim()) + b.shape))]
    else:
        def forward(p, x, aux, train):
            return [fn(x[0], x[1])]
    return OpDef(name=name, params={}, aliases=aliases, arguments=lambda p: ["lhs", "rhs"],
                 infer_shape=broadcast_infer if broadcast else same_shape, forward=forward,
                 **kwargs)


SCALAR_PARAMS = {"scalar": Param("float", 1.0), "is_int": Param("bool", True)}


def scalar_op(name, fn, aliases=()):
    """An operator of one array and the `scalar` param."""
    return OpDef(name=name, params=SCALAR_PARAMS, aliases=aliases, infer_shape=same_shape,
                 forward=lambda p, x, aux, train: [fn(x[0], p["scalar"])])


def as_float_mask(cond, like):
    """A 0/1 tensor in `like`'s dtype (MXNet's comparisons keep the input dtype)."""
    return cond.to(like.dtype)
