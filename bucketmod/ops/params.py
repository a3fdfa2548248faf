"""Operator parameters: MXNet keeps them as strings in the graph; these parse them once, by type.

Parsing is linear in the length of the string (no `eval`, no recursion), so a hostile graph
file cannot make it hang or recurse. Integers are checked against a range: MXNet's `int`
parameters are 32-bit (dmlc rejects 2**31 as "Invalid Parameter format"), shape entries 64-bit;
a `Param` may narrow that (`lower=1` for counts and sizes, as MXNet's `set_lower_bound(1)`).
"""
import re

import numpy as np

from ..base import MXNetError

REQUIRED = object()
INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)
_INT_TOKEN = re.compile(r"\s*([+-]?\d+)L?\s*\Z")


def _bool(v):
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1"):
        return True
    if s in ("false", "0"):
        return False
    raise ValueError(f"expected a boolean, got {v!r}")


def _int_token(text):
    match = _INT_TOKEN.match(text)
    if match is None:
        raise ValueError(f"expected an integer, got {text.strip()[:40]!r}")
    return int(match.group(1))


def _int_tuple(text, element=None):
    """'(2, 3)', '[2,3]', '(2,)', '2', '()' -> a tuple of ints; whether it was bracketed.

    `element` parses each item instead (slice's '(None, 1)')."""
    s = text.strip()
    bracketed = s[:1] in ("(", "[")
    if bracketed:
        if s[-1:] != {"(": ")", "[": "]"}[s[0]]:
            raise ValueError(f"unbalanced brackets in {s[:40]!r}")
        s = s[1:-1]
    if not s.strip():
        return (), bracketed
    items = s.split(",")
    if items[-1].strip() == "" and len(items) > 1:
        items.pop()
    return tuple((element or _int_token)(x) for x in items), bracketed


def _shape(v):
    if isinstance(v, (list, tuple)):
        return tuple(_int(x) for x in v)
    if isinstance(v, int):
        return (v,)
    return _int_tuple(str(v))[0]


def _optional(parse):
    def parse_optional(v):
        if v is None or str(v).strip() == "None":
            return None
        return parse(v)
    return parse_optional


def _float(v):
    return float(v)


def _int(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, str) and "." in v:
        f = float(v)
        if not f.is_integer():
            raise ValueError(f"expected an integer, got {v[:40]!r}")
        return int(f)
    return int(v)


def _axis(v):
    """An int or a tuple of ints (reductions), or None for all axes."""
    if v is None or str(v).strip() in ("None", "()"):
        return None
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v)
    if isinstance(v, int):
        return v
    parsed, bracketed = _int_tuple(str(v))
    return parsed[0] if len(parsed) == 1 and not bracketed and "," not in str(v) else parsed


DTYPE_NAMES = ("float32", "float64", "float16", "bfloat16", "uint8", "int8", "int32", "int64",
               "bool")


def _dtype(v):
    """A data type name MXNet's dtype parameters accept (numpy types become their names);
    None (or 'None') stays None, meaning "as the input"."""
    if v is None or (isinstance(v, str) and v.strip() in ("None", "")):
        return None
    if isinstance(v, str):
        name = v.strip()
    else:
        try:
            name = np.dtype(v).name
        except TypeError:
            raise ValueError(f"expected a data type, got {v!r}") from None
    if name not in DTYPE_NAMES:
        raise ValueError(f"expected one of {list(DTYPE_NAMES)}, got {name[:40]!r}")
    return name


def _float_tuple(v):
    """A tuple of floats (optimizers' per-weight lrs/wds): '(0.1, 0.2)', '0.1', [0.1]."""
    if isinstance(v, (int, float)):
        return (float(v),)
    if isinstance(v, (list, tuple)):
        return tuple(float(x) for x in v)
    return _int_tuple(str(v), float)[0]


def _slice_item(text):
    return None if text.strip() == "None" else _int_token(text)


def _begin_end(v):
    """slice's begin/end/step: a tuple of ints in which None keeps the default."""
    if isinstance(v, (list, tuple)):
        return tuple(None if x is None else _int(x) for x in v)
    if isinstance(v, int):
        return (v,)
    return _int_tuple(str(v), _slice_item)[0]


PARSERS = {
    "int": _int, "float": _float, "bool": _bool, "str": str, "shape": _shape,
    "int_or_none": _optional(_int), "float_or_none": _optional(_float),
    "shape_or_none": _optional(_shape), "bool_or_none": _optional(_bool), "axis": _axis,
    "dtype": _dtype, "dtype_or_none": _dtype, "floats": _float_tuple, "slice": _begin_end,
}


_SHAPE_TYPES = ("shape", "shape_or_none")
_INT_TYPES = ("int", "int_or_none", "axis", "slice")


class Param:
    """One operator parameter: its type name, default, (for enums) the allowed values and (for
    integers, every entry of a shape too) the allowed range.

    `lower`/`upper` default to MXNet's storage type: 32-bit for `int`, `int_or_none` and `axis`,
    64-bit for shapes, unbounded for floats.
    """

    def __init__(self, type_name, default=REQUIRED, choices=None, lower=None, upper=None):
        self.type_name = type_name
        self.default = default
        self.choices = choices
        lo, hi = INT64 if type_name in _SHAPE_TYPES else INT32 if type_name in _INT_TYPES \
            else (None, None)
        self.lower = lo if lower is None else lower
        self.upper = hi if upper is None else upper

    def parse(self, op, name, value):
        try:
            parsed = PARSERS[self.type_name](value)
        except (ValueError, TypeError, OverflowError) as err:
            raise MXNetError(f"{op}: parameter {name} expects {self.type_name}, got "
                             f"{_short(value)} ({err})") from None
        if self.choices is not None and parsed not in self.choices:
            raise MXNetError(f"{op}: parameter {name} expects one of {list(self.choices)}, "
                             f"got {_short(value)}")
        for item in parsed if isinstance(parsed, tuple) else (parsed,):
            if not isinstance(item, (int, float)) or isinstance(item, bool):
                continue
            if (self.lower is not None and not item >= self.lower) or \
                    (self.upper is not None and not item <= self.upper):
                raise MXNetError(f"{op}: parameter {name}: value {item} is out of range "
                                 f"[{self.lower}, {self.upper}]")
        return parsed


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_params(op, schema, given):
    """Strings or python values -> a dict of typed values with defaults filled in.

    Raises MXNetError for an unknown or a missing required parameter, naming both.
    """
    unknown = [k for k in given if k not in schema]
    if unknown:
        raise MXNetError(f"{op}: unknown parameter {unknown[0]!r}; "
                         f"the parameters of {op} are {sorted(schema)}")
    out = {}
    for name, p in schema.items():
        if name in given:
            out[name] = p.parse(op, name, given[name])
        elif p.default is REQUIRED:
            raise MXNetError(f"{op}: required parameter {name} of type {p.type_name} "
                             f"is not given")
        else:
            out[name] = p.default
    return out


def param_to_string(value):
    """How MXNet writes a python parameter value into the graph (str of the value)."""
    if isinstance(value, str):
        return value
    return str(value)
