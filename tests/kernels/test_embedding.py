import pytest
import torch
from bucketmod.kernels.embedding import embedding_bwd, embedding_fwd, embedding_ref
from kernel_cases import DTYPES, device

from bucketmod.backend import backend
from bucketmod.ops.embedding import embedding
from bucketmod.testing import assert_close

CASES = [(1, 1, 1), (7, 37, 9), (50, 1500, 40)]  # (V, D, M): D over one 1024-block


@pytest.mark.parametrize("V, D, M", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_embedding(V, D, M, dtype, ratio):
    torch.manual_seed(42)
    w = torch.randn(V, D).to(device=device(), dtype=dtype)
    idx = torch.randint(-2, V + 2, (M,), device=device())  # out of range rows are clamped
    wr = w.float().requires_grad_()
    (ref,) = embedding_ref(idx, wr)
    dy = torch.randn_like(ref)
    ref.backward(dy)
    assert_close("y", ref, embedding_fwd(idx, w), ratio)
    assert_close("dw", wr.grad, embedding_bwd(dy.to(dtype), idx, V), ratio)


def test_embedding_rejects_float_indices():
    with pytest.raises(TypeError, match="idx"):
        embedding_fwd(torch.zeros(3), torch.randn(4, 2))


def test_embedding_op_triton_matches_torch():
    torch.manual_seed(42)
    w = torch.randn(10, 6, device=device())
    data = torch.tensor([[1.0, 3.0, 3.0], [9.0, 0.0, 12.0]], device=device())
    out = []
    for name in ("torch", "triton"):
        ws = w.clone().requires_grad_()
        with backend(name):
            y = embedding(data, ws)
        (y * torch.linspace(-1, 1, y.numel(), device=y.device).reshape(y.shape)).sum().backward()
        out.append((y, ws.grad))
    assert_close("y", out[0][0], out[1][0], 1e-6)
    assert_close("dw", out[0][1], out[1][1], 1e-5)
