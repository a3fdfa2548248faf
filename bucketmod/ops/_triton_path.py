"""When an op's functional may hand its tensors to a Triton kernel, and which TF32 choice."""
import torch

from ..backend import use_triton

KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def triton_ok(*tensors):
    """Triton is chosen for the first tensor, and every float tensor shares a kernel dtype."""
    first = tensors[0]
    if not use_triton(first) or first.dtype not in KERNEL_DTYPES:
        return False
    return all(t is None or t.dtype == first.dtype for t in tensors[1:])


def allow_tf32():
    """float32 matmuls follow torch's own switch, `torch.backends.cuda.matmul.allow_tf32`."""
    return bool(torch.backends.cuda.matmul.allow_tf32)
