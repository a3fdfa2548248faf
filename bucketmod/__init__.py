"""bucketmod: MXNet 1.x's Module API over PyTorch tensors, with Triton kernels.

`import bucketmod as mx` gives MXNet-1.x code the namespaces it expects.
"""
import sys as _sys

from ._source_tree import alias_kernels_package

alias_kernels_package(_sys.modules[__name__])

from . import (
    attribute,
    base,
    callback,
    context,
    executor,
    initializer,
    io,
    kvstore,
    lr_scheduler,
    metric,
    model,
    module,
    monitor,
    name,
    ndarray,
    operator,
    optimizer,
    random,
    registry,
    rnn,
    symbol,
)
from .attribute import AttrScope
from .backend import get_backend, set_backend
from .base import MXNetError
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus

nd = ndarray
sym = symbol
mod = module
init = initializer
kv = kvstore
mon = monitor

__version__ = "0.1.0"
