"""`mx.kv`: key-value stores that sum gradients over contexts ('local', 'device', 'nccl') and
over worker processes ('dist_sync', 'dist_device_sync', 'dist_sync_device', on
torch.distributed; see `dist`), and optionally apply an optimizer to the stored values.

Example (two workers: `torchrun --nproc_per_node 2 train.py`):
    >>> kv = mx.kv.create('dist_sync')
    >>> kv.init('w', mx.nd.zeros((2, 3)))          # every worker now holds rank 0's value
    >>> kv.pushpull('w', mx.nd.ones((2, 3)))        # sums over the workers: 2.0 everywhere
"""
from ..base import MXNetError
from .dist import SYNC_TYPES, DistKVStore, writes_checkpoints
from .local import KVStore

LOCAL_TYPES = ("local", "device", "nccl", "local_update_cpu", "local_allreduce_cpu",
               "local_allreduce_device")
TYPES = LOCAL_TYPES + SYNC_TYPES


def create(name="local"):
    """A new KVStore of type `name` (see `TYPES`).

    'dist_async' is refused: torch.distributed's collectives are synchronous, and MXNet's
    asynchronous parameter-server updates (each worker's gradient applied on its own, in
    arrival order) would need a server process and give results no run can reproduce.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}")
    name = name.lower()
    if name == "dist_async":
        raise MXNetError("kvstore 'dist_async': bucketmod has no parameter server, so it cannot "
                         "apply each worker's gradients asynchronously; use 'dist_sync' (every "
                         "worker applies the sum of all workers' gradients: the result of one "
                         "process with the global batch)")
    if name in SYNC_TYPES:
        return DistKVStore(name)
    if name not in LOCAL_TYPES:
        raise ValueError(f"kvstore: unknown type {name!r}; bucketmod supports {TYPES}")
    return KVStore(name)


__all__ = ["KVStore", "DistKVStore", "create", "writes_checkpoints", "TYPES"]
