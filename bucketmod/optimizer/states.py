"""The `.states` format of `Updater.get_states`/`set_states`, and its validating reader.

A blob is `MAGIC | u64 header length | header (UTF-8 JSON) | arrays (MXNet's NDArray-list
format, named s0..sN)`. The header holds, per optimizer index, the state tree (None, an array
reference, or a tuple/list of trees) and, when dumped, the optimizer's settings and counters.
No pickle: loading runs no code from the file.

`decode` checks everything before it returns: lengths against the bytes present, UTF-8 and
JSON, nesting depth (`MAX_DEPTH`), every array referenced exactly once, indices unique ints or
strings, a dumped optimizer a registered class whose attributes exist on that class with values
of the same kind, and its learning-rate functions callable. Any failure is an
`OptimizerStatesError` (an MXNetError) naming the source and the entry.
"""
import copy
import inspect
import json
import math
import struct
import sys

import numpy as np

from ..base import MXNetError
from ..lr_scheduler import LRScheduler
from ..ndarray.ndarray import NDArray
from ..ndarray.serialization import load_bytes, save_bytes
from .optimizer import Optimizer

MAGIC = b"BUCKETMOD-UPDATER\n"
FORMAT = 1
# deepest nesting of a state tree or of a saved attribute value (optimizers use 2 or 3)
MAX_DEPTH = 16
_COUNTERS = ("num_update", "begin_num_update", "_all_index_update_counts")


class OptimizerStatesError(MXNetError):
    """Bytes that are not optimizer states this optimizer can take."""


def encode(states, optimizer=None):
    """The bytes of `states` ({index: state tree}) and, if given, the optimizer's settings."""
    arrays = []
    header = {"format": FORMAT,
              "states": [[_encode_value(idx, "index"), _encode_state(s, arrays)]
                         for idx, s in states.items()]}
    if optimizer is not None:
        header["optimizer"] = _encode_optimizer(optimizer)
    head = json.dumps(header).encode("utf-8")
    named = {f"s{i}": a for i, a in enumerate(arrays)}
    body = save_bytes(named) if named else b""
    return MAGIC + struct.pack("<Q", len(head)) + head + body


def load(fname):
    """`decode` of the file `fname`."""
    try:
        with open(fname, "rb") as f:
            blob = f.read()
    except OSError as err:
        raise OptimizerStatesError(f"optimizer states: cannot read {fname!r}: "
                                   f"{err.strerror or err}") from None
    return decode(blob, repr(fname))


def decode(blob, source="<states>"):
    """({index: state tree}, Optimizer or None) from `encode`'s bytes, checked completely."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise TypeError(f"states: expected bytes from Updater.get_states(), got "
                        f"{type(blob).__name__}")
    blob = bytes(blob)
    rd = _Reader(source)
    if not blob.startswith(MAGIC):
        raise rd.error(f"expected bytes from Updater.get_states() (starting with {MAGIC!r}), "
                       f"got {blob[:16]!r}")
    pos = len(MAGIC)
    if len(blob) < pos + 8:
        raise rd.error(f"truncated: {len(blob)} bytes hold no header length")
    (head_len,) = struct.unpack_from("<Q", blob, pos)
    pos += 8
    if head_len > len(blob) - pos:
        raise rd.error(f"header length {head_len} exceeds the {len(blob) - pos} bytes left")
    header = rd.json(blob[pos:pos + head_len])
    arrays = rd.arrays(blob[pos + head_len:])
    entries = rd.field(header, "states", list, "the header")
    used = [False] * len(arrays)
    states = {}
    for k, item in enumerate(entries):
        if not isinstance(item, list) or len(item) != 2:
            raise rd.error(f"states[{k}] is {_short(item)}: expected [index, state]")
        index = rd.value(item[0], f"states[{k}] index")
        if isinstance(index, bool) or not isinstance(index, (int, str)):
            raise rd.error(f"states[{k}] has index {_short(item[0])}: expected an int or a str")
        if index in states:
            raise rd.error(f"states[{k}]: index {index!r} appears twice")
        states[index] = rd.state(item[1], arrays, used, f"the state of index {index!r}", 0)
    unused = [f"s{i}" for i, u in enumerate(used) if not u]
    if unused:
        raise rd.error(f"arrays {unused[:5]} are not used by any state")
    optimizer = None
    if "optimizer" in header:
        optimizer = rd.optimizer(rd.field(header, "optimizer", dict, "the header"))
    return states, optimizer


class _Reader:
    def __init__(self, source):
        self.source = source

    def error(self, what):
        return OptimizerStatesError(f"optimizer states {self.source}: {what}")

    def field(self, obj, key, kind, owner):
        if key not in obj:
            raise self.error(f"{owner} has no {key!r} field")
        if not isinstance(obj[key], kind):
            raise self.error(f"{owner}'s {key!r} is {_short(obj[key])}: expected a JSON "
                             f"{'array' if kind is list else 'object'}")
        return obj[key]

    def json(self, raw):
        try:
            header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError as err:
            raise self.error(f"the header is not UTF-8 (byte {err.start})") from None
        except ValueError as err:
            raise self.error(f"the header is not JSON ({err})") from None
        except RecursionError:
            raise self.error("the header nests too deeply") from None
        if not isinstance(header, dict):
            raise self.error(f"the header is {_short(header)}: expected a JSON object")
        if header.get("format") != FORMAT:
            raise self.error(f"format is {_short(header.get('format'))}: expected {FORMAT}")
        return header

    def arrays(self, body):
        if not body:
            return []
        try:
            named = load_bytes(body)
        except MXNetError as err:
            raise self.error(f"the array section: {err}") from None
        names = list(named) if isinstance(named, dict) else None
        if names != [f"s{i}" for i in range(len(named))]:
            raise self.error(f"the array section holds {_short(names)}: expected arrays named "
                             f"s0..s{len(named) - 1} in order")
        return list(named.values())

    def state(self, node, arrays, used, what, depth):
        if node is None:
            return None
        if depth > MAX_DEPTH:
            raise self.error(f"{what} nests deeper than {MAX_DEPTH}")
        if not isinstance(node, dict) or len(node) != 1:
            raise self.error(f"{what} is {_short(node)}: expected null, {{\"array\": i}}, "
                             f"{{\"tuple\": [...]}} or {{\"list\": [...]}}")
        (kind, value), = node.items()
        if kind == "array":
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not 0 <= value < len(arrays):
                raise self.error(f"{what} refers to array {_short(value)}; the file holds "
                                 f"{len(arrays)}")
            if used[value]:
                raise self.error(f"{what} refers to array s{value}, which another state uses")
            used[value] = True
            return arrays[value]
        if kind in ("tuple", "list") and isinstance(value, list):
            items = [self.state(v, arrays, used, what, depth + 1) for v in value]
            return tuple(items) if kind == "tuple" else items
        raise self.error(f"{what} is {_short(node)}: expected null, {{\"array\": i}}, "
                         f"{{\"tuple\": [...]}} or {{\"list\": [...]}}")

    def value(self, node, what, depth=0):
        """A plain value saved by `_encode_value`."""
        if depth > MAX_DEPTH:
            raise self.error(f"{what} nests deeper than {MAX_DEPTH}")
        if node is None or isinstance(node, (bool, int, str)):
            return node
        if isinstance(node, float):
            return node
        if isinstance(node, dict) and len(node) == 1:
            (kind, value), = node.items()
            if kind == "float" and isinstance(value, str) and value in _SPECIAL_FLOATS:
                return float(value)
            if kind in ("tuple", "list") and isinstance(value, list):
                items = [self.value(v, what, depth + 1) for v in value]
                return tuple(items) if kind == "tuple" else items
            if kind == "dict" and isinstance(value, list):
                out = {}
                for pair in value:
                    if not isinstance(pair, list) or len(pair) != 2:
                        raise self.error(f"{what} has a dict item {_short(pair)}: expected "
                                         f"[key, value]")
                    key = self.value(pair[0], what, depth + 1)
                    if not _hashable(key):
                        raise self.error(f"{what} has a dict key {_short(pair[0])}: expected "
                                         f"a number, a string or a tuple of them")
                    out[key] = self.value(pair[1], what, depth + 1)
                return out
        raise self.error(f"{what} is {_short(node)}: not a saved value")

    def optimizer(self, node):
        name = self.field_str(node, "name", "the optimizer")
        klass = Optimizer.opt_registry.get(name)
        if klass is None:
            raise self.error(f"the saved optimizer {name!r} is not registered; registered "
                             f"optimizers are {sorted(Optimizer.opt_registry)}")
        try:
            reference = vars(klass())
        except Exception as err:
            raise self.error(f"the saved optimizer {name!r} cannot be made with its defaults "
                             f"to check the file against ({type(err).__name__}: {err})") from None
        opt = klass.__new__(klass)
        opt.__dict__.update(reference)
        for key, raw in self.field(node, "attrs", dict, "the optimizer").items():
            what = f"optimizer attribute {key!r}"
            if key not in reference or key in ("param_dict", "_index_update_count"):
                raise self.error(f"{what} is not an attribute of {klass.__name__}")
            value = self.value(raw, what)
            if not _same_kind(reference[key], value):
                raise self.error(f"{what} is {_short(value)}, expected a value like "
                                 f"{_short(reference[key])}")
            opt.__dict__[key] = value
        self._check_base_attrs(opt)
        device = self.value(node.get("current_device", 0), "optimizer current_device")
        if not _hashable(device):
            raise self.error(f"optimizer current_device is {_short(device)}")
        opt.param_dict = {}
        opt._index_update_count = opt._all_index_update_counts.setdefault(device, {})
        opt.lr_scheduler = None
        if node.get("lr_scheduler") is not None:
            opt.lr_scheduler = self.scheduler(self.field(node, "lr_scheduler", dict,
                                                         "the optimizer"))
        self._probe(opt)
        return opt

    def field_str(self, node, key, owner):
        value = node.get(key)
        if not isinstance(value, str):
            raise self.error(f"{owner}'s {key!r} is {_short(value)}: expected a string")
        return value

    def _check_base_attrs(self, opt):
        counts = opt._all_index_update_counts
        if not isinstance(counts, dict) or not all(
                isinstance(per, dict) and all(_is_int(c) for c in per.values())
                for per in counts.values()):
            raise self.error(f"optimizer update counts are {_short(counts)}: expected "
                             f"{{device: {{index: count}}}}")
        for key in ("num_update", "begin_num_update"):
            if not _is_int(getattr(opt, key)):
                raise self.error(f"optimizer {key} is {_short(getattr(opt, key))}: "
                                 "expected an int")
        for key in ("lr_mult", "wd_mult"):
            if not all(_is_number(v) for v in getattr(opt, key).values()):
                raise self.error(f"optimizer {key} is {_short(getattr(opt, key))}: expected "
                                 "numbers")
        if not all(isinstance(v, str) for v in opt.idx2name.values()):
            raise self.error(f"optimizer idx2name is {_short(opt.idx2name)}: expected names")
        info = opt.sym_info
        if info and not (len(info) == 2 and isinstance(info[0], dict) and
                         all(isinstance(a, dict) for a in info[0].values()) and
                         all(isinstance(n, str) for n in info[1])):
            raise self.error(f"optimizer sym_info is {_short(info)}: expected (attr_dict, "
                             "argument names)")

    def scheduler(self, node):
        """An LRScheduler rebuilt through its constructor (which checks its arguments), then
        given the saved attributes that exist on it, each of the kind it has there."""
        classes = {}
        pending = [LRScheduler]
        while pending:
            klass = pending.pop()
            classes.setdefault(klass.__name__, klass)
            pending.extend(klass.__subclasses__())
        name = self.field_str(node, "class", "the lr_scheduler")
        klass = classes.get(name)
        if klass is None:
            raise self.error(f"the saved lr_scheduler class {name!r} is not a known "
                             f"LRScheduler subclass; known: {sorted(classes)}")
        attrs = {key: self.value(raw, f"lr_scheduler attribute {key!r}")
                 for key, raw in self.field(node, "attrs", dict, "the lr_scheduler").items()}
        accepted = inspect.signature(klass.__init__).parameters
        try:
            sched = klass(**{k: v for k, v in attrs.items() if k in accepted and k != "self"})
        except Exception as err:
            raise self.error(f"the saved {name} settings are not valid for it "
                             f"({type(err).__name__}: {err})") from None
        reference = dict(vars(sched))
        for key, value in attrs.items():
            if key not in reference or not _same_kind(reference[key], value):
                raise self.error(f"lr_scheduler attribute {key!r}={_short(value)} is not an "
                                 f"attribute of {name} of that kind")
            sched.__dict__[key] = value
        return sched

    def _probe(self, opt):
        """The restored optimizer must compute its learning rates and weight decays, in a
        bounded number of steps (a schedule's catch-up loop included)."""
        trial = copy.deepcopy(opt)
        indices = list(trial.idx2name) or [0]
        try:
            values = _bounded(lambda: trial._get_lrs(indices) + trial._get_wds(indices))
        except _OverBudget:
            raise self.error(f"the saved {type(opt).__name__} does not compute its learning "
                             f"rate within {_PROBE_BUDGET} steps (update count "
                             f"{opt.num_update})") from None
        except Exception as err:
            raise self.error(f"the saved {type(opt).__name__} cannot compute its learning rate "
                             f"or weight decay ({type(err).__name__}: {err})") from None
        if not all(_is_number(v) for v in values):
            raise self.error(f"the saved {type(opt).__name__} computes learning rates or weight "
                             f"decays {_short(values)}: expected numbers")


_PROBE_BUDGET = 10_000


class _OverBudget(Exception):
    pass


def _bounded(fn):
    """fn() with a budget of traced Python events (lines and calls) in this thread."""
    events = 0

    def tracer(frame, event, arg):
        nonlocal events
        events += 1
        if events > _PROBE_BUDGET:
            raise _OverBudget
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return fn()
    finally:
        sys.settrace(previous)


_SPECIAL_FLOATS = ("inf", "-inf", "nan")


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON value")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _hashable(key):
    if key is None or isinstance(key, (bool, int, float, str)):
        return True
    return isinstance(key, tuple) and all(_hashable(k) for k in key)


def _kind(value):
    if isinstance(value, bool):
        return "bool"
    if _is_number(value):
        return "number"
    if isinstance(value, (tuple, list)):
        return "sequence"
    return type(value).__name__


def _same_kind(reference, value):
    """Whether a saved value may replace an attribute whose default is `reference`."""
    scalars = ("NoneType", "bool", "number", "str")
    if reference is None or value is None:
        return _kind(value) in scalars and _kind(reference) in scalars
    return _kind(reference) == _kind(value)


def _short(value, limit=60):
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


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


def settings_differences(mine, saved):
    """The settings (not counters or names) in which two optimizers differ, as text."""
    if type(mine) is not type(saved):
        return [f"class {type(saved).__name__} (the module has {type(mine).__name__})"]
    skip = set(_COUNTERS) | {"param_dict", "lr_scheduler", "_index_update_count", "idx2name",
                             "sym_info", "_capturable"}
    out = []
    for key in sorted(set(vars(mine)) | set(vars(saved))):
        if key in skip:
            continue
        a, b = _encoded_or_none(getattr(mine, key, None)), \
            _encoded_or_none(getattr(saved, key, None))
        if a is not _NOT_A_SETTING and b is not _NOT_A_SETTING and a != b:
            out.append(f"{key}={getattr(saved, key, None)!r} (the module has "
                       f"{getattr(mine, key, None)!r})")
    return out


_NOT_A_SETTING = object()


def _encoded_or_none(value):
    """The saved form of a value; caches of arrays and the like are not settings."""
    try:
        return _encode_value(value, "")
    except TypeError:
        return _NOT_A_SETTING


def restore_counters(target, saved):
    """Give `target` the update counters of `saved` (progress, not settings)."""
    current = next((k for k, v in saved._all_index_update_counts.items()
                    if v is saved._index_update_count), 0)
    target.num_update = saved.num_update
    target.begin_num_update = saved.begin_num_update
    target._all_index_update_counts = copy.deepcopy(saved._all_index_update_counts)
    target._index_update_count = target._all_index_update_counts.setdefault(current, {})
