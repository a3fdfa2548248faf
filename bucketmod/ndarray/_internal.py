"""`mx.nd._internal`: the `_`-prefixed operators, resolved through the registry."""
from ..ops.registry import lazy_namespace
from .op_functions import make_function

__getattr__, __dir__ = lazy_namespace("_internal", globals(), make_function)
