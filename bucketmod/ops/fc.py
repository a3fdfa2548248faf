"""FullyConnected: `y = x Wᵀ + b`, MXNet's flatten rule, and the seam to kernels/fc.py."""
import torch.nn.functional as F


def fully_connected(x, w, b=None, *, act=None, flatten=True):
    """`[N, ...] -> [N, num_hidden]` (flatten) or `[..., K] -> [..., num_hidden]`.

    Args:
        x: input; with `flatten` every axis after the first is folded into K.
        w: `[num_hidden, K]`. b: `[num_hidden]` or None (MXNet's no_bias).
        act: None or an activation fused after the bias ('relu', 'sigmoid', 'tanh', 'softrelu').
    """
    if flatten:
        x = x.reshape(x.shape[0], -1) if x.dim() != 1 else x.reshape(x.shape[0], 1)
    y = F.linear(x, w, b)
    if act:
        from .activation import activation
        y = activation(y, act)
    return y
