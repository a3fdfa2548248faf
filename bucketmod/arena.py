"""Memory that operators write their large outputs into, shared by the executors of a group.

A BucketingModule binds one executor per bucket, each sharing the default bucket's memory
(`shared_exec`). An operator that declares `extra["output_arena"]` gets `p["_arena"]`, a
`NodeBuffer`: every run's output is a tensor over the front of one buffer kept per node name,
grown when a larger bucket needs more. So the output of every bucket lives in the largest
bucket's memory, as MXNet's shared executors do, and a run writes into pages that are already
mapped instead of a fresh allocation that the OS must fault in (on the CPU that costs as much
as the GEMM that fills it). As in MXNet, an output is overwritten by the next forward of any
executor of the group; a backward that would read an overwritten output raises instead.
"""
import math

import torch

from .base import MXNetError


class OutputArena:
    """One buffer per key, handed out as tensors over its front, and a count of its writes."""

    def __init__(self):
        self._buffers = {}
        self._writes = {}

    def for_node(self, name):
        """The `NodeBuffer` an operator named `name` takes its output from."""
        return NodeBuffer(self, name)

    def take(self, key, shape, dtype, device):
        """`(tensor, token)`: a `shape` tensor over the buffer of `key` (its storage, not a view
        of it: autograd sees a tensor of its own), and the number of this write."""
        numel = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < numel or buf.dtype != dtype or buf.device != device:
            buf = self._buffers[key] = torch.empty(numel, dtype=dtype, device=device)
        token = self._writes[key] = self._writes.get(key, 0) + 1
        return buf.new_empty(0).set_(buf.untyped_storage(), 0, tuple(shape)), token

    def latest(self, key):
        return self._writes.get(key)


class NodeBuffer:
    """One node's output buffer in an arena."""

    def __init__(self, arena, key):
        self._arena, self._key = arena, key

    def __call__(self, shape, dtype, device):
        """`(tensor, token)` for a new run's output; `check(token)` before reading it again."""
        return self._arena.take(self._key, shape, dtype, device)

    def check(self, token):
        """Raise MXNetError if a later run has written the buffer since `token`."""
        if self._arena.latest(self._key) != token:
            raise MXNetError(
                f"backward of {self._key!r}: its forward's output was overwritten by a later "
                f"forward of an executor that shares its memory (a bucket of the same "
                f"BucketingModule, or a module bound with shared_module); run backward before "
                f"the next forward")
