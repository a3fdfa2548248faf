"""The one switch between Triton kernels and torch references.

`BUCKETMOD_BACKEND=auto|triton|torch` in the environment, or `set_backend(...)` from Python.
auto: Triton for CUDA tensors, torch for CPU tensors. `triton` on CPU tensors runs the
kernels through Triton's interpreter (tests set `TRITON_INTERPRET=1`).
"""
import contextlib
import os

_CHOICES = ("auto", "triton", "torch")
_state = {"backend": None}


def get_backend():
    if _state["backend"] is None:
        value = os.environ.get("BUCKETMOD_BACKEND", "auto").lower()
        if value not in _CHOICES:
            raise ValueError(f"BUCKETMOD_BACKEND: expected one of {_CHOICES}, got {value!r}")
        _state["backend"] = value
    return _state["backend"]


def set_backend(name):
    """Choose 'auto', 'triton' or 'torch' for every operator from now on; returns the old one."""
    if name not in _CHOICES:
        raise ValueError(f"backend: expected one of {_CHOICES}, got {name!r}")
    old = get_backend()
    _state["backend"] = name
    return old


@contextlib.contextmanager
def backend(name):
    old = set_backend(name)
    try:
        yield
    finally:
        set_backend(old)


def use_triton(tensor):
    """Whether an operator called on `tensor` should run its Triton kernel."""
    choice = _state["backend"] or get_backend()
    if choice == "auto":
        return tensor.is_cuda
    if choice == "torch":
        return False
    return tensor.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"
