"""The NDArray surface, against results real MXNet 1.9.1 produced (tests/golden/make_ndarray.py)."""
import json
import os

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.base import MXNetError

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden", "data", "ndarray",
                      "cases.json")
with open(GOLDEN) as _fi:
    FIXTURE = json.load(_fi)
CASES = FIXTURE["cases"]
EXCEPTIONS = {"MXNetError": MXNetError, "ValueError": ValueError, "TypeError": TypeError}


def setitem(x, key, value):
    """`x.copy()` with `[key] = value` applied, as in make_ndarray.py."""
    out = x.copy()
    out[key] = value
    return out


def _env():
    env = {k: mx.nd.array(np.array(v["value"], dtype=v["dtype"]), dtype=v["dtype"])
           for k, v in FIXTURE["inputs"].items()}
    env.update(mx=mx, np=np, setitem=setitem)
    return env


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_mxnet(name):
    case = CASES[name]
    if "raises" in case:
        with pytest.raises(EXCEPTIONS[case["raises"]]):
            eval(case["expr"], _env())  # noqa: S307  (expressions from the committed fixture)
        return
    value = eval(case["expr"], _env())  # noqa: S307
    assert isinstance(value, mx.nd.NDArray) == case["ndarray"]
    got = value.asnumpy() if case["ndarray"] else np.asarray(value)
    want = np.array(case["value"], dtype=case["dtype"]).reshape(case["shape"])
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        rtol = 1e-3 if want.dtype == np.float16 else 1e-6
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    else:
        np.testing.assert_array_equal(got, want)


def test_properties():
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]])
    assert a.shape == (2, 3) and isinstance(a.shape, tuple)
    assert a.dtype is np.float32
    assert mx.nd.zeros(2, dtype="int64").dtype is np.int64
    assert a.size == 6 and a.ndim == 2
    assert a.context == mx.cpu(0) and a.context == mx.current_context()
    assert a.stype == "default"
    assert len(a) == 2 and [r.shape for r in a] == [(3,), (3,)]


def test_asnumpy_is_a_copy_and_asscalar_is_numpy_scalar():
    a = mx.nd.array([[1, 2], [3, 4]])
    host = a.asnumpy()
    host[:] = 0
    assert a.asnumpy().sum() == 10
    s = mx.nd.array([3], dtype="int32").asscalar()
    assert isinstance(s, np.int32) and s == 3
    with pytest.raises(ValueError, match="shape"):
        a.asscalar()


def test_array_default_dtype_is_float32():
    assert mx.nd.array([1, 2]).dtype is np.float32
    assert mx.nd.array(np.arange(3, dtype=np.float64)).dtype is np.float32
    assert mx.nd.array(mx.nd.zeros(2, dtype="int8")).dtype is np.int8
    assert mx.nd.array([1, 2], dtype=np.float64).dtype is np.float64
    assert mx.nd.array([1.0], ctx=mx.cpu(2)).context == mx.cpu(2)


def test_tensor_attribute_shares_storage_both_ways():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    a = mx.nd.NDArray(t)
    assert a.tensor is t
    t[0, 0] = 100
    assert a.asnumpy()[0, 0] == 100
    a[1] = 7
    assert t[1].tolist() == [7, 7, 7]
    a[:] = mx.nd.ones((2, 3))
    assert a.tensor is t and t.sum().item() == 6
    ptr = t.data_ptr()
    a += 1
    a *= 3
    a -= mx.nd.ones((2, 3))
    a /= 5
    assert a.tensor.data_ptr() == ptr and torch.equal(t, torch.ones(2, 3))


def test_views_share_memory_where_mxnet_does():
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]])
    a.reshape((3, 2))[:] = 0
    assert a.asnumpy().sum() == 0
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]])
    a[0:1][:] = 0
    a[1][0] = 0
    assert a.asnumpy().tolist() == [[0, 0, 0], [0, 5, 6]]
    column = a[:, 1]
    column[:] = 9
    assert a.asnumpy()[:, 1].tolist() == [0, 5]


def test_copy_copyto_and_as_in_context():
    a = mx.nd.array([1, 2, 3])
    c = a.copy()
    c[:] = 0
    assert a.asnumpy().tolist() == [1, 2, 3]
    target = mx.nd.zeros(3, dtype="int32")
    assert a.copyto(target) is target and target.asnumpy().tolist() == [1, 2, 3]
    moved = a.copyto(mx.cpu(1))
    assert moved.context == mx.cpu(1) and moved is not a
    assert moved.tensor.data_ptr() != a.tensor.data_ptr()
    assert a.as_in_context(mx.cpu(0)) is a
    other = a.as_in_context(mx.cpu(2))
    assert other.context == mx.cpu(2) and other.asnumpy().tolist() == [1, 2, 3]
    with pytest.raises(MXNetError, match=r"\(3,\).*\(2,\)"):
        a.copyto(mx.nd.zeros(2))
    with pytest.raises(TypeError, match="NDArray or a Context"):
        a.copyto(5)


def test_astype_copy_semantics():
    a = mx.nd.array([1.7, -1.7])
    assert a.astype("float32", copy=False) is a
    same = a.astype("float32")
    assert same is not a and same.tensor.data_ptr() != a.tensor.data_ptr()
    cast = a.astype(np.int32, copy=False)
    assert cast.dtype is np.int32 and cast.asnumpy().tolist() == [1, -1]


def test_array_protocol():
    a = mx.nd.array([[1, 2], [3, 4]])
    host = np.asarray(a)
    assert host.dtype == np.float32 and host.tolist() == [[1, 2], [3, 4]]
    assert np.asarray(a, dtype=np.float64).dtype == np.float64


def test_cpu_contexts_are_distinct():
    assert mx.cpu(0) != mx.cpu(1) and mx.cpu(1) == mx.cpu(1)
    assert len({mx.cpu(0), mx.cpu(1), mx.cpu(1), mx.gpu(0)}) == 3
    assert str(mx.cpu(1)) == "cpu(1)" and mx.cpu(3).device_typeid == 1
    assert mx.gpu(1).device_type == "gpu" and mx.gpu(1).device_id == 1
    assert mx.nd.zeros(2, ctx=mx.cpu(1)).context == mx.cpu(1)
    with mx.cpu(4):
        assert mx.current_context() == mx.cpu(4)
        assert mx.nd.zeros(1).context == mx.cpu(4)
        assert mx.nd.array([1]).context == mx.cpu(4)
    assert mx.current_context() == mx.cpu(0)


def test_constructors():
    e = mx.nd.empty((2, 3))
    assert e.shape == (2, 3) and e.dtype is np.float32
    assert mx.nd.empty(4, dtype="int64").shape == (4,)
    out = mx.nd.zeros((2,))
    assert mx.nd.full((2,), 3, out=out) is out and out.asnumpy().tolist() == [3, 3]
    assert mx.nd.zeros((1,), ctx=mx.cpu(2)).context == mx.cpu(2)
    assert mx.nd.concat(mx.nd.ones((1, 2)), mx.nd.zeros((1, 1))).shape == (1, 3)


def test_errors_name_the_shapes():
    a = mx.nd.ones((2, 3))
    with pytest.raises(MXNetError, match=r"\(2, 3\).*\(3, 3\)"):
        mx.nd.concat(a, mx.nd.ones((3, 3)), dim=1)
    with pytest.raises(MXNetError, match=r"lhs \(2, 3\).*rhs \(2, 3\)"):
        mx.nd.dot(a, a)
    with pytest.raises(MXNetError, match=r"\(2, 3\)"):
        a.reshape((4, 2))


with open(os.path.join(os.path.dirname(GOLDEN), "..", "api_methods.json")) as _fi:
    METHODS = json.load(_fi)


@pytest.mark.parametrize("name", sorted(METHODS["ndarray"]))
def test_methods_and_module_functions_match_mxnet(name, api_methods):
    """NDArray methods and mx.nd functions against MXNet 1.9.1 (tests/golden/
    make_api_methods.py): reshape codes, T, broadcast_to, slice, tostype, astype, copyto,
    as_in_context, concatenate, onehot_encode, waitall."""
    script = api_methods
    env = {k: mx.nd.array(v) for k, v in script.operands().items()}
    env.update(mx=mx, np=np)
    want = METHODS["ndarray"][name]
    got = dict(script.eval_ndarray(mx, want["expr"], env), expr=want["expr"])
    if "raises" in want:
        assert got.get("raises") == want["raises"]
        return
    assert {k: v for k, v in got.items() if k != "value"} == \
        {k: v for k, v in want.items() if k != "value"}
    if "value" in want:
        np.testing.assert_allclose(got["value"], want["value"], rtol=1e-6)


def test_shape_given_as_an_ndarray_is_a_type_error():
    shape = mx.nd.array([2, 3])
    net = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=2, name="fc")
    mod = mx.mod.Module(net, label_names=None)
    calls = {"zeros": lambda: mx.nd.zeros(shape), "ones": lambda: mx.nd.ones(shape),
             "empty": lambda: mx.nd.empty(shape), "full": lambda: mx.nd.full(shape, 1),
             "reshape": lambda: mx.nd.ones((6,)).reshape(shape),
             "broadcast_to": lambda: mx.nd.ones((1, 3)).broadcast_to(shape),
             "infer_shape": lambda: net.infer_shape(data=shape),
             "simple_bind": lambda: net.simple_bind(mx.cpu(), data=shape),
             "Variable": lambda: mx.sym.var("x", shape=shape),
             "sym.zeros": lambda: mx.sym.zeros(shape),
             "bind": lambda: mod.bind(data_shapes=[("data", shape)])}
    for what, call in calls.items():
        with pytest.raises(TypeError, match=r"NDArray of shape \(2,\)"):
            call()
        assert not mod.binded, what
    mod.bind(data_shapes=[("data", (2, 3))])
    assert mod.binded
