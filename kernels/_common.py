"""Small host-side helpers shared by the launchers: interpreter detection, dtypes, precision."""
import os

import torch
import triton

from . import _interpreter_compat

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def interpreting():
    return os.environ.get("TRITON_INTERPRET") == "1"


if interpreting():
    _interpreter_compat.apply()


class _LazyAutotuner:
    """`triton.autotune(configs, key)(fn)`, built at the first launch: Triton 3.2's autotuner
    asks for a GPU driver as soon as it is built, and importing kernels must not need one."""

    def __init__(self, fn, configs, key):
        self.fn, self.configs, self.key = fn, configs, key
        self._tuner = None

    def __getitem__(self, grid):
        if self._tuner is None:
            self._tuner = triton.autotune(configs=self.configs, key=self.key)(self.fn)
        return self._tuner[grid]


def autotune(configs, key):
    """Autotune over `configs` keyed on `key`; under the interpreter the one config is fixed
    through `triton.heuristics` instead."""
    if interpreting():
        (config,) = configs
        return triton.heuristics({k: (lambda args, v=v: v) for k, v in config.kwargs.items()})
    return lambda fn: _LazyAutotuner(fn, configs, key)


def check_dtype(name, t):
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name}: expected one of float32/float16/bfloat16, got {t.dtype}")


def input_precision(allow_tf32):
    """'tf32' lets float32 `tl.dot` use TF32 tensor cores; 'ieee' keeps full float32."""
    return "tf32" if allow_tf32 else "ieee"


def upcast_dot(dtype):
    """Triton's interpreter computes bfloat16 `tl.dot` wrongly (3.6); feed it float32 operands.

    bf16 x bf16 products are exact in float32, so this matches the GPU's fp32-accumulated dot.
    """
    return interpreting() and dtype == torch.bfloat16

