"""bucketmod/ops/vision.py against MXNet 1.9.1 (operator_cases.py::vision_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("vision"))
def test_vision_operator_matches_mxnet(case):
    check_case(case)


def test_modulated_deformable_convolution_reduces_to_convolution():
    """MXNet 1.9.1 runs ModulatedDeformableConvolution on GPUs only (no CPU golden): with zero
    offsets it is a convolution of the mask-weighted samples."""
    import numpy as np

    import bucketmod as mx
    rng = np.random.RandomState(0)
    data = mx.nd.array(rng.standard_normal((2, 4, 5, 5)))
    weight = mx.nd.array(rng.standard_normal((3, 4, 3, 3)))
    bias = mx.nd.array(rng.standard_normal(3))
    offset = mx.nd.zeros((2, 18, 5, 5))
    conv = mx.nd.Convolution(data, weight, bias, kernel=(3, 3), num_filter=3, pad=(1, 1))
    dcn = mx.nd.contrib.ModulatedDeformableConvolution(
        data, offset, mx.nd.ones((2, 9, 5, 5)), weight, bias, kernel=(3, 3), num_filter=3,
        pad=(1, 1))
    np.testing.assert_allclose(dcn.asnumpy(), conv.asnumpy(), rtol=1e-5, atol=1e-5)
    half = mx.nd.contrib.ModulatedDeformableConvolution(
        data, offset, mx.nd.ones((2, 9, 5, 5)) * 0.5, weight, kernel=(3, 3), num_filter=3,
        pad=(1, 1), no_bias=True)
    plain = mx.nd.Convolution(data, weight, kernel=(3, 3), num_filter=3, pad=(1, 1),
                              no_bias=True)
    np.testing.assert_allclose(half.asnumpy(), 0.5 * plain.asnumpy(), rtol=1e-5, atol=1e-5)
    shifted = mx.nd.contrib.ModulatedDeformableConvolution(
        data, mx.nd.ones((2, 18, 3, 3)), mx.nd.ones((2, 9, 3, 3)), weight, kernel=(3, 3),
        num_filter=3, no_bias=True)
    moved = mx.nd.Convolution(mx.nd.array(np.pad(data.asnumpy()[:, :, 1:, 1:],
                                                  ((0, 0), (0, 0), (0, 1), (0, 1)))),
                              weight, kernel=(3, 3), num_filter=3, no_bias=True)
    np.testing.assert_allclose(shifted.asnumpy(), moved.asnumpy(), rtol=1e-5, atol=1e-5)
