"""`mx.sym`: Variable, Group, load/load_json, and one function per registered operator."""
import importlib as _importlib

from ..ops import all_ops, exists
from . import _internal, contrib, image, linalg, random  # noqa: F401  (MXNet's sub-namespaces)
from .symbol import Group, Symbol, Variable, fromjson, load, load_json, make_op_function, var


def _install_operators(namespace):
    for op_name in all_ops():
        if op_name not in namespace:
            namespace[op_name] = make_op_function(op_name, op_name)


_install_operators(globals())
_importlib.import_module(f"{__name__}.op")  # mx.sym.op (a submodule; `op` stays a free name)


def __getattr__(name):
    """Operators registered after import (custom ops, user kernels) appear here too."""
    if exists(name):
        globals()[name] = make_op_function(name, name)
        return globals()[name]
    raise AttributeError(f"module 'bucketmod.symbol' has no attribute {name!r}")


def maximum(left, right):
    return _pairwise(left, right, "_Maximum", "_MaximumScalar")


def minimum(left, right):
    return _pairwise(left, right, "_Minimum", "_MinimumScalar")


def pow(base, exp):
    if isinstance(base, Symbol):
        return base ** exp
    return exp.__rpow__(base)


def _pairwise(left, right, op, scalar_op):
    from .symbol import _invoke
    if isinstance(left, Symbol) and isinstance(right, Symbol):
        return _invoke(op, op.lower(), [left, right], {})
    sym, scalar = (left, right) if isinstance(left, Symbol) else (right, left)
    return _invoke(scalar_op, scalar_op.lower(), [sym], {"scalar": scalar})


def zeros(shape, dtype=None, **kwargs):
    """A symbol of zeros of `shape` (0 marks a dimension left to shape inference)."""
    return _filled("_zeros", shape, dtype, kwargs)


def ones(shape, dtype=None, **kwargs):
    """A symbol of ones of `shape` (0 marks a dimension left to shape inference)."""
    return _filled("_ones", shape, dtype, kwargs)


def _filled(op, shape, dtype, kwargs):
    import numpy as np

    from ..base import as_shape
    from .symbol import _invoke
    name, attr = kwargs.pop("name", None), dict(kwargs.pop("attr", None) or {})
    attr.update({k: str(kwargs.pop(k)) for k in list(kwargs) if k.startswith("__")})
    shape = as_shape(f"{op.strip('_')}: shape", shape)
    dtype = np.dtype(np.float32 if dtype is None else dtype).name
    return _invoke(op, op, [], dict(kwargs, shape=shape, dtype=dtype), name=name,
                   attr=attr or None)
