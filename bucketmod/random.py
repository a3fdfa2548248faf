"""`mx.random`: one seed for every random number bucketmod draws (torch's generators), and
MXNet's samplers (those of `mx.nd.random`)."""
import numpy as np
import torch

from .ndarray.random import (  # noqa: F401  (mx.random's samplers are mx.nd.random's)
    exponential,
    gamma,
    generalized_negative_binomial,
    multinomial,
    negative_binomial,
    normal,
    poisson,
    randint,
    randn,
    shuffle,
    uniform,
)


def seed(seed_state, ctx="all"):
    """Seed the generators behind initializers, Dropout and the random samplers."""
    if not isinstance(seed_state, (int, np.integer)):
        raise ValueError(f"seed_state: expected an int, got {type(seed_state).__name__}")
    torch.manual_seed(int(seed_state))
