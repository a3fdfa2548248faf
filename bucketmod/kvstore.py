"""`mx.kv`: a key-value store that sums the gradients of several contexts and, with an optimizer
set, updates one copy of each parameter that every context then pulls.

'local' and 'device' differ in MXNet only in where the sum runs; here both sum on the device of
the stored value. Keys are ints or strings, as in MXNet.
"""
import torch

from .base import MXNetError
from .ndarray.ndarray import NDArray, as_tensor

TYPES = ("local", "device", "local_update_cpu", "local_allreduce_cpu", "local_allreduce_device")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class KVStore:
    def __init__(self, kv_type="local"):
        self._type = kv_type
        self._store = {}
        self._updater = None
        self._optimizer = None

    @property
    def type(self):
        return self._type

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1

    def _pairs(self, key, value):
        keys = _as_list(key)
        if len(keys) == 1:
            return [(keys[0], _as_list(value))]
        values = _as_list(value)
        if len(values) != len(keys):
            raise ValueError(f"value: expected one entry per key ({len(keys)}), got "
                             f"{len(values)}")
        return [(k, _as_list(v)) for k, v in zip(keys, values)]

    def init(self, key, value):
        """Store the first value given for each key (a copy)."""
        for k, vals in self._pairs(key, value):
            if k in self._store:
                raise MXNetError(f"KVStore.init: key {k!r} is already initialised")
            src = vals[0]
            self._store[k] = NDArray(as_tensor(src).detach().clone())

    def _stored(self, k):
        if k not in self._store:
            raise MXNetError(f"KVStore: key {k!r} has not been initialised; call init first")
        return self._store[k]

    def push(self, key, value, priority=0):
        """Sum the values given for each key; with an optimizer set, update the stored value
        with that sum, else replace it."""
        for k, vals in self._pairs(key, value):
            stored = self._stored(k)
            total = as_tensor(vals[0]).detach().to(stored.tensor.device).clone()
            for v in vals[1:]:
                total.add_(as_tensor(v).to(total.device))
            if self._updater is not None:
                self._updater(self._index(k), NDArray(total), stored)
            else:
                with torch.no_grad():
                    stored.tensor.copy_(total)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        if out is None:
            raise ValueError("KVStore.pull: out is required (the arrays to copy into)")
        for k, outs in self._pairs(key, out):
            stored = self._stored(k)
            with torch.no_grad():
                for o in outs:
                    o.tensor.copy_(stored.tensor.to(o.tensor.device))

    def pushpull(self, key, value, out=None, priority=0):
        self.push(key, value, priority)
        self.pull(key, out if out is not None else value, priority)

    def _index(self, k):
        return k if isinstance(k, int) else self._names.index(k)

    @property
    def _names(self):
        return [k for k in self._store if not isinstance(k, int)]

    def set_optimizer(self, optimizer):
        from .optimizer import get_updater
        self._optimizer = optimizer
        self._updater = get_updater(optimizer)

    def _set_updater(self, updater):
        self._updater = updater

    def save_optimizer_states(self, fname, dump_optimizer=False):
        if self._updater is None:
            raise MXNetError("save_optimizer_states: no optimizer set on this KVStore")
        from .ndarray.serialization import atomic_write
        atomic_write(fname, [self._updater.get_states(dump_optimizer)])

    def load_optimizer_states(self, fname):
        if self._updater is None:
            raise MXNetError("load_optimizer_states: no optimizer set on this KVStore")
        with open(fname, "rb") as f:
            self._updater.set_states(f.read())

    def barrier(self):
        pass


def create(name="local"):
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}")
    if name not in TYPES:
        raise ValueError(f"kvstore: unknown type {name!r}; bucketmod supports {TYPES} "
                         f"(distributed stores are not available)")
    return KVStore(name)
