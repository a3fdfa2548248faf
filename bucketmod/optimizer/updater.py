"""Updater: applies an optimizer per parameter index and keeps its states, which it saves in
a non-pickle format (a JSON header and the arrays in MXNet's NDArray-list format)."""
import json
import math
import struct

import numpy as np

from ..lr_scheduler import LRScheduler
from ..ndarray.ndarray import NDArray, as_ndarray
from ..ndarray.serialization import load_bytes, save_bytes
from .optimizer import _LOW_PRECISION, Optimizer, _check_pair


class Updater:
    """Applies an optimizer to (index, grad, weight) triples, keeping one state per index.

    `get_states`/`set_states` use a non-pickle format: a JSON header describing the
    state structure (and, when dumped, the optimizer's attributes) followed by the state
    arrays in MXNet's NDArray-list format.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an mx.optimizer.Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}
        self.aggregate_updates = optimizer.aggregate_num > 0

    def __call__(self, index, grad, weight):
        """Update `weight` (or a list of weights) in place from `grad`."""
        indices, grads, weights = self._prepare(index, grad, weight)
        if self._multi_tensor(weights):
            self.optimizer.multi_tensor_plan(indices, weights, grads,
                                             [self.states[i] for i in indices])()
            return
        for idx, w, g in zip(indices, weights, grads):
            self.optimizer.update_multi_precision(idx, w, g, self.states[idx])

    def plan(self, index, grad, weight):
        """The host half of updating the lists `index`/`grad`/`weight` (see
        `Optimizer.multi_tensor_plan`): returns the device half, or None where this optimizer
        has no multi-tensor step for these weights (then call the updater itself)."""
        indices, grads, weights = self._prepare(index, grad, weight)
        if not self._multi_tensor(weights):
            return None
        return self.optimizer.multi_tensor_plan(indices, weights, grads,
                                                [self.states[i] for i in indices])

    def _multi_tensor(self, weights):
        opt = self.optimizer
        return opt.multi_tensor and len(weights) > 1 and not (
            opt.multi_precision and any(w.tensor.dtype in _LOW_PRECISION for w in weights))

    def _prepare(self, index, grad, weight):
        """Validated lists of indices, grads and weights, with every state created and on the
        weight's context."""
        if isinstance(index, (list, tuple)):
            indices = list(index)
            if not isinstance(grad, (list, tuple)) or not isinstance(weight, (list, tuple)) \
                    or not len(indices) == len(grad) == len(weight):
                raise ValueError(f"index, grad, weight: expected lists of one length, got "
                                 f"{len(indices)} indices with {_count(grad)} grads and "
                                 f"{_count(weight)} weights")
            grads = [as_ndarray(g, "grad") for g in grad]
            weights = [as_ndarray(w, "weight") for w in weight]
        else:
            indices = [index]
            grads = [as_ndarray(grad, "grad")]
            weights = [as_ndarray(weight, "weight")]
        indices = [i.decode() if isinstance(i, bytes) else i for i in indices]
        for w, g in zip(weights, grads):
            _check_pair(w, g)
        if weights:
            self.optimizer._set_current_context(weights[0].context.device_id)
        for idx, w in zip(indices, weights):
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, w)
                self.states_synced[idx] = True
            elif not self.states_synced[idx]:
                self.states[idx] = self.sync_state_context(self.states[idx], w.context)
                self.states_synced[idx] = True
        return indices, grads, weights

    def sync_state_context(self, state, context):
        """Move a state (an NDArray, or nested tuples/lists of them) onto `context`."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def get_states(self, dump_optimizer=False):
        """All states (and optionally the optimizer) as bytes; see `set_states`."""
        arrays = []
        header = {"format": _STATES_FORMAT,
                  "states": [[_encode_value(idx, "index"), _encode_state(s, arrays)]
                             for idx, s in self.states.items()]}
        if dump_optimizer:
            header["optimizer"] = _encode_optimizer(self.optimizer)
        head = json.dumps(header).encode("utf-8")
        named = {f"s{i}": a for i, a in enumerate(arrays)}
        body = save_bytes(named) if named else b""
        return _STATES_MAGIC + struct.pack("<Q", len(head)) + head + body

    def set_states(self, states):
        """Restore what `get_states` returned; states move to each weight's context lazily."""
        if not isinstance(states, (bytes, bytearray)) or not states.startswith(_STATES_MAGIC):
            head = bytes(states[:16]) if isinstance(states, (bytes, bytearray)) else ""
            raise ValueError(f"states: expected bytes from Updater.get_states() (starting with "
                             f"{_STATES_MAGIC!r}), got {type(states).__name__} {head!r}")
        start = len(_STATES_MAGIC)
        (head_len,) = struct.unpack("<Q", states[start:start + 8])
        header = json.loads(states[start + 8:start + 8 + head_len].decode("utf-8"))
        if header.get("format") != _STATES_FORMAT:
            raise ValueError(f"states: expected format {_STATES_FORMAT}, "
                             f"got {header.get('format')!r}")
        body = bytes(states[start + 8 + head_len:])
        named = load_bytes(body) if body else {}
        arrays = [named[f"s{i}"] for i in range(len(named))]
        new_states = {_decode_value(idx): _decode_state(s, arrays)
                      for idx, s in header["states"]}
        optimizer = _decode_optimizer(header["optimizer"]) if "optimizer" in header else None
        self.states = new_states
        if optimizer is not None:
            self.optimizer = optimizer
        self.states_synced = dict.fromkeys(self.states.keys(), False)


def get_updater(optimizer):
    """An `Updater` for `optimizer` (what kvstore and Module call as `updater(i, g, w)`)."""
    return Updater(optimizer)


def _count(x):
    return len(x) if isinstance(x, (list, tuple)) else "a non-list"


_STATES_MAGIC = b"BUCKETMOD-UPDATER\n"
_STATES_FORMAT = 1


def _encode_state(state, arrays):
    """State tree -> JSON; NDArrays are appended to `arrays` and referenced by position."""
    if state is None:
        return None
    if isinstance(state, NDArray):
        arrays.append(state)
        return {"array": len(arrays) - 1}
    if isinstance(state, (tuple, list)):
        return {"tuple" if isinstance(state, tuple) else "list":
                [_encode_state(s, arrays) for s in state]}
    raise TypeError(f"optimizer state: expected None, an NDArray or a tuple/list of them, "
                    f"got {type(state).__name__}")


def _decode_state(node, arrays):
    if node is None:
        return None
    if "array" in node:
        return arrays[node["array"]]
    if "tuple" in node:
        return tuple(_decode_state(n, arrays) for n in node["tuple"])
    return [_decode_state(n, arrays) for n in node["list"]]


def _encode_value(value, where):
    """Plain python value -> JSON that keeps tuples, non-string dict keys and inf/nan."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode_value(v, where) for v in value]}
    if isinstance(value, list):
        return {"list": [_encode_value(v, where) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode_value(k, where), _encode_value(v, where)]
                         for k, v in value.items()]}
    raise TypeError(f"{where}: cannot be saved without pickle: expected None, bool, int, "
                    f"float, str or tuples/lists/dicts of them, got {type(value).__name__}")


def _decode_value(node):
    if not isinstance(node, dict):
        return node
    if "float" in node:
        return float(node["float"])
    if "tuple" in node:
        return tuple(_decode_value(v) for v in node["tuple"])
    if "list" in node:
        return [_decode_value(v) for v in node["list"]]
    return {_decode_value(k): _decode_value(v) for k, v in node["dict"]}


def _encode_attrs(obj, skip):
    return {k: _encode_value(v, f"{type(obj).__name__}.{k}")
            for k, v in vars(obj).items() if k not in skip}


def _encode_optimizer(opt):
    name = type(opt).__name__.lower()
    if Optimizer.opt_registry.get(name) is not type(opt):
        raise TypeError(f"optimizer: only registered optimizers can be saved, "
                        f"{type(opt).__name__} is not registered")
    skip = {"param_dict", "lr_scheduler", "_index_update_count", "_step_scalars",
            "_capturable"}
    current = next((k for k, v in opt._all_index_update_counts.items()
                    if v is opt._index_update_count), 0)
    sched = opt.lr_scheduler
    return {"name": name, "attrs": _encode_attrs(opt, skip),
            "current_device": _encode_value(current, "device"),
            "lr_scheduler": None if sched is None else
            {"class": type(sched).__name__, "attrs": _encode_attrs(sched, ())}}


def _decode_optimizer(node):
    klass = Optimizer.opt_registry.get(node["name"])
    if klass is None:
        raise ValueError(f"states: the saved optimizer {node['name']!r} is not registered; "
                         f"registered optimizers are {sorted(Optimizer.opt_registry)}")
    opt = klass.__new__(klass)
    opt.__dict__.update({k: _decode_value(v) for k, v in node["attrs"].items()})
    opt.param_dict = {}
    opt._index_update_count = opt._all_index_update_counts.setdefault(
        _decode_value(node["current_device"]), {})
    opt.lr_scheduler = None
    if node["lr_scheduler"] is not None:
        opt.lr_scheduler = _new_scheduler(node["lr_scheduler"])
    return opt


def _new_scheduler(node):
    classes = {}
    pending = [LRScheduler]
    while pending:
        klass = pending.pop()
        classes.setdefault(klass.__name__, klass)
        pending.extend(klass.__subclasses__())
    klass = classes.get(node["class"])
    if klass is None:
        raise ValueError(f"states: the saved lr_scheduler class {node['class']!r} is not a "
                         f"known LRScheduler subclass; known: {sorted(classes)}")
    sched = klass.__new__(klass)
    sched.__dict__.update({k: _decode_value(v) for k, v in node["attrs"].items()})
    return sched
