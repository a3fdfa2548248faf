"""The single-machine stores: 'local', 'device' (and 'nccl'), which sum the values pushed from
several contexts and, with an optimizer set, update one stored copy that every context pulls.

'local' and 'device' differ in MXNet only in where the sum runs; here both sum on the device of
the first value pushed. A push of several keys is reduced as one flat buffer per dtype
(`flat.FlatLayout`), in the order the keys were initialised. Keys are ints or strings.
"""
import torch

from ..base import MXNetError
from ..ndarray.ndarray import NDArray, as_tensor
from ..optimizer.updater import Updater
from .flat import FlatLayout

OPTIMIZER = "optimizer"


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class KVStore:
    """A key-value store over the contexts of one process (MXNet's `KVStore`)."""

    def __init__(self, kv_type="local"):
        self._type = kv_type
        self._store = {}
        self._order = {}
        self._layouts = {}
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

    def is_capable(self, capability):
        """Whether the store can do `capability`; only 'optimizer' is known (and supported)."""
        if str(capability).lower() == OPTIMIZER:
            return True
        raise ValueError(f"is_capable: unknown capability {capability!r}; known: "
                         f"{OPTIMIZER!r}")

    def _pairs(self, key, value, what="value"):
        """[(key, [values])]: a single key takes an array or a list of them (one per context);
        a list of keys takes one such entry per key."""
        if not isinstance(key, (list, tuple)):
            return [(key, _as_list(value))]
        values = _as_list(value)
        if len(values) != len(key):
            raise ValueError(f"{what}: expected one entry per key ({len(key)}), got "
                             f"{len(values)}")
        return [(k, _as_list(v)) for k, v in zip(key, values)]

    def init(self, key, value):
        """Store the first value given for each key (a copy)."""
        pairs = self._pairs(key, value)
        for k, _ in pairs:
            if k in self._store:
                raise MXNetError(f"KVStore.init: key {k!r} is already initialised")
        for k, vals in pairs:
            self._order[k] = len(self._order)
            self._store[k] = NDArray(as_tensor(vals[0]).detach().clone())
        self._after_init([k for k, _ in pairs])

    def _after_init(self, keys):
        """Hook for the distributed store (which makes every worker hold rank 0's values)."""

    def _stored(self, k):
        if k not in self._store:
            raise MXNetError(f"KVStore: key {k!r} has not been initialised; call init first")
        return self._store[k]

    def _reduce(self, pairs, workers=True):
        """Sum each key's values over the contexts (and workers) into flat buffers laid out in
        initialisation order. Returns `(layout, slots)`: key `pairs[i]` sits at
        `layout.views[slots[i]]`."""
        for k, vals in pairs:
            stored = self._stored(k)
            for v in vals:
                if tuple(as_tensor(v).shape) != stored.shape:
                    raise MXNetError(f"KVStore: key {k!r} holds shape {stored.shape}, got a "
                                     f"value of shape {tuple(as_tensor(v).shape)}")
        if not pairs:
            return FlatLayout([], [], None), []
        ordered = sorted(range(len(pairs)), key=lambda i: self._order[pairs[i][0]])
        tensors = [[as_tensor(v) for v in pairs[i][1]] for i in ordered]
        signature = tuple((pairs[i][0], len(t), t[0].dtype, t[0].device)
                          for i, t in zip(ordered, tensors))
        layout = self._layouts.get(signature)
        if layout is None:
            layout = FlatLayout([t[0].shape for t in tensors], [t[0].dtype for t in tensors],
                                tensors[0][0].device)
            self._layouts[signature] = layout
        layout.gather_sum(tensors)
        if workers:
            self._sum_over_workers([buffer for _, _, buffer in layout.groups])
        slots = [0] * len(pairs)
        for slot, i in enumerate(ordered):
            slots[i] = slot
        return layout, slots

    def _sum_over_workers(self, buffers):
        """Sum the buffers over the workers (one worker here: nothing to do)."""

    def allreduce(self, key, value, out=None):
        """Sum each key's arrays over the contexts (and the workers) into every array of `out`
        (default: `value`), leaving the stored values and any optimizer alone.

        This is bucketmod's gradient reduction (Module.update calls it once for all its
        gradients, then applies its own optimizer): a pushpull without the store.
        """
        pairs = self._pairs(key, value)
        outs = self._pairs(key, value if out is None else out, "out")
        layout, slots = self._reduce(pairs)
        by_slot = [None] * len(slots)
        for (_, targets), s in zip(outs, slots):
            by_slot[s] = [as_tensor(t) for t in targets]
        layout.scatter(by_slot)

    def push(self, key, value, priority=0):
        """Sum the values given for each key; with an optimizer set, update the stored value
        with that sum (on every worker), else the sum becomes the stored value."""
        pairs = self._pairs(key, value)
        layout, slots = self._reduce(pairs)
        keys = [k for k, _ in pairs]
        sums = [NDArray(layout.views[s]) for s in slots]
        if self._updater is None:
            with torch.no_grad():
                for k, total in zip(keys, sums):
                    self._store[k].tensor.copy_(total.tensor)
        elif isinstance(self._updater, Updater):
            self._updater([self._index(k) for k in keys], sums, [self._store[k] for k in keys])
        else:
            for k, total in zip(keys, sums):
                self._updater(self._index(k), total, self._store[k])

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy each key's stored value into every array given for it in `out`."""
        if out is None:
            raise ValueError("KVStore.pull: out is required (the arrays to copy into)")
        with torch.no_grad():
            for k, outs in self._pairs(key, out, "out"):
                stored = self._stored(k)
                for o in outs:
                    o.tensor.copy_(stored.tensor.to(o.tensor.device))

    def pushpull(self, key, value, out=None, priority=0):
        """push, then pull into `out` (default: `value`)."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key, value, out, priority=0):
        """Initialise each key with `value` (rank 0's, when distributed) and pull it into
        `out`."""
        self.init(key, value)
        self.pull(key, out, priority)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        raise MXNetError("row_sparse_pull: bucketmod stores dense arrays only (it has no "
                         "row_sparse storage); use pull(key, out) to get the whole array")

    def set_gradient_compression(self, compression_params):
        raise MXNetError(f"set_gradient_compression({compression_params!r}): bucketmod does "
                         f"not compress gradients (MXNet's 2-bit compression is not "
                         f"implemented); leave compression_params unset")

    def _index(self, k):
        return k if isinstance(k, int) else self._names.index(k)

    @property
    def _names(self):
        return [k for k in self._store if not isinstance(k, int)]

    def set_optimizer(self, optimizer):
        """Update stored values with `optimizer` on push (on each worker, after the sum over
        workers, when distributed: MXNet's dist_sync result)."""
        from ..optimizer import get_updater
        self._optimizer = optimizer
        self._set_updater(get_updater(optimizer))

    def _set_updater(self, updater):
        self._updater = updater

    def save_optimizer_states(self, fname, dump_optimizer=False):
        if self._updater is None:
            raise MXNetError("save_optimizer_states: no optimizer set on this KVStore")
        from ..ndarray.serialization import atomic_write
        atomic_write(fname, [self._updater.get_states(dump_optimizer)])

    def load_optimizer_states(self, fname):
        if self._updater is None:
            raise MXNetError("load_optimizer_states: no optimizer set on this KVStore")
        with open(fname, "rb") as f:
            self._updater.set_states(f.read())

    def barrier(self):
        """Wait for every worker (one worker here: returns at once)."""

    _barrier = barrier

    def num_dead_node(self, node_id, timeout_sec=60):
        """How many nodes of group `node_id` have not been heard from for `timeout_sec`."""
        return 0

    def reduce_metric(self, metric):
        """`metric` over every worker's batches (one worker here: `metric` itself)."""
        return metric
