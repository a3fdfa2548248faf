"""Memory that operators write their large outputs into, shared by the executors of a group.

A BucketingModule binds one executor per bucket, each sharing the default bucket's memory
(`shared_exec`). An operator that declares `extra["output_arena"]` gets `p["_arena"]`, a
function `(shape, dtype, device) -> tensor`: every run's output is a tensor over the front of
one buffer kept per node name, grown when a larger bucket needs more. So the output of every
bucket lives in the largest bucket's memory, as MXNet's shared executors do, and a run writes
into pages that are already mapped instead of a fresh allocation that the OS must fault in
(on the CPU that costs as much as the GEMM that fills it). As in MXNet, an output is
overwritten by the next forward of any executor of the group.
"""
import math
from functools import partial

import torch


class OutputArena:
    """One buffer per key, handed out as tensors over its front."""

    def __init__(self):
        self._buffers = {}

    def for_node(self, name):
        """The function an operator named `name` calls for its output."""
        return partial(self.tensor, name)

    def tensor(self, key, shape, dtype, device):
        """A `shape` tensor over the buffer of `key`: its storage, not a view of it (autograd
        sees a tensor of its own)."""
        numel = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < numel or buf.dtype != dtype or buf.device != device:
            buf = self._buffers[key] = torch.empty(numel, dtype=dtype, device=device)
        return buf.new_empty(0).set_(buf.untyped_storage(), 0, tuple(shape))
