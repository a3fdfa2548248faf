"""`mx.sym._internal`: the `_`-prefixed operators, resolved through the registry."""
from ..ops.registry import lazy_namespace
from .symbol import make_op_function

__getattr__, __dir__ = lazy_namespace("_internal", globals(), make_op_function)
