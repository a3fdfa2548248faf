"""Make Triton's interpreter usable with NumPy >= 2.

The interpreter holds every scalar as a one-element array and converts it with `int(array)`
for `range(...)` bounds; NumPy 2.x refuses that for arrays of ndim 1 ("only 0-dimensional
arrays can be converted to Python scalars"), so any loop over a runtime int fails. We wrap the
interpreter's tensor patching to convert through `.reshape(-1)[0]`. Applied only when
`TRITON_INTERPRET=1`; compiled kernels are untouched.
"""
import numpy as np


def _index(self):
    return int(np.asarray(self.handle.data).reshape(-1)[0])


def apply():
    try:
        from triton.runtime import interpreter
    except ImportError:
        return
    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "_bucketmod_compat", False):
        return

    def patch_lang_tensor(tensor, *args, **kwargs):
        result = original(tensor, *args, **kwargs)
        tensor.__index__ = _index
        return result

    patch_lang_tensor._bucketmod_compat = True
    interpreter._patch_lang_tensor = patch_lang_tensor
