"""Make Triton's interpreter usable with NumPy >= 2 and with triton 3.2's autotuner.

The interpreter holds every scalar as a one-element array and converts it with `int(array)`
for `range(...)` bounds; NumPy 2.x refuses that for arrays of ndim 1 ("only 0-dimensional
arrays can be converted to Python scalars"), so any loop over a runtime int fails. We wrap the
interpreter's tensor patching to convert through `.reshape(-1)[0]`. Applied only when
`TRITON_INTERPRET=1`; compiled kernels are untouched.

Triton 3.2's `Config.all_kwargs()` also carries the warp-specialisation options
(`num_buffers_warp_spec`, ...), which its interpreter does not list as launch options and so
passes to the kernel as arguments; they are added to its reserved names (later versions
list them, or do not send them).
"""
import numpy as np


def _index(self):
    return int(np.asarray(self.handle.data).reshape(-1)[0])


_LAUNCH_OPTIONS = ("num_buffers_warp_spec", "num_consumer_groups", "reg_dec_producer",
                   "reg_inc_consumer", "maxnreg")


def apply():
    try:
        from triton.runtime import interpreter
    except ImportError:
        return
    reserved = getattr(interpreter, "RESERVED_KWS", None)
    if isinstance(reserved, list):
        reserved.extend(name for name in _LAUNCH_OPTIONS if name not in reserved)
    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "_bucketmod_compat", False):
        return

    def patch_lang_tensor(tensor, *args, **kwargs):
        result = original(tensor, *args, **kwargs)
        tensor.__index__ = _index
        return result

    patch_lang_tensor._bucketmod_compat = True
    interpreter._patch_lang_tensor = patch_lang_tensor
