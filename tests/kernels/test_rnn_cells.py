import pytest
import torch
from bucketmod.kernels.gru_cell import gru_cell_bwd, gru_cell_fwd, gru_cell_ref
from bucketmod.kernels.lstm_cell import lstm_cell_bwd, lstm_cell_fwd, lstm_cell_ref
from bucketmod.kernels.rnn_cell import rnn_cell_bwd, rnn_cell_fwd, rnn_cell_ref
from kernel_cases import DTYPES, device, leaves, requires_cuda

from bucketmod.backend import backend
from bucketmod.ops.rnn_cell import gru_cell, lstm_cell, rnn_cell
from bucketmod.testing import assert_close

CASES = [pytest.param(*c, id="B{}-I{}-H{}".format(*c))
         for c in [(1, 1, 1), (3, 5, 7), (4, 33, 17)]]


def _weights(B, I, H, G):
    return [torch.randn(B, I), torch.randn(B, H), torch.randn(G * H, I) / I ** 0.5,
            torch.randn(G * H), torch.randn(G * H, H) / H ** 0.5, torch.randn(G * H)]


@pytest.mark.parametrize("B, I, H", CASES)
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_lstm_cell(B, I, H, dtype, ratio):
    torch.manual_seed(42)
    x, h, wi, bi, wh, bh = _weights(B, I, H, 4)
    (x, h, c, wi, bi, wh, bh), refs = leaves(x, h, torch.randn(B, H), wi, bi, wh, bh,
                                             dtype=dtype)
    h_ref, c_ref = lstm_cell_ref(*refs, forget_bias=1.0)
    dh, dc = torch.randn_like(h_ref), torch.randn_like(c_ref)
    (h_ref * dh + c_ref * dc).sum().backward()
    h_new, c_new, gates = lstm_cell_fwd(x, h, c, wi, bi, wh, bh, forget_bias=1.0)
    grads = lstm_cell_bwd(dh.to(dtype), dc.to(dtype), x, h, c, wi, wh, gates, forget_bias=1.0)
    assert_close("h_new", h_ref, h_new, ratio)
    assert_close("c_new", c_ref, c_new, ratio)
    for name, r, g in zip(["dx", "dh0", "dc0", "di2h_w", "di2h_b", "dh2h_w", "dh2h_b"], refs,
                          grads):
        assert_close(name, r.grad, g, ratio * 2)


@pytest.mark.parametrize("B, I, H", CASES)
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_gru_cell(B, I, H, dtype, ratio):
    torch.manual_seed(42)
    low, refs = leaves(*_weights(B, I, H, 3), dtype=dtype)
    (h_ref,) = gru_cell_ref(*refs)
    dh = torch.randn_like(h_ref)
    h_ref.backward(dh)
    x, h, wi, bi, wh, bh = low
    h_new, i2h, h2h = gru_cell_fwd(*low)
    grads = gru_cell_bwd(dh.to(dtype), x, h, wi, wh, i2h, h2h)
    assert_close("h_new", h_ref, h_new, ratio)
    for name, r, g in zip(["dx", "dh0", "di2h_w", "di2h_b", "dh2h_w", "dh2h_b"], refs, grads):
        assert_close(name, r.grad, g, ratio * 2)


@pytest.mark.parametrize("B, I, H", CASES)
@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_rnn_cell(B, I, H, act, dtype, ratio):
    torch.manual_seed(42)
    low, refs = leaves(*_weights(B, I, H, 1), dtype=dtype)
    (h_ref,) = rnn_cell_ref(*refs, activation=act)
    dh = torch.randn_like(h_ref)
    h_ref.backward(dh)
    x, h, wi, bi, wh, bh = low
    h_new = rnn_cell_fwd(*low, activation=act)
    grads = rnn_cell_bwd(dh.to(dtype), x, h, wi, wh, h_new, activation=act)
    assert_close("h_new", h_ref, h_new, ratio)
    for name, r, g in zip(["dx", "dh0", "di2h_w", "di2h_b", "dh2h_w", "dh2h_b"], refs, grads):
        assert_close(name, r.grad, g, ratio * 2)


def test_lstm_ref_matches_torch_lstm_cell():
    torch.manual_seed(42)
    cell = torch.nn.LSTMCell(5, 7)
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    h_t, c_t = cell(x, (h, c))
    h_r, c_r = lstm_cell_ref(x, h, c, cell.weight_ih, cell.bias_ih, cell.weight_hh,
                             cell.bias_hh)
    assert_close("h", h_t, h_r, 1e-6)
    assert_close("c", c_t, c_r, 1e-6)


def test_gru_ref_matches_torch_gru_cell():
    torch.manual_seed(42)
    cell = torch.nn.GRUCell(5, 7)
    x, h = torch.randn(3, 5), torch.randn(3, 7)
    (h_r,) = gru_cell_ref(x, h, cell.weight_ih, cell.bias_ih, cell.weight_hh, cell.bias_hh)
    assert_close("h", cell(x, h), h_r, 1e-6)


def test_rnn_ref_matches_torch_rnn_cell():
    torch.manual_seed(42)
    cell = torch.nn.RNNCell(5, 7, nonlinearity="relu")
    x, h = torch.randn(3, 5), torch.randn(3, 7)
    (h_r,) = rnn_cell_ref(x, h, cell.weight_ih, cell.bias_ih, cell.weight_hh, cell.bias_hh,
                          "relu")
    assert_close("h", cell(x, h), h_r, 1e-6)


@pytest.mark.parametrize("fn, G, extra", [(lstm_cell, 4, dict(forget_bias=1.0)),
                                          (gru_cell, 3, {}), (rnn_cell, 1, {})],
                         ids=["lstm", "gru", "rnn"])
def test_cell_ops_triton_matches_torch(fn, G, extra):
    torch.manual_seed(42)
    x, h, wi, bi, wh, bh = _weights(2, 3, 4, G)
    args = [x, h, torch.randn(2, 4), wi, bi, wh, None] if fn is lstm_cell else \
        [x, h, wi, None, wh, bh]
    args = [None if t is None else t.to(device()) for t in args]
    out = []
    for name in ("torch", "triton"):
        ts = [None if t is None else t.clone().requires_grad_() for t in args]
        with backend(name):
            ys = fn(*ts, **extra)
        ys = ys if isinstance(ys, tuple) else (ys,)
        weights = [torch.linspace(-1, 1, y.numel(), device=y.device).reshape(y.shape) for y in ys]
        sum((y * w).sum() for y, w in zip(ys, weights)).backward()
        out.append(list(ys) + [t.grad for t in ts if t is not None])
    for i, (r, k) in enumerate(zip(*out)):
        assert_close(f"output/grad {i}", r, k, 1e-5)


def test_cells_reject_bad_shapes():
    with pytest.raises(ValueError, match="i2h_weight"):
        lstm_cell_fwd(torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4),
                      torch.randn(12, 3), None, torch.randn(16, 4), None)
    with pytest.raises(ValueError, match="activation"):
        rnn_cell(torch.randn(2, 3), torch.randn(2, 4), torch.randn(4, 3), None,
                 torch.randn(4, 4), None, activation="sigmoid")


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_lstm_cell_large(dtype, ratio):
    torch.manual_seed(42)
    B, I, H = 32, 1024, 1024
    x, h, wi, bi, wh, bh = _weights(B, I, H, 4)
    (x, h, c, wi, bi, wh, bh), refs = leaves(x, h, torch.randn(B, H), wi, bi, wh, bh,
                                             dtype=dtype)
    h_ref, c_ref = lstm_cell_ref(*refs)
    h_new, c_new, _ = lstm_cell_fwd(x, h, c, wi, bi, wh, bh)
    assert_close("h_new", h_ref, h_new, ratio)
    assert_close("c_new", c_ref, c_new, ratio)
