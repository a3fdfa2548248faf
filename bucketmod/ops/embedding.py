"""Embedding: a row gather of `weight` by integer-valued `data`; seam to kernels/embedding.py."""
import torch
import torch.nn.functional as F

from ._triton_path import triton_ok


class EmbeddingFunction(torch.autograd.Function):
    """Row gather via kernels/embedding.py; the weight gradient is an atomic scatter-add."""

    @staticmethod
    def forward(ctx, idx, weight):
        from bucketmod.kernels.embedding import embedding_fwd
        ctx.save_for_backward(idx)
        ctx.num_rows = weight.shape[0]
        return embedding_fwd(idx, weight)

    @staticmethod
    def backward(ctx, dy):
        from bucketmod.kernels.embedding import embedding_bwd
        (idx,) = ctx.saved_tensors
        return None, embedding_bwd(dy, idx, ctx.num_rows, out_dtype=dy.dtype)


def embedding(data, weight):
    """`data` of any shape (float indices, as MXNet stores them) -> `data.shape + [output_dim]`."""
    if triton_ok(weight) and weight.dim() == 2:
        return EmbeddingFunction.apply(data.long(), weight)
    idx = data.long().clamp_(0, weight.shape[0] - 1)
    return F.embedding(idx, weight)
