"""`mx.random`: one seed for every random number bucketmod draws (torch's generators)."""
import numpy as np
import torch

from .context import current_context
from .ndarray.ndarray import NDArray, _ctx_and_dtype, _shape


def seed(seed_state, ctx="all"):
    """Seed the generators behind initializers, Dropout and the random samplers."""
    if not isinstance(seed_state, (int, np.integer)):
        raise ValueError(f"seed_state: expected an int, got {type(seed_state).__name__}")
    torch.manual_seed(int(seed_state))


def uniform(low=0.0, high=1.0, shape=(1,), ctx=None, dtype=None, out=None):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    t = torch.empty(_shape(shape), dtype=dt, device=ctx.torch_device).uniform_(low, high)
    return _emit(t, ctx, out)


def normal(loc=0.0, scale=1.0, shape=(1,), ctx=None, dtype=None, out=None):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    t = torch.empty(_shape(shape), dtype=dt, device=ctx.torch_device).normal_(loc, scale)
    return _emit(t, ctx, out)


def randint(low, high, shape=(1,), ctx=None, dtype="int32", out=None):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    t = torch.randint(low, high, _shape(shape), device=ctx.torch_device).to(dt)
    return _emit(t, ctx, out)


def shuffle(data):
    perm = torch.randperm(data.shape[0], device=data.tensor.device)
    return NDArray(data.tensor[perm], data.context)


def _emit(t, ctx, out):
    if out is not None:
        out[:] = NDArray(t, ctx)
        return out
    return NDArray(t, ctx or current_context())
