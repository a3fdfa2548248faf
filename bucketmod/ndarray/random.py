"""`mx.nd.random`: MXNet's samplers on NDArrays (and the `*_like` operators)."""
from ..ops.random_api import build
from ..ops.registry import lazy_namespace
from .ndarray import NDArray
from .op_functions import invoke, make_function


def _invoke(op, inputs, params):
    out = params.pop("out", None)
    return invoke(op, inputs, params, out)


__all__ = build(globals(), lambda v: isinstance(v, NDArray), _invoke, symbolic=False)
__getattr__, __dir__ = lazy_namespace("random", globals(), make_function)
