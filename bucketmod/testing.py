"""Test helpers shared by every test folder: one tolerance check tied to a ratio per dtype."""
import contextlib

import torch


def _first_mismatches(ref, out, tol, count=5):
    bad = ((ref - out).abs() > tol) | torch.isnan(out)
    idx = bad.nonzero()[:count].tolist()
    return ", ".join(f"{tuple(i)}: ref={ref[tuple(i)].item():.6g} out={out[tuple(i)].item():.6g}"
                     for i in idx)


def assert_close(name, ref, out, ratio):
    """Fail unless `out` matches `ref`: max-abs error <= 1e-6 passes at once; otherwise the
    relative RMS error `rms(ref - out) / rms(ref)` must be <= `ratio`. NaN in `out` always fails.

    Args:
        name: what is compared, for the message (e.g. 'dx').
        ref, out: tensors (or anything torch.as_tensor takes) of the same shape.
        ratio: allowed relative RMS error, chosen per dtype by the caller.
    """
    ref = torch.as_tensor(ref).detach().double().cpu()
    out = torch.as_tensor(out).detach().double().cpu()
    if ref.shape != out.shape:
        raise AssertionError(f"{name}: shape {tuple(out.shape)}, expected {tuple(ref.shape)}")
    if torch.isnan(out).any() and not torch.isnan(ref).any():
        raise AssertionError(f"{name}: NaN in output at {_first_mismatches(ref, out, 0.0)}")
    if ref.numel() == 0:
        return
    abs_err = (ref - out).abs().nan_to_num(0.0).max().item()
    if abs_err <= 1e-6:
        return
    rms_ref = ref.pow(2).mean().sqrt().item()
    err_ratio = (ref - out).pow(2).mean().sqrt().item() / max(rms_ref, 1e-12)
    if err_ratio > ratio:
        raise AssertionError(
            f"{name}: max-abs error {abs_err:.3g}, relative RMS error {err_ratio:.3g} > "
            f"{ratio:.3g}; first mismatches: {_first_mismatches(ref, out, abs_err / 2)}")


class HostSyncError(RuntimeError):
    """A tensor's value was read on the host where no host sync is allowed."""


_SYNC_METHODS = ("item", "tolist", "numpy", "cpu", "nonzero", "__bool__", "__int__",
                 "__float__", "__index__")
_SYNC_FUNCTIONS = ("nonzero", "masked_select", "unique", "bincount", "repeat_interleave")


def _refuse(what):
    def refuse(*args, **kwargs):
        raise HostSyncError(f"{what} reads a tensor on the host (a device sync) inside a "
                            f"region where no host sync is allowed")
    return refuse


def _is_mask(index):
    if isinstance(index, tuple):
        return any(_is_mask(i) for i in index)
    return isinstance(index, torch.Tensor) and index.dtype == torch.bool


@contextlib.contextmanager
def forbid_host_sync():
    """Make every way of reading a tensor's value on the host raise `HostSyncError` inside the
    block: `.item()`, `.tolist()`, `.numpy()`, `.cpu()`, `bool(t)`, `int(t)`, `float(t)`,
    `nonzero`, boolean-mask indexing, and the operators whose output size depends on values.
    On CUDA these are exactly what would stall the host on the GPU; on the CPU this finds them
    before a GPU is lent. With CUDA present, torch's own sync debug mode is set to error too.
    """
    saved = [(torch.Tensor, name, getattr(torch.Tensor, name)) for name in _SYNC_METHODS]
    saved += [(torch, name, getattr(torch, name)) for name in _SYNC_FUNCTIONS]
    saved.append((torch.Tensor, "__getitem__", torch.Tensor.__getitem__))
    plain_getitem = torch.Tensor.__getitem__

    def getitem(self, index):
        if _is_mask(index):
            raise HostSyncError("boolean-mask indexing reads the mask on the host (a device "
                                "sync) inside a region where no host sync is allowed")
        return plain_getitem(self, index)

    cuda_mode = torch.cuda.get_sync_debug_mode() if torch.cuda.is_available() else None
    try:
        for owner, name, _ in saved[:-1]:
            setattr(owner, name, _refuse(f"{getattr(owner, '__name__', owner)}.{name}"))
        torch.Tensor.__getitem__ = getitem
        if cuda_mode is not None:
            torch.cuda.set_sync_debug_mode("error")
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
        if cuda_mode is not None:
            torch.cuda.set_sync_debug_mode(cuda_mode)
