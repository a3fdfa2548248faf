"""`mx.sym`: Variable, Group, load/load_json, and one function per registered operator."""
from ..ops import all_ops
from .symbol import (Group, Symbol, Variable, fromjson, load, load_json, make_op_function,
                     var)


def _install_operators(namespace):
    for op_name in all_ops():
        if op_name not in namespace:
            namespace[op_name] = make_op_function(op_name, op_name)


_install_operators(globals())


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
