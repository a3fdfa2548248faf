"""Dtypes with their tolerances (relative RMS error vs the float32 reference) and helpers."""
import pytest
import torch

DTYPES = [pytest.param(torch.float32, 1e-5, id="fp32"),
          pytest.param(torch.float16, 2e-3, id="fp16"),
          pytest.param(torch.bfloat16, 1.2e-2, id="bf16")]

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def leaves(*tensors, dtype):
    """Kernel inputs in `dtype` and float32 reference copies of the same values with grads."""
    low = [None if t is None else t.to(device=device(), dtype=dtype) for t in tensors]
    ref = [None if t is None else t.float().clone().requires_grad_() for t in low]
    return low, ref
