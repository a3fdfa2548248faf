"""`mx.io`: data descriptors, batches and the iterators `fit`, `score` and `predict` consume.

Behaviour follows MXNet 1.9.1's `mxnet.io` (batch sequences are checked against fixtures
written by MXNet itself), with three deliberate differences, each a bug fix:
- NDArrayIter counts examples, shuffles and tiles along the layout's batch axis ('N'),
  where MXNet always uses axis 0 for those and the batch axis only for slicing;
- ResizeIter and PrefetchingIter keep `bucket_key` and the batch's own `provide_data`, so
  they can wrap a bucketing iterator;
- PrefetchingIter's worker thread holds no reference to the iterator, so it stops when the
  iterator is garbage-collected (or `close()`d).
"""
import atexit
import numbers
import queue
import threading
import time
from collections import OrderedDict, namedtuple

import numpy as np
import torch

from .base import MXNetError
from .ndarray.ndarray import NDArray, array

_LAST_BATCH_HANDLES = ("pad", "discard", "roll_over")


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """Name and shape of one input (a 2-tuple, as MXNet), plus `dtype` and `layout`.

    `layout` names the axes of `shape`: 'N' is the batch axis, 'T' time, 'C' channels.

    Example:
        >>> DataDesc('data', (32, 10), layout='NT')
        DataDesc[data,(32, 10),<class 'numpy.float32'>,NT]
    """

    def __new__(cls, name, shape, dtype=np.float32, layout="NCHW"):
        desc = super().__new__(cls, name, shape)
        desc.dtype = dtype
        desc.layout = layout
        return desc

    def __repr__(self):
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"

    @staticmethod
    def get_batch_axis(layout):
        """The axis holding the batch: `layout.find('N')`, 0 when layout is None, -1 if no N."""
        if layout is None:
            return 0
        return layout.find("N")

    @staticmethod
    def get_list(shapes, types):
        """DataDescs from `[(name, shape)]` and optionally `[(name, dtype)]`."""
        if types is None:
            return [DataDesc(name, shape) for name, shape in shapes]
        type_of = dict(types)
        return [DataDesc(name, shape, type_of[name]) for name, shape in shapes]


class DataBatch:
    """One batch: `data` and `label` are lists of NDArrays with `batch_size` examples each.

    Args:
        pad: how many examples at the end are filler (ignored by `predict`/`score`).
        index: the example indices in this batch, when the iterator knows them.
        bucket_key: the bucket this batch belongs to (BucketingModule switches on it).
        provide_data, provide_label: DataDescs of this very batch (a bucket's shapes).
    """

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None and not isinstance(data, (list, tuple)):
            raise AssertionError(f"DataBatch: data must be a list of NDArrays, "
                                 f"got {type(data).__name__}")
        if label is not None and not isinstance(label, (list, tuple)):
            raise AssertionError(f"DataBatch: label must be a list of NDArrays, "
                                 f"got {type(label).__name__}")
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    def __str__(self):
        data_shapes = [d.shape for d in self.data]
        label_shapes = [l.shape for l in self.label] if self.label else None
        return (f"{self.__class__.__name__}: data shapes: {data_shapes} "
                f"label shapes: {label_shapes}")


class DataIter:
    """Base of every iterator: python iteration over `next()`, which subclasses feed.

    A subclass implements `iter_next` (advance; False at the end) and `getdata`/`getlabel`/
    `getpad`/`getindex` (the current batch), or overrides `next` directly; it sets
    `provide_data`/`provide_label` (lists of DataDesc). This base yields nothing.
    """

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        """Go back to the first batch."""

    def next(self):
        """The next DataBatch; StopIteration at the end of the epoch."""
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    def iter_next(self):
        """Advance to the next batch; whether there was one."""
        return False

    def getdata(self):
        """The current batch's data (list of NDArray)."""
        return None

    def getlabel(self):
        """The current batch's labels (list of NDArray)."""
        return None

    def getindex(self):
        """The current batch's example indices, or None."""
        return None

    def getpad(self):
        """How many examples at the end of the current batch are padding."""
        return 0


def _as_ndarray(name, value):
    if isinstance(value, NDArray):
        return value
    if isinstance(value, torch.Tensor):
        return NDArray(value.detach())
    try:
        return array(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"NDArrayIter: invalid type {type(value).__name__} for {name!r}, "
                        f"expected NDArray, numpy.ndarray or torch.Tensor") from err


def _init_data(data, allow_empty, default_name):
    """Any accepted input form -> `[(name, NDArray)]` sorted by name, as MXNet orders them."""
    if data is None:
        if not allow_empty:
            raise AssertionError("NDArrayIter: data must be given, got None")
        data = []
    if isinstance(data, (np.ndarray, NDArray, torch.Tensor)):
        data = [data]
    if isinstance(data, (list, tuple)):
        if not data and not allow_empty:
            raise AssertionError("NDArrayIter: data must hold at least one array, got []")
        if len(data) == 1:
            data = OrderedDict([(default_name, data[0])])
        else:
            data = OrderedDict((f"_{i}_{default_name}", d) for i, d in enumerate(data))
    if not isinstance(data, dict):
        raise TypeError(f"NDArrayIter: input must be an NDArray, numpy.ndarray, torch.Tensor, "
                        f"a list of them or a dict with them as values, got "
                        f"{type(data).__name__}")
    return sorted((name, _as_ndarray(name, value)) for name, value in data.items())


def check_part(what, num_parts, part_index, num_items):
    """Validate a `num_parts`/`part_index` pair for `num_items` examples."""
    for name, value in (("num_parts", num_parts), ("part_index", part_index)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{what}: {name} must be an int, got {value!r}")
    if num_parts < 1:
        raise ValueError(f"{what}: num_parts must be at least 1, got {num_parts}")
    if not 0 <= part_index < num_parts:
        raise ValueError(f"{what}: part_index must be in [0, {num_parts}), got {part_index}")
    if num_items is not None and num_items < num_parts:
        raise ValueError(f"{what}: {num_items} examples cannot be split into {num_parts} parts")


def _take(arr, axis, start, end):
    return NDArray(arr.tensor.narrow(axis, start, end - start), arr.context)


def _concat(first, second, axis):
    if not first or not second:
        return first if first else second
    return [NDArray(torch.cat([a.tensor, b.tensor], dim=axis), a.context)
            for a, b in zip(first, second)]


class NDArrayIter(DataIter):
    """Batches of in-memory arrays.

    Args:
        data: an array (NDArray, numpy or torch), a list of arrays (named `_0_data`,
            `_1_data`, ...) or a dict name -> array. Sources are ordered by name.
        label: the same forms, or None.
        batch_size: examples per batch.
        shuffle: reshuffle (with numpy's global RNG, as MXNet) at construction and every reset.
        last_batch_handle: what happens to the examples that do not fill a last batch:
            'pad' fills the batch from the start of the data and sets `pad`;
            'discard' drops them; 'roll_over' keeps them and puts them first in the next epoch.
        data_name, label_name: names of a single data/label array.
        layout: axes of each array; 'N' marks the batch axis.
        num_parts, part_index: serve only part `part_index` of `num_parts` equal contiguous
            parts of the examples (one part per worker of a dist kvstore). Each part holds
            `n // num_parts` examples, so every worker runs the same number of batches; the
            last `n % num_parts` examples are left out.

    Example:
        >>> it = NDArrayIter(np.arange(10).reshape(5, 2), np.arange(5), batch_size=2)
        >>> [b.pad for b in it]
        [0, 0, 1]
    """

    def __init__(self, data, label=None, batch_size=1, shuffle=False, last_batch_handle="pad",
                 data_name="data", label_name="softmax_label", layout="NCHW", num_parts=1,
                 part_index=0):
        super().__init__(batch_size)
        if not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"NDArrayIter: batch_size must be a positive int, got {batch_size!r}")
        if last_batch_handle not in _LAST_BATCH_HANDLES:
            raise ValueError(f"NDArrayIter: last_batch_handle must be one of "
                             f"{_LAST_BATCH_HANDLES}, got {last_batch_handle!r}")
        if not isinstance(layout, str) or "N" not in layout:
            raise ValueError(f"NDArrayIter: layout must be a string with a batch axis 'N', "
                             f"got {layout!r}")
        self.layout = layout
        self._axis = layout.find("N")
        self.data = _init_data(data, allow_empty=False, default_name=data_name)
        self.label = _init_data(label, allow_empty=True, default_name=label_name)
        self.num_data = self._check_sizes()
        check_part("NDArrayIter", num_parts, part_index, self.num_data)
        if num_parts > 1:
            size = self.num_data // num_parts
            self.data = [(n, _take(a, self._axis, part_index * size, (part_index + 1) * size))
                         for n, a in self.data]
            self.label = [(n, _take(a, self._axis, part_index * size, (part_index + 1) * size))
                          for n, a in self.label]
            self.num_data = size
        self.idx = np.arange(self.num_data)
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None
        self.reset()

    def _check_sizes(self):
        sizes = {}
        for name, arr in self.data + self.label:
            if arr.ndim <= self._axis:
                raise ValueError(f"NDArrayIter: {name!r} has shape {arr.shape}, which has no "
                                 f"batch axis {self._axis} for layout {self.layout!r}")
            sizes[name] = arr.shape[self._axis]
        if len(set(sizes.values())) > 1:
            raise ValueError(f"NDArrayIter: every data and label array must hold the same number "
                             f"of examples along the batch axis, got {sizes}")
        return next(iter(sizes.values()))

    def _descs(self, sources):
        return [DataDesc(name, arr.shape[:self._axis] + (self.batch_size,)
                         + arr.shape[self._axis + 1:], arr.dtype, layout=self.layout)
                for name, arr in sources]

    @property
    def provide_data(self):
        return self._descs(self.data)

    @property
    def provide_label(self):
        return self._descs(self.label)

    def hard_reset(self):
        """Go back to the start and forget any rolled-over examples."""
        if self.shuffle:
            self._shuffle_data()
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None

    def reset(self):
        if self.shuffle:
            self._shuffle_data()
        if self.last_batch_handle == "roll_over" and \
                self.num_data - self.batch_size < self.cursor < self.num_data:
            # the cached remainder of the last epoch fills the head of the first batch
            self.cursor = self.cursor - self.num_data - self.batch_size
        else:
            self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data = self.getdata()
        label = self.getlabel()
        if data[0].shape[self._axis] != self.batch_size:
            self._cache_data = data
            self._cache_label = label
            raise StopIteration
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    def _slice(self, sources, start=0, end=None):
        end = self.num_data if end is None else end
        return [_take(arr, self._axis, start, end) for _, arr in sources]

    def _batchify(self, sources):
        if self.cursor >= self.num_data:
            raise AssertionError("NDArrayIter: the epoch is over, call reset() first")
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            if self._cache_data is None and self._cache_label is None:
                raise AssertionError("NDArrayIter: the rolled-over batch needs the remainder "
                                     "of the previous epoch, which next() did not reach")
            # getdata takes the data cache, then getlabel takes the label cache
            if self._cache_data is not None:
                cached, self._cache_data = self._cache_data, None
            else:
                cached, self._cache_label = self._cache_label, None
            return _concat(cached, self._slice(sources, end=self.cursor + self.batch_size),
                           self._axis)
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            pad = self.batch_size - self.num_data + self.cursor
            head = self._slice(sources, start=self.cursor)
            repeats, rest = divmod(pad, self.num_data)
            filler = self._slice(sources, end=rest) if rest else []
            if repeats:
                tiled = [_repeat(a, repeats, self._axis) for a in self._slice(sources)]
                filler = _concat(tiled, filler, self._axis)
            return _concat(head, filler, self._axis)
        end = min(self.cursor + self.batch_size, self.num_data)
        return self._slice(sources, self.cursor, end)

    def getdata(self):
        return self._batchify(self.data)

    def getlabel(self):
        return self._batchify(self.label)

    def getpad(self):
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            return -self.cursor
        return 0

    def _shuffle_data(self):
        # MXNet permutes the already-permuted arrays by the (cumulatively shuffled) idx;
        # doing the same keeps a seeded np.random giving MXNet's order epoch after epoch.
        np.random.shuffle(self.idx)
        order = torch.as_tensor(self.idx)
        self.data = [(name, _permute(arr, order, self._axis)) for name, arr in self.data]
        self.label = [(name, _permute(arr, order, self._axis)) for name, arr in self.label]


def _permute(arr, order, axis):
    return NDArray(arr.tensor.index_select(axis, order.to(arr.tensor.device)), arr.context)


def _repeat(arr, repeats, axis):
    reps = [1] * arr.ndim
    reps[axis] = repeats
    return NDArray(arr.tensor.repeat(*reps), arr.context)


class _WrappingIter(DataIter):
    """An iterator whose `iter_next` sets `current_batch`; the accessors read from it."""

    def _wrap(self, data_iter):
        """Serve batches of `data_iter`, with its descriptors, batch size and bucket key."""
        self.data_iter = data_iter
        self.current_batch = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        self.batch_size = data_iter.batch_size
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


class ShardIter(_WrappingIter):
    """Serve one worker's share of any iterator: of every `num_parts` consecutive batches of
    `data_iter`, the one at `part_index`.

    An epoch stops at the first incomplete round of `num_parts` batches, so every worker runs
    the same number of batches. Every worker must see `data_iter` give the same batches in the
    same order (no shuffling, or shuffling seeded alike on every worker); each worker reads
    them all and keeps its own.

    Example:
        >>> kv = mx.kv.create('dist_sync')
        >>> train = mx.io.ShardIter(train, kv.num_workers, kv.rank)
    """

    def __init__(self, data_iter, num_parts, part_index):
        super().__init__()
        check_part("ShardIter", num_parts, part_index, None)
        self._wrap(data_iter)
        self.num_parts = num_parts
        self.part_index = part_index

    def reset(self):
        self.data_iter.reset()

    def iter_next(self):
        mine = None
        for index in range(self.num_parts):
            try:
                batch = self.data_iter.next()
            except StopIteration:
                return False
            if index == self.part_index:
                mine = batch
        self.current_batch = mine
        return True


class ResizeIter(_WrappingIter):
    """Serve exactly `size` batches per epoch from `data_iter`, restarting it when it runs out.

    Args:
        reset_internal: whether `reset()` also resets `data_iter` (otherwise the next epoch
            continues where this one stopped).
    """

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__()
        if not isinstance(size, numbers.Integral) or size < 0:
            raise ValueError(f"ResizeIter: size must be a non-negative int, got {size!r}")
        self._wrap(data_iter)
        self.size = size
        self.reset_internal = reset_internal
        self.cur = 0

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True



# (thread, requests) of every PrefetchingIter worker not yet told to stop.
_LIVE_WORKERS = set()
# How long exit (or close) waits for a worker that is computing a batch; a worker that is
# blocked (its CPU time does not move for _IDLE_S) is not waited for.
_BUSY_WAIT_S = 60.0
_IDLE_S = 0.5


@atexit.register
def _stop_workers():
    """Let each worker finish the fetch it is computing and end: a daemon thread still
    running torch code when the interpreter finalises can abort the process. A worker blocked
    in the wrapped iterator (waiting, not computing) is left behind, so exit never hangs."""
    workers = list(_LIVE_WORKERS)
    _LIVE_WORKERS.clear()
    for _, requests in workers:
        requests.put(None)
    for thread, _ in workers:
        _join_unless_blocked(thread)


def _join_unless_blocked(thread):
    """Join `thread` while it computes (CPU time moving), at most _BUSY_WAIT_S."""
    cpu = _cpu_clock(thread)
    deadline = time.monotonic() + _BUSY_WAIT_S
    last, idle_since = _cpu_seconds(cpu), time.monotonic()
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.05)
        now, spent = time.monotonic(), _cpu_seconds(cpu)
        if spent is None or spent != last:
            last, idle_since = spent, now
        elif now - idle_since > _IDLE_S:
            return


def _cpu_clock(thread):
    try:
        return time.pthread_getcpuclockid(thread.ident)
    except (AttributeError, OSError, TypeError):
        return None


def _cpu_seconds(clock):
    """The thread's CPU time, or None where unknown (then only the deadline bounds a join)."""
    if clock is None:
        return None
    try:
        return time.clock_gettime(clock)
    except OSError:
        return None


def _prefetch_worker(iters, requests, results):
    """Fetch one batch from every iterator per request; a None request ends the thread."""
    while requests.get() is not None:
        try:
            batches = []
            for it in iters:
                try:
                    batches.append(it.next())
                except StopIteration:
                    batches.append(None)
            results.put((batches, None))
        except BaseException as err:  # re-raised in the consumer's thread by iter_next
            results.put((None, err))
            if not isinstance(err, Exception):
                return


class PrefetchingIter(_WrappingIter):
    """Fetch the next batch of one or more iterators on a background thread.

    The batches of several iterators are joined: data lists and label lists are concatenated
    in iterator order. One request is in flight at a time, so at most one batch is held ahead.
    Several threads may consume one PrefetchingIter: each batch goes to exactly one of them.
    An error raised by a wrapped iterator is raised again by every later `next()` until
    `reset()`; a worker blocked inside a wrapped iterator does not keep the process from
    exiting.

    Args:
        iters: a DataIter or a list of them (they must yield the same number of batches).
        rename_data: None, or one dict per iterator mapping its data names to new names.
        rename_label: the same for labels.
    """

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        if not isinstance(iters, list):
            iters = [iters]
        if not iters:
            raise ValueError("PrefetchingIter: iters must hold at least one DataIter, got []")
        for arg, renames in (("rename_data", rename_data), ("rename_label", rename_label)):
            if renames is not None and len(renames) != len(iters):
                raise ValueError(f"PrefetchingIter: {arg} must hold one dict per iterator "
                                 f"({len(iters)}), got {len(renames)}")
        self.n_iter = len(iters)
        self.iters = iters
        self.rename_data = rename_data
        self.rename_label = rename_label
        first = self.provide_data[0]
        self.batch_size = getattr(iters[0], "batch_size", 0) or first.shape[0]
        if hasattr(iters[0], "default_bucket_key"):
            self.default_bucket_key = iters[0].default_bucket_key
        self.current_batch = None
        self._lock = threading.Lock()
        self._error = None
        self._requests = queue.Queue()
        self._results = queue.Queue()
        self._pending = False
        self._thread = threading.Thread(target=_prefetch_worker,
                                        args=(iters, self._requests, self._results), daemon=True)
        self._thread.start()
        _LIVE_WORKERS.add((self._thread, self._requests))
        self._request()

    def _request(self):
        self._requests.put(True)
        self._pending = True

    def _collect(self):
        batches, err = self._next_result()
        self._pending = False
        if err is not None:
            self._error = (err, err.__traceback__)
            raise err
        return batches

    def _next_result(self):
        while True:
            try:
                return self._results.get(timeout=0.1)
            except queue.Empty:
                if not self._thread.is_alive() and self._results.empty():
                    return None, MXNetError("PrefetchingIter: its worker thread has ended "
                                            "(close() was called); make a new iterator")

    @staticmethod
    def _renamed(descs, renames):
        if renames is None:
            return list(descs)
        return [DataDesc(renames.get(d.name, d.name), d.shape, getattr(d, "dtype", np.float32),
                         getattr(d, "layout", "NCHW")) if isinstance(d, DataDesc)
                else DataDesc(renames.get(d[0], d[0]), d[1]) for d in descs]

    def _joined(self, per_iter, renames):
        out = []
        for i, descs in enumerate(per_iter):
            out += self._renamed(descs, None if renames is None else renames[i])
        return out

    @property
    def provide_data(self):
        return self._joined([it.provide_data for it in self.iters], self.rename_data)

    @property
    def provide_label(self):
        return self._joined([it.provide_label for it in self.iters], self.rename_label)

    def reset(self):
        with self._lock:
            self._error = None
            if self._pending:
                try:
                    self._collect()
                except Exception:  # the fetch reset() discards; its error goes with it
                    self._error = None
            for it in self.iters:
                it.reset()
            self._request()

    def next(self):
        with self._lock:
            if self._advance():
                return self.current_batch
        raise StopIteration

    def iter_next(self):
        with self._lock:
            return self._advance()

    def _advance(self):
        if self._error is not None:
            err, tb = self._error
            raise err.with_traceback(tb)
        if not self._pending:
            return False
        batches = self._collect()
        if batches[0] is None:
            if any(b is not None for b in batches):
                raise AssertionError("PrefetchingIter: the iterators ran out after different "
                                     "numbers of batches")
            return False
        if any(b is None or b.pad != batches[0].pad for b in batches):
            raise AssertionError("PrefetchingIter: the iterators' batches differ in size "
                                 "(pad) or count")
        first = batches[0]
        self.current_batch = DataBatch(
            sum((list(b.data) for b in batches), []),
            sum((list(b.label or []) for b in batches), []),
            first.pad, first.index, bucket_key=first.bucket_key,
            provide_data=self._joined([b.provide_data or it.provide_data
                                       for b, it in zip(batches, self.iters)], self.rename_data),
            provide_label=self._joined([b.provide_label or it.provide_label
                                        for b, it in zip(batches, self.iters)],
                                       self.rename_label))
        self._request()
        return True

    def close(self):
        """Stop the worker thread (also done when the iterator is garbage-collected)."""
        _LIVE_WORKERS.discard((self._thread, self._requests))
        if self._thread.is_alive():
            self._requests.put(None)
            _join_unless_blocked(self._thread)

    def __del__(self):
        thread = getattr(self, "_thread", None)
        if thread is not None:
            _LIVE_WORKERS.discard((thread, self._requests))
            if thread.is_alive():
                self._requests.put(None)
