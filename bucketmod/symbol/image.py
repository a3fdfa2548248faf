"""`mx.sym.image`: MXNet's `_image_*` operators under their short names."""
from ..ops.registry import lazy_namespace
from .symbol import make_op_function

__getattr__, __dir__ = lazy_namespace("image", globals(), make_op_function)
