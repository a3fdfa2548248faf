"""kernels/lstm.py: the whole-sequence kernels against the reference (the cell reference looped
over time), forward and backward; the reference against torch; ops/lstm.py's backends."""
import pytest
import torch
from bucketmod.kernels.lstm import lstm_cell_ref, lstm_seq_bwd, lstm_seq_fwd, lstm_seq_ref
from kernel_cases import DTYPES, requires_cuda
from recurrent_cases import CASES, check_sequence, run_backends, stream_weights

from bucketmod.ops.lstm import lstm_cell, lstm_sequence
from bucketmod.testing import assert_close


def _kernel(low, d_hs, d_others, seq_lens, batch_first):
    x, h0, c0, wi, bi, wh, bh = low
    hs, cs, gates = lstm_seq_fwd(*low, seq_lens=seq_lens, batch_first=batch_first)
    grads = lstm_seq_bwd(d_hs, d_others[0], x, h0, c0, wi, wh, hs, cs, gates, seq_lens,
                         batch_first=batch_first)
    return hs, [cs.select(1 if batch_first else 0, -1)], grads


@pytest.mark.parametrize("B, T, I, H", CASES)
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_lstm_seq(B, T, I, H, dtype, ratio):
    check_sequence(_kernel, lstm_seq_ref, 4, 2, B, T, I, H, dtype, ratio)


@pytest.mark.parametrize("batch_first", [False, True], ids=["TNC", "NTC"])
def test_lstm_seq_varlen(batch_first):
    """Padded steps keep the state and output zeros, forward and backward."""
    check_sequence(_kernel, lstm_seq_ref, 4, 2, 3, 5, 4, 9, torch.float32, 1e-5,
                   seq_lens=torch.tensor([2, 5, 1]), batch_first=batch_first)


def test_lstm_seq_streamed_weights(monkeypatch):
    """Weights too large to stay on chip are read every step (the K loop over H)."""
    stream_weights(monkeypatch)
    check_sequence(_kernel, lstm_seq_ref, 4, 2, 3, 4, 5, 20, torch.float32, 1e-5,
                   seq_lens=torch.tensor([4, 2, 3]))


def test_lstm_seq_without_output_grad():
    """Only the last cell gets a gradient (no dhs)."""
    check_sequence(_kernel, lstm_seq_ref, 4, 2, 2, 3, 4, 6, torch.float32, 1e-5,
                   with_dhs=False)


def test_lstm_ref_matches_torch():
    torch.manual_seed(42)
    lstm = torch.nn.LSTM(5, 7)
    x, h, c = torch.randn(4, 3, 5), torch.randn(1, 3, 7), torch.randn(1, 3, 7)
    out, (h_t, c_t) = lstm(x, (h, c))
    weights = (lstm.weight_ih_l0, lstm.bias_ih_l0, lstm.weight_hh_l0, lstm.bias_hh_l0)
    ref = lstm_seq_ref(x, h[0], c[0], *weights)
    for name, a, b in zip(["out", "h", "c"], (out, h_t[0], c_t[0]), ref):
        assert_close(name, a, b, 1e-6)
    h1, c1 = lstm_cell_ref(x[0], h[0], c[0], *weights)
    cell = torch.nn.LSTMCell(5, 7)
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in lstm.state_dict().items()})
    h1_t, c1_t = cell(x[0], (h[0], c[0]))
    assert_close("cell h", h1_t, h1, 1e-6)
    assert_close("cell c", c1_t, c1, 1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True},
                                    {"seq_lens": torch.tensor([3, 1])},
                                    {"state_clip": (-0.2, 0.3, False)}],
                         ids=["plain", "batch_first", "varlen", "clip"])
def test_lstm_sequence_backends_agree(kwargs):
    run_backends(lstm_sequence, lstm_cell, 4, 2, kwargs)


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lstm_seq_grid_sync_matches_per_step_launches(monkeypatch, dtype):
    """The single launch (programs synchronised through a counter) against one launch per
    step, at the language model's size."""
    torch.manual_seed(42)
    T, B, H = 60, 32, 200
    args = [torch.randn(T, B, H), torch.randn(B, H), torch.randn(B, H),
            torch.randn(4 * H, H) / H ** 0.5, torch.randn(4 * H), torch.randn(4 * H, H) / H ** 0.5,
            torch.randn(4 * H)]
    args = [t.to("cuda", dtype) for t in args]
    runs = []
    for sync in ("1", "0"):
        monkeypatch.setenv("BUCKETMOD_RNN_GRID_SYNC", sync)
        hs, cs, gates = lstm_seq_fwd(*args)
        dhs = torch.ones_like(hs)
        grads = lstm_seq_bwd(dhs, None, args[0], args[1], args[2], args[3], args[5], hs, cs,
                             gates)
        runs.append([hs, cs] + list(grads))
    for i, (a, b) in enumerate(zip(*runs)):
        assert torch.equal(a, b), f"output/grad {i} differs between the launch modes"


def _stack_layers(B, I, H, L, biases):
    torch.manual_seed(3)
    layers = []
    for k, bias in zip(range(L), biases):
        layers.append([torch.randn(B, H), torch.randn(B, H),
                       torch.randn(4 * H, I if k == 0 else H, requires_grad=True),
                       torch.randn(4 * H, requires_grad=True) if bias else None,
                       torch.randn(4 * H, H, requires_grad=True),
                       torch.randn(4 * H, requires_grad=True) if bias else None])
    return layers


@pytest.mark.parametrize("batch_first", [False, True], ids=["TNC", "NTC"])
@pytest.mark.parametrize("biases", [(True, True, True), (False, False, False),
                                    (True, False, True)],
                         ids=["biases", "no-biases", "mixed: layer by layer"])
def test_lstm_stack_is_the_layers_one_after_another(batch_first, biases):
    """`lstm_stack` (one ATen call, or layer by layer where the layers' biases differ) gives
    the top layer's outputs and every gradient that `lstm_sequence` stacked by hand gives."""
    from bucketmod.ops.lstm import lstm_stack
    B, T, I, H = 3, 5, 4, 6
    layers = _stack_layers(B, I, H, 3, biases)
    x = torch.randn(B, T, I) if batch_first else torch.randn(T, B, I)
    x.requires_grad_(True)
    params = [x] + [t for layer in layers for t in layer[2:] if t is not None]
    out, h, c = lstm_stack(x, layers, batch_first=batch_first)
    y = x
    for layer in layers:
        y, h_ref, c_ref = lstm_sequence(y, *layer, batch_first=batch_first)
    for name, got, want in (("out", out, y), ("h", h, h_ref), ("c", c, c_ref)):
        assert_close(name, want, got, 1e-6)
    grads = torch.autograd.grad((out * 1.5).sum() + c.sum(), params)
    want = torch.autograd.grad((y * 1.5).sum() + c_ref.sum(), params)
    for k, (g, w) in enumerate(zip(grads, want)):
        assert_close(f"grad {k}", w, g, 1e-5)


def test_lstm_stack_names_a_layer_of_the_wrong_size():
    from bucketmod.ops.lstm import lstm_stack
    layers = _stack_layers(3, 4, 6, 2, (True, True))
    layers[1][4] = torch.randn(24, 5)
    with pytest.raises(ValueError, match=r"layer 1 expected .*h2h_weight \(24, 5\)"):
        lstm_stack(torch.randn(5, 3, 4), layers)
