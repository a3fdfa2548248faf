"""`mx.sym.contrib`: MXNet's `_contrib_*` operators under their short names."""
from ..ops.registry import lazy_namespace
from .symbol import make_op_function

__getattr__, __dir__ = lazy_namespace("contrib", globals(), make_op_function)
