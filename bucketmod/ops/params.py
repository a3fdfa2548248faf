"""Operator parameters: MXNet keeps them as strings in the graph; these parse them once, by type."""
import ast

import numpy as np

from ..base import MXNetError

REQUIRED = object()


def _bool(v):
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1"):
        return True
    if s in ("false", "0"):
        return False
    raise ValueError(f"expected a boolean, got {v!r}")


def _int_tuple(v, element=int):
    """A tuple from a tuple, a list, one int or their text ('(2, 3)', '[]', '(None, 1)')."""
    if isinstance(v, (list, tuple)):
        return tuple(element(x) for x in v)
    if isinstance(v, int):
        return (v,)
    s = str(v).strip()
    if s in ("", "()", "[]"):
        return ()
    parsed = ast.literal_eval(s)
    if parsed is None or isinstance(parsed, int):
        return (element(parsed),)
    return tuple(element(x) for x in parsed)


def _shape(v):
    return _int_tuple(v)


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
    return int(float(v)) if isinstance(v, str) and "." in v else int(v)


def _axis(v):
    """An int or a tuple of ints (reductions), or None for all axes."""
    if v is None or str(v).strip() in ("None", "()"):
        return None
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v)
    if isinstance(v, int):
        return v
    parsed = ast.literal_eval(str(v))
    return parsed if isinstance(parsed, int) else tuple(int(x) for x in parsed)


def _dtype(v):
    """A dtype name ('float32', 'bfloat16', ...) from a name, numpy type or dtype; None stays."""
    if v is None or (isinstance(v, str) and v.strip() in ("None", "")):
        return None
    if isinstance(v, str) and v.strip() == "bfloat16":
        return "bfloat16"
    try:
        return np.dtype(v.strip() if isinstance(v, str) else v).name
    except TypeError as err:
        raise ValueError(str(err)) from None


def _float_tuple(v):
    """A tuple of floats (optimizers' per-weight lrs/wds)."""
    if isinstance(v, (int, float)):
        return (float(v),)
    if isinstance(v, (list, tuple)):
        return tuple(float(x) for x in v)
    parsed = ast.literal_eval(str(v).strip())
    return (float(parsed),) if isinstance(parsed, (int, float)) else tuple(
        float(x) for x in parsed)


def _begin_end(v):
    """slice's begin/end/step: a tuple of ints in which None keeps the default."""
    return _int_tuple(v, lambda x: None if x is None else int(x))


PARSERS = {
    "int": _int, "float": _float, "bool": _bool, "str": str, "shape": _shape,
    "int_or_none": _optional(_int), "float_or_none": _optional(_float),
    "shape_or_none": _optional(_shape), "bool_or_none": _optional(_bool), "axis": _axis,
    "dtype": _dtype, "floats": _float_tuple, "slice": _begin_end,
}


class Param:
    """One operator parameter: its type name, default, and (for enums) the allowed values."""

    def __init__(self, type_name, default=REQUIRED, choices=None):
        self.type_name = type_name
        self.default = default
        self.choices = choices

    def parse(self, op, name, value):
        try:
            parsed = PARSERS[self.type_name](value)
        except (ValueError, SyntaxError, TypeError) as err:
            raise MXNetError(f"{op}: parameter {name} expects {self.type_name}, got {value!r} "
                             f"({err})") from None
        if self.choices is not None and parsed not in self.choices:
            raise MXNetError(f"{op}: parameter {name} expects one of {list(self.choices)}, "
                             f"got {value!r}")
        return parsed


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
    """How MXNet writes a python parameter value into the graph (str of the value; a numpy
    dtype or type by its name)."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    return str(value)
