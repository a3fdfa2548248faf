"""The GEMM halves shared by the recurrent cells: `i2h(x) + h2h(h)` forward and its backward."""
import torch

from .fc import column_sum, fc_fwd, matmul


def _bias(i2h_b, h2h_b):
    if i2h_b is None:
        return h2h_b
    return i2h_b if h2h_b is None else i2h_b + h2h_b


def summed_gates(x, h, i2h_w, i2h_b, h2h_w, h2h_b, allow_tf32):
    """`x Wiᵀ + h Whᵀ + bi + bh` in float32, `[B, G]`: the second GEMM accumulates into the
    first's output, so neither weight is copied."""
    gates = fc_fwd(x, i2h_w, _bias(i2h_b, h2h_b), allow_tf32=allow_tf32,
                   out_dtype=torch.float32)
    return matmul(h, h2h_w.T, allow_tf32=allow_tf32, out=gates)


def gates_bwd(di2h, dh2h, x, h, i2h_w, h2h_w, has_i2h_bias, has_h2h_bias, allow_tf32,
              dh_direct=None):
    """Backward of the two GEMMs given the pre-activation grads `di2h`, `dh2h` (`[B, G]`).

    Returns `(dx, dh, di2h_w, di2h_b, dh2h_w, dh2h_b)`; `dh_direct` (the part of dh that did not
    go through h2h) is added into dh in place."""
    dx = matmul(di2h, i2h_w, allow_tf32=allow_tf32, out_dtype=x.dtype)
    if dh_direct is None:
        dh = matmul(dh2h, h2h_w, allow_tf32=allow_tf32, out_dtype=h.dtype)
    else:
        dh = matmul(dh2h, h2h_w, allow_tf32=allow_tf32, out=dh_direct)
    di2h_w = matmul(di2h.T, x, allow_tf32=allow_tf32, out_dtype=i2h_w.dtype)
    dh2h_w = matmul(dh2h.T, h, allow_tf32=allow_tf32, out_dtype=h2h_w.dtype)
    di2h_b = column_sum(di2h, out_dtype=i2h_w.dtype) if has_i2h_bias else None
    if not has_h2h_bias:
        dh2h_b = None
    elif dh2h is di2h and di2h_b is not None:
        dh2h_b = di2h_b.clone()
    else:
        dh2h_b = column_sum(dh2h, out_dtype=h2h_w.dtype)
    return dx, dh, di2h_w, di2h_b, dh2h_w, dh2h_b
