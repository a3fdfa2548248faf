"""Host-side helpers shared by the launchers: interpreter detection, dtypes, precision, the
target GPU, alignment hints and per-class autotuning."""
import functools
import math
import os
import time

import torch
from triton.runtime.autotuner import Autotuner

from . import _interpreter_compat

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def interpreting():
    return os.environ.get("TRITON_INTERPRET") == "1"


if interpreting():
    _interpreter_compat.apply()

# The AOT check (`_aot.py`) sets the architecture it compiles for; launchers then choose their
# configs for that target instead of asking a device.
_aot_target = {"arch": None, "sm_count": None}


@functools.lru_cache(maxsize=None)
def _device_props(index):
    major, minor = torch.cuda.get_device_capability(index)
    return 10 * major + minor, torch.cuda.get_device_properties(index).multi_processor_count


def gpu_arch(device):
    """Compute capability as one int (80 for sm_80, 90 for sm_90), or None off a GPU."""
    if _aot_target["arch"] is not None:
        return _aot_target["arch"]
    if interpreting() or device.type != "cuda":
        return None
    return _device_props(device.index if device.index is not None else
                         torch.cuda.current_device())[0]


def sm_count(device):
    """Streaming multiprocessors of `device` (132 for an H100/H200 SXM when not on a GPU)."""
    if _aot_target["sm_count"] is not None or interpreting() or device.type != "cuda":
        return _aot_target["sm_count"] or 132
    return _device_props(device.index if device.index is not None else
                         torch.cuda.current_device())[1]


def alignment(*values, cap=8):
    """Largest power of two, at most `cap`, dividing every value.

    Triton only knows that an int argument is a multiple of 16; a row stride of 200 elements
    therefore looks unaligned and every load stays scalar. Kernels take this as a constexpr
    `ALIGN` and pass it to `tl.multiple_of`, so width-200 rows load 8 fp16 at a time (16 bytes,
    the widest load) and pipeline. `cap` 8 keeps the set of compiled variants small.
    """
    g = 0
    for v in values:
        g = math.gcd(g, int(v))
    return min(g & -g, cap) if g else cap


def _interpreter_bench(kernel_call, quantiles=None, **_):
    """What the autotuner times under the interpreter: one call, wall clock, in milliseconds."""
    start = time.perf_counter()
    kernel_call()
    ms = (time.perf_counter() - start) * 1e3
    return [ms, ms, ms] if quantiles else ms


class Tuned:
    """`triton.autotune` with the tuning key chosen by the launcher.

    `configs(key)` gives the configs for one tuning class (dtype kind, target, shape class),
    and each key gets its own autotuner, so keys hold no raw row counts: a new bucket length
    reuses the tuned config. Launches that add into an output (`restore`, the names of those
    arguments) are restored after every config the autotuner tries, so the sum is added once.
    """

    def __init__(self, fn, configs):
        self.fn, self.configs = fn, configs
        self.tuners = {}

    def __call__(self, key, grid, restore=(), **kwargs):
        tuner = self.tuners.get((key, restore))
        if tuner is None:
            # Built directly: triton 3.2's `triton.autotune` drops `do_bench`, and without it
            # the autotuner asks for a GPU driver the interpreter does not have.
            tuner = Autotuner(self.fn, self.fn.arg_names, self.configs(key), [], None,
                              list(restore) or None,
                              do_bench=_interpreter_bench if interpreting() else None)
            self.tuners[(key, restore)] = tuner
        return tuner[grid](**kwargs)


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
