"""`mx.nd`: NDArray, its constructors, save/load, and every registered operator imperatively."""
from ..ops import exists as _exists
from . import _internal, contrib, image, linalg, op, random  # noqa: F401  (MXNet's sub-namespaces)
from .ndarray import (
    NDArray,
    arange,
    array,
    as_tensor,
    concatenate,
    empty,
    from_tensor,
    full,
    onehot_encode,
    ones,
    waitall,
    zeros,
)
from .op_functions import install as _install
from .op_functions import make_function as _make_function
from .serialization import load, load_bytes, load_frombuffer, save, save_bytes

_install(globals())


def __getattr__(name):
    """Operators registered after import (custom ops, user kernels) appear here too."""
    if _exists(name):
        globals()[name] = _make_function(name)
        return globals()[name]
    raise AttributeError(f"module 'bucketmod.ndarray' has no attribute {name!r}")
