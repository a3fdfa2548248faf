"""`mx.sym.random`: MXNet's samplers as symbols (and the `*_like` operators)."""
from ..ops.random_api import build
from ..ops.registry import lazy_namespace
from .symbol import Symbol, _invoke, make_op_function


def _compose(op, inputs, params):
    name, attr = params.pop("name", None), params.pop("attr", None)
    return _invoke(op, op, list(inputs), params, name=name, attr=attr)


__all__ = build(globals(), lambda v: isinstance(v, Symbol), _compose, symbolic=True)
__getattr__, __dir__ = lazy_namespace("random", globals(), make_op_function)
