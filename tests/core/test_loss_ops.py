"""MakeLoss, make_loss and add_n: names and gradients as MXNet 1.9.1 gives them (values taken
from the oracle: `MakeLoss(x*2, grad_scale=3, normalization='batch')` on ones(2, 3) sends 3 to
x; 'valid' with valid_thresh 0.5 over [[0,1,2],[0,0,3]] divides by the 3 entries above it)."""
import json

import numpy as np
import pytest

import bucketmod as mx


@pytest.mark.parametrize("make, op, output", [
    (lambda x: mx.sym.MakeLoss(x), "MakeLoss", "makeloss0_output"),
    (lambda x: mx.sym.make_loss(x), "make_loss", "make_loss0_loss"),
    (lambda x: mx.sym.add_n(x, x), "add_n", "add_n0_output"),
    (lambda x: mx.sym.ElementWiseSum(x, x), "add_n", "elementwisesum0_output"),
])
def test_names_as_mxnet(make, op, output):
    with mx.name.NameManager():
        sym = make(mx.sym.Variable("x"))
    assert json.loads(sym.tojson())["nodes"][-1]["op"] == op
    assert sym.list_outputs() == [output]


@pytest.mark.parametrize("kwargs, data, grad", [
    (dict(grad_scale=3, normalization="batch"), np.ones((2, 3)), np.full((2, 3), 3.0)),
    (dict(normalization="valid", valid_thresh=0.5), [[0, 1, 2], [0, 0, 3]],
     np.full((2, 3), 1 / 3)),
    (dict(), np.ones((2, 3)), np.full((2, 3), 2.0)),
])
def test_make_loss_gradient_ignores_head(kwargs, data, grad):
    x = mx.sym.Variable("x")
    scale = 2 if "valid_thresh" not in kwargs else 1
    exe = mx.sym.MakeLoss(x * scale, **kwargs).simple_bind(mx.cpu(), x=(2, 3))
    exe.forward(is_train=True, x=mx.nd.array(data))
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), np.asarray(data) * scale)
    exe.backward()
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), grad, rtol=1e-6)


def test_add_n_sums_and_splits_gradient():
    a, b, c = (mx.sym.Variable(n) for n in "abc")
    exe = mx.sym.add_n(a, b, c).simple_bind(mx.cpu(), a=(2, 2), b=(2, 2), c=(2, 2))
    exe.forward(is_train=True, a=mx.nd.ones((2, 2)), b=mx.nd.ones((2, 2)) * 2,
                c=mx.nd.ones((2, 2)) * 3)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), np.full((2, 2), 6.0))
    exe.backward([mx.nd.ones((2, 2)) * 5])
    for name in "abc":
        np.testing.assert_allclose(exe.grad_dict[name].asnumpy(), np.full((2, 2), 5.0))
