"""`mx.init` / `mx.initializer`: parameter initializers with MXNet 1.9.1's names and rules.

Values are written in place into `arr.tensor` (the parameter memory every bucket shares),
and random values come from torch's generators, which `mx.random.seed` seeds.
"""
import json
import logging
import math
import re
import warnings

import numpy as np
import torch

from . import registry
from .ndarray.ndarray import NDArray, as_ndarray

__all__ = ["InitDesc", "Initializer", "Load", "Mixed", "Zero", "One", "Constant", "Uniform",
           "Normal", "Orthogonal", "Xavier", "MSRAPrelu", "Bilinear", "LSTMBias", "register",
           "alias", "create"]


class InitDesc(str):
    """A parameter name (a str) carrying the variable's attributes and the global initializer.

    Args:
        name: the parameter name.
        attrs: the variable's attributes; an `__init__` entry (an initializer's `dumps()`)
            overrides the name rules.
        global_init: the initializer the module was asked to use.
    """

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super().__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


def _fill(arr, value):
    with torch.no_grad():
        arr.tensor.fill_(value)


def _assign(arr, values):
    """Copy a numpy array or torch tensor (broadcast to arr's shape) into arr in place."""
    src = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    with torch.no_grad():
        arr.tensor.copy_(src.to(dtype=arr.tensor.dtype, device=arr.tensor.device)
                         .expand(arr.tensor.shape))


def _uniform(arr, low, high):
    with torch.no_grad():
        arr.tensor.uniform_(low, high)


def _normal(arr, std):
    with torch.no_grad():
        arr.tensor.normal_(0.0, std)


# Name suffixes of auxiliary statistics and what they start as (MXNet's legacy rules).
_STAT_SUFFIXES = (("moving_mean", 0.0), ("moving_var", 1.0), ("moving_inv_var", 0.0),
                  ("moving_avg", 0.0))


class Initializer:
    """Base class of initializers: dispatches on the parameter name's suffix.

    `weight` -> `_init_weight` (what subclasses define), `bias`/`beta`/`min` -> 0,
    `gamma`/`max` -> 1. A `__init__` attribute on an `InitDesc` wins over the name.
    """

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log each initialized parameter with `print_func(arr)` (default: its RMS)."""
        self._verbose = verbose
        if print_func is None:
            def print_func(x):
                return str(float(x.tensor.float().norm()) / math.sqrt(max(x.size, 1)))
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr):
        if self._verbose and self._print_func:
            logging.info("Initialized %s as %s: %s", desc, init, self._print_func(arr))

    def dumps(self):
        """The JSON `[name, kwargs]` that `create` (and a `__init__` attribute) accepts."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        """Initialize `arr` (in place) for the parameter named by `desc`."""
        arr = as_ndarray(arr, "arr")
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get("__init__", "")
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        for suffix, method in (("weight", self._init_weight), ("bias", self._init_bias),
                               ("gamma", self._init_gamma), ("beta", self._init_beta),
                               ("min", self._init_zero), ("max", self._init_one),
                               ("weight_quantize", self._init_quantized_weight),
                               ("bias_quantize", self._init_quantized_bias)):
            if desc.endswith(suffix):
                method(desc, arr)
                self._verbose_print(desc, suffix, arr)
                return
        for suffix, value in _STAT_SUFFIXES:
            if desc.endswith(suffix):
                _fill(arr, value)
                return
        self._init_default(desc, arr)

    def _legacy_init(self, name, arr):
        """The rules for a plain str name (MXNet's deprecated calling convention)."""
        warnings.warn("Calling initializer with init(str, NDArray) has been deprecated. "
                      "please use init(mx.init.InitDesc(...), NDArray) instead.",
                      DeprecationWarning, stacklevel=3)
        if not isinstance(name, str):
            raise TypeError(f"name must be string, got {type(name).__name__}")
        if name.startswith("upsampling"):
            self._init_bilinear(name, arr)
        elif name.startswith("stn_loc") and name.endswith("weight"):
            self._init_zero(name, arr)
        elif name.startswith("stn_loc") and name.endswith("bias"):
            self._init_loc_bias(name, arr)
        elif name.endswith("bias"):
            self._init_bias(name, arr)
        elif name.endswith("gamma"):
            self._init_gamma(name, arr)
        elif name.endswith("beta"):
            self._init_beta(name, arr)
        elif name.endswith("weight"):
            self._init_weight(name, arr)
        elif any(name.endswith(s) for s, _ in _STAT_SUFFIXES):
            _fill(arr, dict(_STAT_SUFFIXES)[next(s for s, _ in _STAT_SUFFIXES
                                                 if name.endswith(s))])
        elif name.endswith("min"):
            self._init_zero(name, arr)
        elif name.endswith("max"):
            self._init_one(name, arr)
        else:
            self._init_default(name, arr)

    def _init_bilinear(self, _, arr):
        _assign(arr, _bilinear_kernel(arr.shape))

    def _init_loc_bias(self, _, arr):
        if arr.shape[0] != 6:
            raise ValueError(f"stn_loc bias: expected shape (6,), got {arr.shape}")
        _assign(arr, np.array([1.0, 0, 0, 0, 1.0, 0]))

    def _init_zero(self, _, arr):
        _fill(arr, 0.0)

    def _init_one(self, _, arr):
        _fill(arr, 1.0)

    def _init_bias(self, _, arr):
        _fill(arr, 0.0)

    def _init_quantized_bias(self, _, arr):
        _fill(arr, 0)

    def _init_gamma(self, _, arr):
        _fill(arr, 1.0)

    def _init_beta(self, _, arr):
        _fill(arr, 0.0)

    def _init_weight(self, name, arr):
        """Initialize a weight; what each initializer defines."""
        raise NotImplementedError(f"{type(self).__name__} must override _init_weight")

    def _init_quantized_weight(self, _, arr):
        with torch.no_grad():
            arr.tensor.copy_(torch.randint(-127, 127, arr.shape, device=arr.tensor.device)
                             .to(arr.tensor.dtype))

    def _init_default(self, name, _):
        raise ValueError(f"Unknown initialization pattern for {name}. Default initialization "
                         f"is now limited to \"weight\", \"bias\", \"gamma\" (1.0), and "
                         f"\"beta\" (0.0). Please use mx.sym.Variable(init=mx.init.*) to set "
                         f"initialization pattern")

    def __eq__(self, other):
        if not isinstance(other, Initializer):
            return NotImplemented
        return type(self) is type(other) and self._kwargs == other._kwargs

    __hash__ = object.__hash__


def _bilinear_kernel(shape):
    """The upsampling kernel MXNet's Bilinear builds, for a 4-D weight shape."""
    if len(shape) != 4:
        raise ValueError(f"Bilinear: expected a 4-D weight shape, got {shape}")
    f = np.ceil(shape[3] / 2.)
    c = (2 * f - 1 - f % 2) / (2. * f)
    idx = np.arange(int(np.prod(shape)))
    x = idx % shape[3]
    y = (idx // shape[3]) % shape[2]
    weight = (1 - np.abs(x / f - c)) * (1 - np.abs(y / f - c))
    return weight.astype(np.float32).reshape(shape)


register = registry.get_register_func(Initializer, "initializer")
alias = registry.get_alias_func(Initializer, "initializer")
create = registry.get_create_func(Initializer, "initializer")


class Load:
    """Initialize from saved arrays by name (an `arg:`/`aux:` prefix is dropped).

    Args:
        param: a file written by `mx.nd.save`, or a dict {name: NDArray}.
        default_init: used for names not found; without it those raise.
    """

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            from .ndarray import load
            param = load(param)
        if not isinstance(param, dict):
            raise AssertionError(f"param: expected a dict of name -> NDArray or a file name, "
                                 f"got {type(param).__name__}")
        self.param = {}
        for name, arr in param.items():
            key = name[4:] if name.startswith("arg:") or name.startswith("aux:") else name
            self.param[key] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        arr = as_ndarray(arr, "arr")
        if name in self.param:
            saved = as_ndarray(self.param[name], "arr")
            if arr.shape != saved.shape:
                raise AssertionError(f"Parameter {name} cannot be initialized from loading. "
                                     f"Shape mismatch, target {arr.shape} vs loaded "
                                     f"{saved.shape}")
            _assign(arr, saved.tensor)
            if self.verbose:
                logging.info("Initialized %s by loading", name)
            return
        if self.default_init is None:
            raise AssertionError(f"Cannot Initialize {name}. Not found in loaded param and no "
                                 f"default Initializer is provided.")
        self.default_init(name, arr)
        if self.verbose:
            logging.info("Initialized %s by default", name)


class Mixed:
    """Use the first initializer whose regex pattern matches the parameter name."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise AssertionError(f"patterns and initializers: expected the same length, got "
                                 f"{len(patterns)} and {len(initializers)}")
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise ValueError(f"Parameter name {name} did not match any pattern. Consider add a "
                         f"\".*\" pattern at the and with default Initializer.")


@register
@alias("zeros")
class Zero(Initializer):
    """Weights start at 0."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 0.0)


@register
@alias("ones")
class One(Initializer):
    """Weights start at 1."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 1.0)


@register
class Constant(Initializer):
    """Weights start at `value`, a scalar or an array broadcast to the weight's shape."""

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        if np.isscalar(self.value):
            _fill(arr, self.value)
        else:
            value = self.value
            _assign(arr, value.tensor if isinstance(value, NDArray) else value)

    def dumps(self):
        val = self._kwargs["value"]
        if not np.isscalar(val):
            if isinstance(val, NDArray):
                val = val.asnumpy()
            elif isinstance(val, torch.Tensor):
                val = val.detach().cpu().numpy()
            self._kwargs["value"] = np.asarray(val).tolist()
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])


@register
class Uniform(Initializer):
    """Weights from U(-scale, scale)."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        _uniform(arr, -self.scale, self.scale)


@register
class Normal(Initializer):
    """Weights from N(0, sigma^2)."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        _normal(arr, self.sigma)


@register
class Orthogonal(Initializer):
    """`scale` times an orthogonal matrix (rows or columns) of shape `[out, prod(rest)]`.

    Args:
        rand_type: 'uniform' or 'normal', the random matrix that is decomposed.
    """

    def __init__(self, scale=1.414, rand_type="uniform"):
        super().__init__(scale=scale, rand_type=rand_type)
        if rand_type not in ("uniform", "normal"):
            raise ValueError(f"rand_type: expected 'uniform' or 'normal', got {rand_type!r}")
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        tmp = torch.empty(nout, nin, dtype=torch.float64)
        if self.rand_type == "uniform":
            tmp.uniform_(-1.0, 1.0)
        else:
            tmp.normal_(0.0, 1.0)
        u, _s, vh = torch.linalg.svd(tmp, full_matrices=False)
        res = u if tuple(u.shape) == (nout, nin) else vh
        _assign(arr, (self.scale * res).reshape(arr.shape))


@register
class Xavier(Initializer):
    """Glorot initialization: scale `sqrt(magnitude / factor)`, factor from the fans.

    Args:
        rnd_type: 'uniform' (U(-scale, scale)) or 'gaussian' (N(0, scale^2)).
        factor_type: 'avg' ((fan_in + fan_out) / 2), 'in' (fan_in) or 'out' (fan_out).
        magnitude: the scale's numerator.
    """

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise ValueError(f"Xavier initializer cannot be applied to vector {name}. It "
                             f"requires at least 2D, got shape {shape}.")
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        factors = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}
        if self.factor_type not in factors:
            raise ValueError(f"Incorrect factor type: expected 'avg', 'in' or 'out', "
                             f"got {self.factor_type!r}")
        scale = math.sqrt(self.magnitude / factors[self.factor_type])
        if self.rnd_type == "uniform":
            _uniform(arr, -scale, scale)
        elif self.rnd_type == "gaussian":
            _normal(arr, scale)
        else:
            raise ValueError(f"Unknown random type: expected 'uniform' or 'gaussian', "
                             f"got {self.rnd_type!r}")


@register
class MSRAPrelu(Xavier):
    """He/MSRA initialization for PReLU nets: gaussian Xavier with magnitude 2/(1+slope^2)."""

    def __init__(self, factor_type="avg", slope=0.25):
        magnitude = 2. / (1 + slope ** 2)
        super().__init__("gaussian", factor_type, magnitude)
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Bilinear(Initializer):
    """Bilinear upsampling kernels for a 4-D deconvolution weight."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        _assign(arr, _bilinear_kernel(arr.shape))


@register
class LSTMBias(Initializer):
    """An LSTM bias (gates i, f, c, o): zeros, with the forget gate at `forget_bias`."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        num_hidden = int(arr.shape[0] / 4)
        with torch.no_grad():
            arr.tensor.zero_()
            arr.tensor[num_hidden:2 * num_hidden] = self.forget_bias


@register
class FusedRNN(Initializer):
    """The packed parameter vector of a FusedRNNCell, initialised piece by piece.

    Each unpacked weight and bias gets `init` (or, if None, the global initializer); with
    mode 'lstm' every forget-gate bias (`..._f_bias`, i2h and h2h alike) is `forget_bias`, as
    MXNet does.
    """

    def __init__(self, init, num_hidden, num_layers, mode, bidirectional=False,
                 forget_bias=1.0):
        if isinstance(init, str):
            init = create(init)
        super().__init__(init=init.dumps() if init is not None else None,
                         num_hidden=num_hidden, num_layers=num_layers, mode=mode,
                         bidirectional=bidirectional, forget_bias=forget_bias)
        self._init = init
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._forget_bias = forget_bias

    def _init_weight(self, desc, arr):
        from .rnn.rnn_cell import FusedRNNCell
        cell = FusedRNNCell(self._num_hidden, self._num_layers, self._mode, self._bidirectional,
                            forget_bias=self._forget_bias, prefix="")
        pieces = cell.unpack_weights({"parameters": arr})
        global_init = getattr(desc, "global_init", None) or Uniform()
        for name, piece in pieces.items():
            if self._mode == "lstm" and name.endswith("_f_bias"):
                _fill(piece, self._forget_bias)
            else:
                (self._init or global_init)(InitDesc(name, global_init=global_init), piece)
        _assign(arr, cell.pack_weights(pieces)["parameters"])
