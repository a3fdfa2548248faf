"""One table between numpy dtypes (MXNet's public face) and torch dtypes (our storage)."""
import numpy as np
import torch

_NP_TO_TORCH = {
    np.dtype("float32"): torch.float32,
    np.dtype("float64"): torch.float64,
    np.dtype("float16"): torch.float16,
    np.dtype("uint8"): torch.uint8,
    np.dtype("int8"): torch.int8,
    np.dtype("int32"): torch.int32,
    np.dtype("int64"): torch.int64,
    np.dtype("bool"): torch.bool,
}
_TORCH_TO_NP = {v: k for k, v in _NP_TO_TORCH.items()}
DEFAULT_DTYPE = np.float32


def to_torch_dtype(dtype):
    """numpy dtype, dtype name, numpy type or torch dtype -> torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype == "bfloat16":
        return torch.bfloat16
    try:
        return _NP_TO_TORCH[np.dtype(dtype)]
    except (TypeError, KeyError):
        raise TypeError(f"dtype: expected one of {sorted(str(d) for d in _NP_TO_TORCH)} "
                        f"or 'bfloat16', got {dtype!r}") from None


def to_numpy_dtype(dtype):
    """torch dtype or anything numpy understands -> numpy type (e.g. `numpy.float32`).

    bfloat16 has no numpy type; it is reported as the string 'bfloat16'.
    """
    if isinstance(dtype, torch.dtype):
        if dtype == torch.bfloat16:
            return "bfloat16"
        return _TORCH_TO_NP[dtype].type
    if isinstance(dtype, str) and dtype == "bfloat16":
        return "bfloat16"
    return np.dtype(dtype).type


def dtype_name(dtype):
    dtype = to_numpy_dtype(dtype)
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name
