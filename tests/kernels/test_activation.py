import pytest
import torch
from bucketmod.kernels.activation import ACT_TYPES, activation_bwd, activation_fwd, activation_ref
from kernel_cases import DTYPES, device, leaves

from bucketmod.backend import backend
from bucketmod.ops.activation import activation, leaky_relu
from bucketmod.testing import assert_close

SHAPES = [(1,), (3, 37), (2, 3, 700)]  # tiny, odd, more than one 1024-block


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("act", ACT_TYPES)
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_activation(shape, act, dtype, ratio):
    torch.manual_seed(42)
    (x,), (xr,) = leaves(torch.randn(shape) * 3, dtype=dtype)
    (ref,) = activation_ref(xr, act, 0.3)
    dy = torch.randn_like(ref)
    ref.backward(dy)
    y = activation_fwd(x, act, 0.3)
    assert_close("y", ref, y, ratio)
    assert_close("dx", xr.grad, activation_bwd(dy.to(dtype), act, x=x, slope=0.3), ratio)
    if act in ("relu", "sigmoid", "tanh", "softrelu"):
        assert_close("dx(y)", xr.grad, activation_bwd(dy.to(dtype), act, y=y), ratio * 5)


def test_activation_in_place_and_errors():
    x = torch.randn(5, 7, device=device())
    ref = torch.tanh(x)
    y = activation_fwd(x, "tanh", out=x)
    assert y is x
    assert_close("y", ref, x, 1e-5)
    with pytest.raises(ValueError, match="act_type"):
        activation_fwd(x, "swish")
    with pytest.raises(ValueError, match="needs the forward input"):
        activation_bwd(x, "gelu", y=x)


@pytest.mark.parametrize("fn, kwargs", [
    (activation, dict(act_type="softrelu")), (activation, dict(act_type="softsign")),
    (leaky_relu, dict(act_type="leaky", slope=0.1)), (leaky_relu, dict(act_type="elu")),
    (leaky_relu, dict(act_type="selu")), (leaky_relu, dict(act_type="gelu")),
    (leaky_relu, dict(act_type="rrelu"))], ids=lambda v: getattr(v, "__name__", str(v)))
def test_activation_ops_triton_matches_torch(fn, kwargs):
    torch.manual_seed(42)
    x = torch.randn(4, 33, device=device()) * 2
    out = []
    for name in ("torch", "triton"):
        xs = x.clone().requires_grad_()
        with backend(name):
            y = fn(xs, **kwargs)
        (y * torch.linspace(-1, 1, y.numel(), device=y.device).reshape(y.shape)).sum().backward()
        out.append((y, xs.grad))
    assert_close("y", out[0][0], out[1][0], 1e-5)
    assert_close("dx", out[0][1], out[1][1], 1e-5)
