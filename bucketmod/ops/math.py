"""Elementwise operators: unary math, same-shape and broadcast binary arithmetic, comparisons
and logic, scalar arithmetic (what Symbol/NDArray operators build), casts, where, add_n,
clip and khatri_rao, with MXNet's names, rounding rules and gradients."""
import math

import numpy as np
import torch

from .common import (
    binary_op,
    same_shape,
    scalar_op,
    torch_dtype,
    unary_op,
    variadic_args,
)
from .params import Param
from .registry import OpDef, register
from .shape_ops import merge


def _round_half_away(x):
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _rint(x):
    """MXNet's rint picks the floor on a tie (2.5 -> 2, -2.5 -> -3)."""
    lo, hi = torch.floor(x), torch.ceil(x)
    return torch.where(x - lo <= hi - x, lo, hi)


def _gamma(x):
    """tgamma: exp(lgamma) with the sign of Gamma on the negative axis."""
    odd = torch.remainder(torch.floor(x), 2) != 0
    sign = torch.where((x < 0) & odd, -torch.ones_like(x), torch.ones_like(x))
    return sign * torch.exp(torch.lgamma(x))


def _cbrt(x):
    return torch.sign(x) * x.abs().pow(1.0 / 3.0)


def _no_grad(fn):
    """An elementwise function whose MXNet gradient is zero (rounding, sign)."""
    return lambda x: fn(x.detach())


UNARY = {
    "abs": torch.abs, "arccos": torch.acos, "arccosh": torch.acosh, "arcsin": torch.asin,
    "arcsinh": torch.asinh, "arctan": torch.atan, "arctanh": torch.atanh, "cbrt": _cbrt,
    "ceil": _no_grad(torch.ceil), "cos": torch.cos, "cosh": torch.cosh,
    "degrees": lambda x: x * (180.0 / math.pi), "erf": torch.erf, "erfinv": torch.erfinv,
    "exp": torch.exp, "expm1": torch.expm1, "fix": _no_grad(torch.trunc),
    "floor": _no_grad(torch.floor), "gamma": _gamma, "gammaln": torch.lgamma,
    "log": torch.log, "log10": torch.log10, "log1p": torch.log1p, "log2": torch.log2,
    "logical_not": lambda x: (x.detach() == 0).to(x.dtype), "negative": torch.neg,
    "radians": lambda x: x * (math.pi / 180.0), "rcbrt": lambda x: 1.0 / _cbrt(x),
    "reciprocal": torch.reciprocal, "relu": torch.relu, "rint": _no_grad(_rint),
    "round": _no_grad(_round_half_away), "rsqrt": torch.rsqrt, "sigmoid": torch.sigmoid,
    "sign": _no_grad(torch.sign), "sin": torch.sin, "sinh": torch.sinh,
    "softsign": torch.nn.functional.softsign, "sqrt": torch.sqrt, "square": torch.square,
    "tan": torch.tan, "tanh": torch.tanh, "trunc": _no_grad(torch.trunc),
    "zeros_like": lambda x: torch.zeros_like(x.detach()),
    "ones_like": lambda x: torch.ones_like(x.detach()),
}
for _name, _fn in UNARY.items():
    register(unary_op(_name, lambda x, p, fn=_fn: fn(x)))

register(unary_op("identity", lambda x, p: x, aliases=("_copy",)))
register(unary_op("BlockGrad", lambda x, p: x.detach(), aliases=("stop_gradient",)))
register(unary_op("clip", lambda x, p: torch.clamp(x, p["a_min"], p["a_max"]),
                  params={"a_min": Param("float"), "a_max": Param("float")}))
register(unary_op("hard_sigmoid",
                  lambda x, p: torch.clamp(x * p["alpha"] + p["beta"], 0.0, 1.0),
                  params={"alpha": Param("float", 0.2), "beta": Param("float", 0.5)}))


def _cast_type(p, t):
    return [t[0]], [p["dtype"]]


_CAST_DTYPES = ("bfloat16", "bool", "float16", "float32", "float64", "int32", "int64", "int8",
                "uint8")
register(unary_op("Cast", lambda x, p: x.to(torch_dtype(p["dtype"])), aliases=("cast",),
                  params={"dtype": Param("dtype", choices=_CAST_DTYPES)},
                  infer_type=_cast_type))
register(unary_op("amp_cast", lambda x, p: x.to(torch_dtype(p["dtype"])),
                  params={"dtype": Param("dtype", choices=_CAST_DTYPES[:1] + _CAST_DTYPES[2:])},
                  infer_type=_cast_type))


_MIXED = ("float16", "float32", "bfloat16")


def _dtype_name(t):
    return t if isinstance(t, str) else np.dtype(t).name


def _multicast_types(p, types):
    """MXNet's rule: float16/32/bfloat16 inputs all take float32 if any is float32 (with
    cast_narrow: float16, or bfloat16, if any is); other dtypes pass through."""
    names = [None if t is None else _dtype_name(t) for t in types]
    if p["cast_narrow"]:
        target = next((n for n in names if n in ("float16", "bfloat16")), "float32")
    else:
        target = "float32" if "float32" in names else names[0]
    return [n if n not in _MIXED else target for n in names]


def _multicast_forward(p, x, aux, train):
    names = _multicast_types(p, [str(t.dtype).replace("torch.", "") for t in x])
    return [t.to(torch_dtype(n)) for t, n in zip(x, names)]


register(OpDef(
    name="amp_multicast", variadic="num_outputs",
    params={"num_outputs": Param("int", lower=1), "cast_narrow": Param("bool", False)},
    arguments=lambda p: variadic_args(p, "num_outputs", "data_"),
    outputs=lambda p: [f"output{i}" for i in range(p["num_outputs"])],
    infer_shape=lambda p, s: (s, list(s)),
    infer_type=lambda p, t: (t, _multicast_types(p, t)),
    forward=_multicast_forward,
))


def _mod(a, b):
    """Python's modulo (the sign of the divisor), 0 where the divisor is 0, as MXNet."""
    return torch.where(b == 0, torch.zeros_like(a), torch.remainder(a, torch.where(
        b == 0, torch.ones_like(b), b)))


def _maximum(a, b):
    """MXNet sends the gradient of a tie to the left input."""
    return torch.where(a >= b, a, b)


def _minimum(a, b):
    return torch.where(a <= b, a, b)


def _cmp(fn):
    return lambda a, b: fn(a.detach(), b.detach()).to(torch.promote_types(a.dtype, b.dtype))


def _logic(fn):
    return _cmp(lambda a, b: fn(a != 0, b != 0))


BINARY = {
    "add": (torch.add, ("_plus", "_Plus", "_add"), ("broadcast_plus",)),
    "sub": (torch.sub, ("_minus", "_Minus", "_sub"), ("broadcast_minus",)),
    "mul": (torch.mul, ("_mul", "_Mul"), ()),
    "div": (torch.div, ("_div", "_Div"), ()),
    "power": (torch.pow, ("_Power",), ()),
    "maximum": (_maximum, ("_Maximum",), ()),
    "minimum": (_minimum, ("_Minimum",), ()),
    "hypot": (torch.hypot, ("_Hypot",), ()),
    "mod": (_mod, ("_Mod",), ()),
    "equal": (_cmp(torch.eq), ("_Equal",), ()),
    "not_equal": (_cmp(torch.ne), ("_Not_Equal",), ()),
    "greater": (_cmp(torch.gt), ("_Greater",), ()),
    "greater_equal": (_cmp(torch.ge), ("_Greater_Equal",), ()),
    "lesser": (_cmp(torch.lt), ("_Lesser",), ()),
    "lesser_equal": (_cmp(torch.le), ("_Lesser_Equal",), ()),
    "logical_and": (_logic(torch.logical_and), ("_Logical_And",), ()),
    "logical_or": (_logic(torch.logical_or), ("_Logical_Or",), ()),
    "logical_xor": (_logic(torch.logical_xor), ("_Logical_Xor",), ()),
}
for _name, (_fn, _same_aliases, _bcast_aliases) in BINARY.items():
    if _name in ("add", "sub", "mul", "div"):
        register(binary_op(f"elemwise_{_name}", _fn, aliases=_same_aliases))
    else:
        register(binary_op(f"_{_name}", _fn, aliases=_same_aliases))
    register(binary_op(f"broadcast_{_name}", _fn, broadcast=True, aliases=_bcast_aliases))
register(binary_op("_grad_add", torch.add))


def _scalar_like(x, s):
    return torch.as_tensor(s, dtype=x.dtype, device=x.device)


SCALAR = {
    "plus": (torch.add, "_PlusScalar"),
    "minus": (torch.sub, "_MinusScalar"),
    "rminus": (lambda x, s: s - x, "_RMinusScalar"),
    "mul": (torch.mul, "_MulScalar"),
    "div": (torch.div, "_DivScalar"),
    "rdiv": (lambda x, s: s / x, "_RDivScalar"),
    "power": (torch.pow, "_PowerScalar"),
    "rpower": (lambda x, s: torch.pow(s, x), "_RPowerScalar"),
    "maximum": (lambda x, s: _maximum(x, _scalar_like(x, s)), "_MaximumScalar"),
    "minimum": (lambda x, s: _minimum(x, _scalar_like(x, s)), "_MinimumScalar"),
    "mod": (lambda x, s: _mod(x, _scalar_like(x, s)), "_ModScalar"),
    "rmod": (lambda x, s: _mod(_scalar_like(x, s), x), "_RModScalar"),
    "hypot": (lambda x, s: torch.hypot(x, _scalar_like(x, s)), "_HypotScalar"),
    "equal": (lambda x, s: _cmp(torch.eq)(x, _scalar_like(x, s)), "_EqualScalar"),
    "not_equal": (lambda x, s: _cmp(torch.ne)(x, _scalar_like(x, s)), "_NotEqualScalar"),
    "greater": (lambda x, s: _cmp(torch.gt)(x, _scalar_like(x, s)), "_GreaterScalar"),
    "greater_equal": (lambda x, s: _cmp(torch.ge)(x, _scalar_like(x, s)),
                      "_GreaterEqualScalar"),
    "lesser": (lambda x, s: _cmp(torch.lt)(x, _scalar_like(x, s)), "_LesserScalar"),
    "lesser_equal": (lambda x, s: _cmp(torch.le)(x, _scalar_like(x, s)), "_LesserEqualScalar"),
    "logical_and": (lambda x, s: _logic(torch.logical_and)(x, _scalar_like(x, s)),
                    "_LogicalAndScalar"),
    "logical_or": (lambda x, s: _logic(torch.logical_or)(x, _scalar_like(x, s)),
                   "_LogicalOrScalar"),
    "logical_xor": (lambda x, s: _logic(torch.logical_xor)(x, _scalar_like(x, s)),
                    "_LogicalXorScalar"),
}
for _name, (_fn, _alias) in SCALAR.items():
    register(scalar_op(f"_{_name}_scalar", _fn, aliases=(_alias,)))


def _smooth_l1(x, sigma):
    s2 = sigma * sigma
    return torch.where(x.abs() < 1.0 / s2, 0.5 * s2 * x * x, x.abs() - 0.5 / s2)


register(OpDef(name="smooth_l1", params={"scalar": Param("float")}, infer_shape=same_shape,
               forward=lambda p, x, aux, train: [_smooth_l1(x[0], p["scalar"])]))


def _where_infer(p, s):
    shape = merge("x", s[1], s[2])
    if s[0] is not None and shape is not None and len(s[0]) == 1 and len(shape) > 1:
        merge("condition", s[0], shape[:1])
        return [s[0], shape, shape], [shape]
    shape = merge("condition", s[0], shape)
    return [shape, shape, shape], [shape]


def _where_forward(p, x, aux, train):
    cond, a, b = x
    if cond.dim() == 1 and a.dim() > 1:
        cond = cond.reshape((-1,) + (1,) * (a.dim() - 1))
    return [torch.where(cond.detach() != 0, a, b)]


register(OpDef(name="where", params={}, arguments=lambda p: ["condition", "x", "y"],
               infer_shape=_where_infer, forward=_where_forward))


def _add_n_forward(p, x, aux, train):
    out = x[0]
    for t in x[1:]:
        out = out + t
    return [out if len(x) > 1 else out * 1]


register(OpDef(
    name="add_n", aliases=("ElementWiseSum",), variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1)}, arguments=variadic_args,
    infer_shape=same_shape, forward=_add_n_forward,
))


def _khatri_rao_infer(p, s):
    if any(x is None for x in s):
        return s, [None]
    cols = s[0][-1]
    rows = 1
    for x in s:
        rows *= x[0]
    return s, [(rows, cols)]


def _khatri_rao_forward(p, x, aux, train):
    out = x[0]
    for m in x[1:]:
        out = (out[:, None, :] * m[None, :, :]).reshape(-1, m.shape[1])
    return [out]


register(OpDef(
    name="khatri_rao", variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1)}, arguments=variadic_args,
    infer_shape=_khatri_rao_infer, forward=_khatri_rao_forward,
))


def _allclose(p, x, aux, train):
    a, b = (t.detach() for t in x)
    close = torch.isclose(a, b.to(a.dtype), rtol=p["rtol"], atol=p["atol"],
                          equal_nan=p["equal_nan"])
    return [close.all().to(torch.uint8).reshape(())]


register(OpDef(
    name="_contrib_allclose",
    params={"rtol": Param("float", 1e-5), "atol": Param("float", 1e-8),
            "equal_nan": Param("bool", True)},
    arguments=lambda p: ["a", "b"], infer_shape=lambda p, s: (s, [()]),
    infer_type=lambda p, t: (t, [np.uint8]), forward=_allclose,
))


def _fft(p, x, aux, train):
    """(N, d) real -> (N, 2d): the DFT of each row, real and imaginary parts interleaved."""
    spec = torch.fft.fft(x[0].reshape(x[0].shape[0], -1).to(torch.float64), dim=-1)
    out = torch.stack([spec.real, spec.imag], dim=-1).reshape(x[0].shape[0], -1)
    return [out.to(x[0].dtype)]


def _ifft(p, x, aux, train):
    """(N, 2d) interleaved complex -> (N, d): the real part of the unnormalised inverse DFT
    (cuFFT's convention, which MXNet keeps)."""
    data = x[0].reshape(x[0].shape[0], -1, 2).to(torch.float64)
    spec = torch.complex(data[..., 0], data[..., 1])
    out = torch.fft.ifft(spec, dim=-1).real * spec.shape[-1]
    return [out.to(x[0].dtype)]


# MXNet 1.9.1 runs these on GPUs only; here they run anywhere.
for _name, _fn, _factor in (("_contrib_fft", _fft, 2), ("_contrib_ifft", _ifft, 0.5)):
    register(OpDef(
        name=_name, params={"compute_size": Param("int", 128)},
        infer_shape=lambda p, s, f=_factor: (s, [None if s[0] is None else (
            s[0][0], int(np.prod(s[0][1:]) * f))]),
        forward=_fn,
    ))
