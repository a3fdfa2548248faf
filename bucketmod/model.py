"""`mx.model`: checkpoints as MXNet 1.x writes them — `prefix-symbol.json` and
`prefix-%04d.params` (an nd.save dict with `arg:`/`aux:` key prefixes), each written atomically."""
import os

from .base import MXNetError
from .callback import BatchEndParam  # noqa: F401  (MXNet exposes it as mx.model.BatchEndParam)
from .context import cpu
from .ndarray import serialization


class CheckpointNotFound(MXNetError, FileNotFoundError):
    """A checkpoint file is missing (an MXNetError, and a FileNotFoundError for plain callers)."""


def params_file(prefix, epoch):
    return "%s-%04d.params" % (prefix, epoch)


def save_params_dict(fname, arg_params, aux_params):
    """Write `arg:`/`aux:` prefixed parameters to `fname` (CPU copies; atomic)."""
    save_dict = {f"arg:{k}": v.as_in_context(cpu()) for k, v in arg_params.items()}
    save_dict.update({f"aux:{k}": v.as_in_context(cpu()) for k, v in aux_params.items()})
    serialization.save(fname, save_dict)


def load_params_dict(fname):
    """(arg_params, aux_params) from a params file; MXNetError for keys without arg:/aux:."""
    if not os.path.exists(fname):
        raise CheckpointNotFound(f"parameter file {fname!r} does not exist")
    loaded = serialization.load(fname)
    if not isinstance(loaded, dict):
        raise MXNetError(f"{fname}: expected a dict of named arrays, found an unnamed list")
    arg_params, aux_params = {}, {}
    for key, value in loaded.items():
        kind, _, name = key.partition(":")
        if kind == "arg":
            arg_params[name] = value
        elif kind == "aux":
            aux_params[name] = value
        else:
            raise MXNetError(f"{fname}: key {key!r} has neither an 'arg:' nor an 'aux:' prefix")
    return arg_params, aux_params


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Write `prefix-symbol.json` (if `symbol` is given) and `prefix-%04d.params`."""
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json", remove_amp_cast=remove_amp_cast)
    save_params_dict(params_file(prefix, epoch), arg_params, aux_params)


def load_params(prefix, epoch):
    return load_params_dict(params_file(prefix, epoch))


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) from `prefix-symbol.json` and `prefix-%04d.params`."""
    from . import symbol as sym
    fname = f"{prefix}-symbol.json"
    if not os.path.exists(fname):
        raise CheckpointNotFound(f"checkpoint symbol file {fname!r} does not exist")
    symbol = sym.load(fname)
    arg_params, aux_params = load_params(prefix, epoch)
    return symbol, arg_params, aux_params
