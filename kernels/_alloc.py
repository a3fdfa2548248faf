"""The one allocation helper of the host launchers.

Every fresh output goes through `empty`, so tests can poison it (NaN) and catch any element a
kernel forgets to write.
"""
import torch


def empty(shape, *, dtype, device):
    return torch.empty(shape, dtype=dtype, device=device)


def zeros(shape, *, dtype, device):
    return empty(shape, dtype=dtype, device=device).zero_()
