"""`mx.nd`: NDArray, its constructors, save/load, and every registered operator imperatively."""
from .. import random  # noqa: F401  (mx.nd.random, as in MXNet)
from .ndarray import (
                      NDArray,
                      arange,
                      array,
                      as_tensor,
                      concat,
                      dot,
                      empty,
                      from_tensor,
                      full,
                      ones,
                      waitall,
                      zeros,
)
from .op_functions import install as _install
from .serialization import load, load_bytes, load_frombuffer, save, save_bytes

_install(globals())
