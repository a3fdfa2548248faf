"""The one switch between Triton kernels and torch references.

`BUCKETMOD_BACKEND=auto|triton|torch` in the environment, or `set_backend(...)` from Python.
auto: Triton for CUDA tensors, torch for CPU tensors. `triton` on CPU tensors runs the
kernels through Triton's interpreter (tests set `TRITON_INTERPRET=1`). An executor makes the
choice once, at bind: its operators follow that choice whatever the switch says later.
"""
import contextlib
import os

import torch

_CHOICES = ("auto", "triton", "torch")
# "bound": the choice an executor made at bind, in force while its program runs
_state = {"backend": None, "bound": None}


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
    """Whether an operator called on `tensor` should run its Triton kernel: the bound
    executor's choice while one runs, else the switch's for this tensor's device."""
    bound = _state["bound"]
    if bound is not None:
        return bound
    return triton_on(tensor.device)


def triton_on(device):
    """Whether operators on tensors of `device` run their Triton kernels, as the switch is
    now (an executor asks once, at bind)."""
    choice = _state["backend"] or get_backend()
    is_cuda = torch.device(device).type == "cuda"
    if choice == "auto":
        return is_cuda
    if choice == "torch":
        return False
    return is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


def bind(choice):
    """Make `choice` (a bool, or None for the switch) what `use_triton` answers; returns the
    previous binding. The executor's program brackets its run with this."""
    previous = _state["bound"]
    _state["bound"] = choice
    return previous
