"""`mx.sym.op`: the top-level operators (MXNet's `mx.sym.op`), resolved through the registry."""
from ..ops.registry import lazy_namespace
from .symbol import make_op_function

__getattr__, __dir__ = lazy_namespace("", globals(), make_op_function)
