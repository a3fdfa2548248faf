"""Devices: `mx.cpu(i)`, `mx.gpu(i)` and the current-context stack, mapped onto torch devices.

Several `cpu(i)` contexts are distinct contexts that all live on torch's one CPU device,
which is what lets multi-context data parallelism run (and be tested) on a CPU.
"""
import threading

import torch


class Context:
    """A device context. `Context('cpu', 1)` equals `mx.cpu(1)`; usable as a `with` block."""

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {v: k for k, v in devtype2str.items()}
    _default = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            device_type, device_id = device_type.device_type, device_type.device_id
        if isinstance(device_type, int):
            device_type = self.devtype2str[device_type]
        if device_type not in self.devstr2type:
            raise ValueError(f"device_type: expected one of {sorted(self.devstr2type)}, "
                             f"got {device_type!r}")
        self.device_type = device_type
        self.device_id = int(device_id)
        self._old_ctx = None

    @property
    def device_typeid(self):
        return self.devstr2type[self.device_type]

    @property
    def torch_device(self):
        """The torch device whose memory holds this context's arrays."""
        if self.device_type == "gpu":
            return torch.device("cuda", self.device_id)
        return torch.device("cpu")

    def __hash__(self):
        return hash((self.device_type, self.device_id))

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_type == other.device_type
                and self.device_id == other.device_id)

    def __repr__(self):
        return f"{self.device_type}({self.device_id})"

    __str__ = __repr__

    def __enter__(self):
        self._old_ctx = current_context()
        Context._default.value = self
        return self

    def __exit__(self, *exc):
        Context._default.value = self._old_ctx

    def empty_cache(self):
        if self.device_type == "gpu" and torch.cuda.is_available():
            torch.cuda.empty_cache()


def cpu(device_id=0):
    return Context("cpu", device_id)


def cpu_pinned(device_id=0):
    return Context("cpu_pinned", device_id)


def gpu(device_id=0):
    return Context("gpu", device_id)


def num_gpus():
    return torch.cuda.device_count()


def current_context():
    return getattr(Context._default, "value", None) or Context("cpu", 0)


def context_of_device(device):
    """The context of a torch device (the id is 0 for every CPU tensor)."""
    device = torch.device(device)
    if device.type == "cuda":
        return Context("gpu", device.index or 0)
    return Context("cpu", 0)
