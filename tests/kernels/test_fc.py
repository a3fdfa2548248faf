import pytest
import torch
import triton
from bucketmod.kernels import _common, fc
from bucketmod.kernels.fc import FC_ACTS, fc_bwd, fc_fwd, fc_ref, matmul
from kernel_cases import DTYPES, device, leaves, requires_cuda

from bucketmod.backend import backend
from bucketmod.ops.fc import fully_connected
from bucketmod.testing import assert_close

# (M, N, K): tiny, odd, not a multiple of the 32-blocks, rows over several blocks.
CASES = [(1, 1, 1), (5, 7, 3), (37, 45, 70), (70, 33, 17)]


@pytest.mark.parametrize("M, N, K", [pytest.param(*c, id="M{}-N{}-K{}".format(*c))
                                     for c in CASES])
@pytest.mark.parametrize("act", FC_ACTS)
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_fc(M, N, K, act, dtype, ratio):
    torch.manual_seed(42)
    (x, w, b), (xr, wr, br) = leaves(torch.randn(M, K), torch.randn(N, K) / K ** 0.5,
                                     torch.randn(N), dtype=dtype)
    (ref,) = fc_ref(xr, wr, br, act)
    dy = torch.randn_like(ref)
    ref.backward(dy)
    y = fc_fwd(x, w, b, act)
    dx, dw, db = fc_bwd(dy.to(dtype), x, w, y, act)
    assert y.dtype == dtype
    for name, r, o in [("y", ref, y), ("dx", xr.grad, dx), ("dw", wr.grad, dw),
                       ("db", br.grad, db)]:
        assert_close(name, r, o, ratio)


def test_fc_no_bias_and_strided_input():
    torch.manual_seed(42)
    x = torch.randn(20, 9, device=device())[:, ::2]
    w = torch.randn(6, 5, device=device())
    (ref,) = fc_ref(x, w, None, "relu")
    y = fc_fwd(x, w, None, "relu")
    dx, dw, db = fc_bwd(torch.ones_like(y), x, w, y, "relu", has_bias=False)
    assert db is None
    assert_close("y", ref, y, 1e-5)
    assert_close("dw", ((ref > 0).float().T @ x), dw, 1e-5)


def test_fc_rejects_bad_input():
    with pytest.raises(ValueError, match="act"):
        fc_fwd(torch.randn(2, 3), torch.randn(4, 3), act="gelu")
    with pytest.raises(ValueError, match="x \\[M, K\\]"):
        fc_fwd(torch.randn(2, 3), torch.randn(4, 5))
    with pytest.raises(TypeError, match="x"):
        fc_fwd(torch.randn(2, 3).double(), torch.randn(4, 3).double())


@pytest.mark.parametrize("flatten, act", [(True, None), (True, "sigmoid"), (False, "relu"),
                                          (True, "softsign")])
def test_fully_connected_triton_matches_torch(flatten, act):
    torch.manual_seed(42)
    x = torch.randn(4, 3, 5, device=device())
    k = 15 if flatten else 5
    w, b = torch.randn(6, k, device=device()), torch.randn(6, device=device())
    results = []
    for name in ("torch", "triton"):
        xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))
        with backend(name):
            y = fully_connected(xs, ws, bs, act=act, flatten=flatten)
        (y * torch.linspace(-1, 1, y.numel(), device=y.device).reshape(y.shape)).sum().backward()
        results.append((y, xs.grad, ws.grad, bs.grad))
    for name, r, o in zip(("y", "dx", "dw", "db"), *results):
        assert_close(name, r, o, 1e-5)


@pytest.mark.parametrize("splits", [2, 3])
@pytest.mark.parametrize("act", ["", "tanh"])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_matmul_split_k(splits, act, dtype, ratio):
    # K in parts of 48 (multiples of 16): the last part is short, as with K = the vocabulary.
    torch.manual_seed(42)
    (a, y, b, c0), (ar, yr, br, cr) = leaves(torch.randn(37, 130), torch.rand(37, 130),
                                             torch.randn(130, 29), torch.randn(37, 29),
                                             dtype=dtype)
    grad = 1 - yr * yr if act else 1.0
    ref = (ar * grad) @ br
    out = c0.float().clone()
    assert_close("c", ref, matmul(a, b, y=y if act else None, act=act, splits=splits,
                                  out_dtype=dtype), ratio)
    assert_close("c+", cr + ref, matmul(a, b, y=y if act else None, act=act, splits=splits,
                                        out=out), ratio)


def _configs(key):
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 2})
            for m, n, k in ((16, 16, 16), (32, 16, 32), (16, 32, 16))]


@pytest.mark.parametrize("restore", [True, False], ids=["launcher", "without-restore"])
def test_autotuned_accumulating_launch_adds_once(monkeypatch, restore):
    # Triton's autotuner runs every config on the caller's own buffers the first time a key
    # is seen; `matmul(..., out=c)` must still add a @ b into c exactly once. Without the
    # launcher's restore_value the same tuning adds it once per config tried, plus once.
    torch.manual_seed(42)
    monkeypatch.setattr(fc._GEMM, "configs", _configs)
    monkeypatch.setattr(fc._GEMM, "tuners", {})
    benched = []
    bench = _common._interpreter_bench
    monkeypatch.setattr(_common, "_interpreter_bench",
                        lambda call, quantiles=None: benched.append(1) or bench(call, quantiles))
    if not restore:
        call = fc._GEMM.__call__
        monkeypatch.setattr(fc.Tuned, "__call__",
                            lambda self, key, grid, restore=(), **kw: call(key, grid, **kw))
    a, b = torch.randn(40, 24, device=device()), torch.randn(24, 36, device=device())
    c0 = torch.randn(40, 36, device=device())
    c = matmul(a, b, out=c0.clone())
    assert len(benched) == 3
    times = 1 if restore else 4
    assert_close("c", c0 + times * (a @ b), c, 1e-5)


def test_new_bucket_length_reuses_tuning():
    # The output layer at two bucket lengths (rows 32·T): its forward and both backward GEMMs
    # (dW's K is the row count) find the tuning keys the first bucket made.
    torch.manual_seed(42)
    keys = []
    for T in (3, 5):
        x, w, b = (torch.randn(32 * T, 24, device=device()), torch.randn(40, 24, device=device()),
                   torch.randn(40, device=device()))
        y = fc_fwd(x, w, b)
        fc_bwd(torch.randn_like(y), x, w)
        keys.append(set(fc._GEMM.tuners))
    assert keys[0] == keys[1]


def test_alignment_hint():
    assert _common.alignment(200, 10000, 1920) == 8
    assert _common.alignment(7951, 200) == 1
    assert _common.alignment(1024, 4096) == 8
    assert _common.alignment(200, 40) == 8 and _common.alignment(20) == 4


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("M, N, K", [(1920, 10000, 200), (1823, 781, 1024)])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_fc_large(M, N, K, dtype, ratio):
    torch.manual_seed(42)
    (x, w, b), (xr, wr, br) = leaves(torch.randn(M, K), torch.randn(N, K) / K ** 0.5,
                                     torch.randn(N), dtype=dtype)
    (ref,) = fc_ref(xr, wr, br, "tanh")
    dy = torch.randn_like(ref)
    ref.backward(dy)
    y = fc_fwd(x, w, b, "tanh")
    dx, dw, db = fc_bwd(dy.to(dtype), x, w, y, "tanh")
    for name, r, o in [("y", ref, y), ("dx", xr.grad, dx), ("dw", wr.grad, dw),
                       ("db", br.grad, db)]:
        assert_close(name, r, o, ratio)
    assert device() == "cuda"
