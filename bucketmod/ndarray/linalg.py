"""`mx.nd.linalg`: MXNet's `_linalg_*` operators under their short names."""
from ..ops.registry import lazy_namespace
from .op_functions import make_function

__getattr__, __dir__ = lazy_namespace("linalg", globals(), make_function)
