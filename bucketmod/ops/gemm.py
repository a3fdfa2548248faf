"""The GEMMs of the torch paths: oneDNN's for large float32 products on the CPU, torch.mm's
otherwise.

torch.mm runs MKL, which on AMD CPUs takes its AVX2 path; oneDNN (torch's
`mkldnn::_linear_pointwise`, the kernel inductor calls) runs AVX-512 there and measured
1.6-2.4x faster at the language model's shapes (K = 200, N = 800 or 10,000) on this project's
AMD EPYC. A oneDNN call costs about 50 µs more to set up, so products under
`ONEDNN_MIN_MACS` multiply-adds stay on torch.mm, as does everything where torch has no
oneDNN, and operands with broadcast strides.
"""
import torch

ONEDNN_MIN_MACS = 1 << 20
_onednn = {"op": None}


def _onednn_linear():
    if _onednn["op"] is None:
        mkldnn = getattr(torch.ops, "mkldnn", None)
        op = getattr(mkldnn, "_linear_pointwise", None) if mkldnn is not None else None
        _onednn["op"] = op if op is not None and torch.backends.mkldnn.is_available() else False
    return _onednn["op"]


def _matrix(t):
    """Whether `t` is laid out as a matrix or its transpose (no broadcast strides)."""
    return (t.stride(1) == 1 and t.stride(0) >= t.shape[1]) or \
        (t.stride(0) == 1 and t.stride(1) >= t.shape[0])


def onednn_for(a, b, macs):
    """oneDNN's linear if it should run a product of `macs` multiply-adds of `a` and `b`,
    else None."""
    if a.dtype != torch.float32 or b.dtype != torch.float32 or a.device.type != "cpu" or \
            macs < ONEDNN_MIN_MACS or not (_matrix(a) and _matrix(b)):
        return None
    return _onednn_linear() or None


def linear(x, w, b=None):
    """`x wᵀ + b` for `x: [M, K]`, `w: [N, K]`, `b: [N]` or None (any strides) -> `[M, N]`."""
    op = onednn_for(x, w, x.shape[0] * x.shape[1] * w.shape[0])
    if op is not None:
        return op(x, w, b, "none", [], "")
    return torch.addmm(b, x, w.t()) if b is not None else torch.mm(x, w.t())


def mm(a, b):
    """`a b` for `a: [M, K]`, `b: [K, N]`."""
    op = onednn_for(a, b, a.shape[0] * a.shape[1] * b.shape[1])
    return op(a, b.t(), None, "none", [], "") if op is not None else torch.mm(a, b)


def mm_tn(a, b):
    """`aᵀ b` for `a: [R, P]`, `b: [R, Q]` -> `[P, Q]` (a weight gradient: R rows summed).

    On oneDNN the smaller operand is transposed into a contiguous copy; with P > Q the result
    is the transpose of a contiguous `[Q, P]`.
    """
    op = onednn_for(a, b, a.shape[0] * a.shape[1] * b.shape[1])
    if op is None:
        return torch.mm(a.t(), b)
    if a.shape[1] <= b.shape[1]:
        return op(a.t().contiguous(), b.t(), None, "none", [], "")
    return op(b.t().contiguous(), a.t(), None, "none", [], "").t()
