"""kernels/gru.py: the whole-sequence kernels against the reference, forward and backward; the
reference against torch; ops/gru.py's backends."""
import pytest
import torch
from bucketmod.kernels.gru import gru_cell_ref, gru_seq_bwd, gru_seq_fwd, gru_seq_ref
from kernel_cases import DTYPES, requires_cuda
from recurrent_cases import CASES, check_sequence, run_backends, stream_weights

from bucketmod.ops.gru import gru_cell, gru_sequence
from bucketmod.testing import assert_close


def _kernel(low, d_hs, d_others, seq_lens, batch_first):
    x, h0, wi, bi, wh, bh = low
    hs, gates, ghn = gru_seq_fwd(*low, seq_lens=seq_lens, batch_first=batch_first)
    grads = gru_seq_bwd(d_hs, x, h0, wi, wh, hs, gates, ghn, seq_lens, batch_first=batch_first)
    return hs, [], grads


@pytest.mark.parametrize("B, T, I, H", CASES)
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_gru_seq(B, T, I, H, dtype, ratio):
    check_sequence(_kernel, gru_seq_ref, 3, 1, B, T, I, H, dtype, ratio)


@pytest.mark.parametrize("batch_first", [False, True], ids=["TNC", "NTC"])
def test_gru_seq_varlen(batch_first):
    check_sequence(_kernel, gru_seq_ref, 3, 1, 3, 5, 4, 9, torch.float32, 1e-5,
                   seq_lens=torch.tensor([2, 5, 1]), batch_first=batch_first)


def test_gru_seq_streamed_weights(monkeypatch):
    stream_weights(monkeypatch)
    check_sequence(_kernel, gru_seq_ref, 3, 1, 3, 4, 5, 20, torch.float32, 1e-5,
                   seq_lens=torch.tensor([4, 2, 3]))


def test_gru_ref_matches_torch():
    torch.manual_seed(42)
    gru = torch.nn.GRU(5, 7)
    x, h = torch.randn(4, 3, 5), torch.randn(1, 3, 7)
    out, h_t = gru(x, h)
    weights = (gru.weight_ih_l0, gru.bias_ih_l0, gru.weight_hh_l0, gru.bias_hh_l0)
    ref = gru_seq_ref(x, h[0], *weights)
    assert_close("out", out, ref[0], 1e-6)
    assert_close("h", h_t[0], ref[1], 1e-6)
    cell = torch.nn.GRUCell(5, 7)
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in gru.state_dict().items()})
    assert_close("cell", cell(x[0], h[0]), gru_cell_ref(x[0], h[0], *weights)[0], 1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True},
                                    {"seq_lens": torch.tensor([3, 1])}],
                         ids=["plain", "batch_first", "varlen"])
def test_gru_sequence_backends_agree(kwargs):
    run_backends(gru_sequence, gru_cell, 3, 1, kwargs)


@requires_cuda
@pytest.mark.gpu
def test_gru_seq_grid_sync_matches_per_step_launches(monkeypatch):
    torch.manual_seed(42)
    T, B, H = 60, 32, 200
    args = [t.to("cuda") for t in (torch.randn(T, B, H), torch.randn(B, H),
                                   torch.randn(3 * H, H) / H ** 0.5, torch.randn(3 * H),
                                   torch.randn(3 * H, H) / H ** 0.5, torch.randn(3 * H))]
    runs = []
    for sync in ("1", "0"):
        monkeypatch.setenv("BUCKETMOD_RNN_GRID_SYNC", sync)
        hs, gates, ghn = gru_seq_fwd(*args)
        grads = gru_seq_bwd(torch.ones_like(hs), args[0], args[1], args[2], args[4], hs, gates,
                            ghn)
        runs.append([hs] + list(grads))
    for i, (a, b) in enumerate(zip(*runs)):
        assert torch.equal(a, b), f"output/grad {i} differs between the launch modes"
