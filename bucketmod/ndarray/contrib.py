"""`mx.nd.contrib`: MXNet's `_contrib_*` operators under their short names."""
from ..ops.registry import lazy_namespace
from .op_functions import make_function

__getattr__, __dir__ = lazy_namespace("contrib", globals(), make_function)
