"""`mx.nd.op`: the top-level operators (MXNet's `mx.sym.op`), resolved through the registry."""
from ..ops.registry import lazy_namespace
from .op_functions import make_function

__getattr__, __dir__ = lazy_namespace("", globals(), make_function)
