"""`mx.nd.image`: MXNet's `_image_*` operators under their short names."""
from ..ops.registry import lazy_namespace
from .op_functions import make_function

__getattr__, __dir__ = lazy_namespace("image", globals(), make_function)
