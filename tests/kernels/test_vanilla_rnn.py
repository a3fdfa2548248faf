"""kernels/vanilla_rnn.py: the whole-sequence kernels against the reference, forward and
backward, tanh and relu; the reference against torch; ops/vanilla_rnn.py's backends."""
import functools

import pytest
import torch
from bucketmod.kernels.vanilla_rnn import (
    vanilla_rnn_cell_ref,
    vanilla_rnn_seq_bwd,
    vanilla_rnn_seq_fwd,
    vanilla_rnn_seq_ref,
)
from kernel_cases import DTYPES, requires_cuda
from recurrent_cases import CASES, check_sequence, run_backends, stream_weights

from bucketmod.ops.vanilla_rnn import vanilla_rnn_cell, vanilla_rnn_sequence
from bucketmod.testing import assert_close


def _kernel(act):
    def run(low, d_hs, d_others, seq_lens, batch_first):
        x, h0, wi, bi, wh, bh = low
        hs = vanilla_rnn_seq_fwd(*low, act, seq_lens=seq_lens, batch_first=batch_first)
        grads = vanilla_rnn_seq_bwd(d_hs, x, h0, wi, wh, hs, act, seq_lens,
                                    batch_first=batch_first)
        return hs, [], grads
    return run


def _ref(act):
    return functools.partial(vanilla_rnn_seq_ref, activation=act)


@pytest.mark.parametrize("B, T, I, H", CASES)
@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("dtype, ratio", DTYPES)
def test_vanilla_rnn_seq(B, T, I, H, act, dtype, ratio):
    check_sequence(_kernel(act), _ref(act), 1, 1, B, T, I, H, dtype, ratio)


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_vanilla_rnn_seq_varlen(act):
    check_sequence(_kernel(act), _ref(act), 1, 1, 3, 5, 4, 9, torch.float32, 1e-5,
                   seq_lens=torch.tensor([2, 5, 1]), batch_first=act == "relu")


def test_vanilla_rnn_seq_streamed_weights(monkeypatch):
    stream_weights(monkeypatch)
    check_sequence(_kernel("tanh"), _ref("tanh"), 1, 1, 3, 4, 5, 20, torch.float32, 1e-5,
                   seq_lens=torch.tensor([4, 2, 3]))


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_vanilla_rnn_ref_matches_torch(act):
    torch.manual_seed(42)
    rnn = torch.nn.RNN(5, 7, nonlinearity=act)
    x, h = torch.randn(4, 3, 5), torch.randn(1, 3, 7)
    out, h_t = rnn(x, h)
    weights = (rnn.weight_ih_l0, rnn.bias_ih_l0, rnn.weight_hh_l0, rnn.bias_hh_l0)
    ref = vanilla_rnn_seq_ref(x, h[0], *weights, act)
    assert_close("out", out, ref[0], 1e-6)
    assert_close("h", h_t[0], ref[1], 1e-6)
    assert_close("cell", out[0], vanilla_rnn_cell_ref(x[0], h[0], *weights, act)[0], 1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True, "activation": "relu"},
                                    {"seq_lens": torch.tensor([3, 1])}],
                         ids=["plain", "batch_first-relu", "varlen"])
def test_vanilla_rnn_sequence_backends_agree(kwargs):
    run_backends(vanilla_rnn_sequence, vanilla_rnn_cell, 1, 1, kwargs)


@requires_cuda
@pytest.mark.gpu
def test_vanilla_rnn_seq_grid_sync_matches_per_step_launches(monkeypatch):
    torch.manual_seed(42)
    T, B, H = 60, 32, 200
    args = [t.to("cuda") for t in (torch.randn(T, B, H), torch.randn(B, H),
                                   torch.randn(H, H) / H ** 0.5, torch.randn(H),
                                   torch.randn(H, H) / H ** 0.5, torch.randn(H))]
    runs = []
    for sync in ("1", "0"):
        monkeypatch.setenv("BUCKETMOD_RNN_GRID_SYNC", sync)
        hs = vanilla_rnn_seq_fwd(*args)
        grads = vanilla_rnn_seq_bwd(torch.ones_like(hs), args[0], args[1], args[2], args[4], hs)
        runs.append([hs] + list(grads))
    for i, (a, b) in enumerate(zip(*runs)):
        assert torch.equal(a, b), f"output/grad {i} differs between the launch modes"
