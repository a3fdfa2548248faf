"""The driver shared by test_lstm.py, test_gru.py and test_vanilla_rnn.py: a whole-sequence kernel
against its reference (the cell reference looped over time), outputs and every gradient."""
import pytest
import torch
from kernel_cases import leaves

from bucketmod.testing import assert_close

# B, T, I, H: a tiny case, two programs over the hidden units (H = 18: the second block
# partial), two row blocks (B = 17).
CASES = [pytest.param(*c, id="B{}-T{}-I{}-H{}".format(*c))
         for c in [(1, 1, 1, 1), (3, 5, 4, 7), (2, 3, 5, 18), (17, 2, 3, 5)]]


def stream_weights(monkeypatch):
    """Weights too large to stay on chip: read every step, in K tiles of 16."""
    from bucketmod.kernels import _recurrent
    monkeypatch.setattr(_recurrent, "W_ON_CHIP_BYTES", 0)
    monkeypatch.setattr(_recurrent, "STREAM_BLOCK_K", 16)
INPUTS = ["x", "h0", "c0", "i2h_w", "i2h_b", "h2h_w", "h2h_b"]


def step_mask(seq_lens, T, batch_first):
    """float `[T, B, 1]` (`[B, T, 1]`): 1 on the steps within each sample's length."""
    valid = (torch.arange(T)[:, None] < seq_lens[None, :]).float()[:, :, None]
    return valid.transpose(0, 1) if batch_first else valid


def check_sequence(kernel, ref, G, states, B, T, I, H, dtype, ratio, seq_lens=None,
                   batch_first=False, with_dhs=True):
    """`kernel(low inputs, dhs, d_other_states, seq_lens, batch_first)` -> `(hs, other last
    states, grads)`; `ref(*inputs, seq_lens=, batch_first=)` -> `(out, h_T, *others)`."""
    torch.manual_seed(42)
    x = torch.randn(*((B, T, I) if batch_first else (T, B, I)))
    tensors = [x] + [torch.randn(B, H) for _ in range(states)] + [
        torch.randn(G * H, I) / I ** 0.5, torch.randn(G * H), torch.randn(G * H, H) / H ** 0.5,
        torch.randn(G * H)]
    low, refs = leaves(*tensors, dtype=dtype)
    out, h_last, *others = ref(*refs, seq_lens=seq_lens, batch_first=batch_first)
    d_out = torch.randn_like(out) if with_dhs else torch.zeros_like(out)
    d_h, d_others = torch.randn_like(h_last), [torch.randn_like(o) for o in others]
    loss = (out * d_out).sum() + (h_last * d_h).sum()
    (loss + sum((o * d).sum() for o, d in zip(others, d_others))).backward()
    axis = 1 if batch_first else 0
    d_hs = d_out if seq_lens is None else d_out * step_mask(seq_lens, T, batch_first)
    d_hs.select(axis, T - 1).add_(d_h)
    hs, got_others, grads = kernel(low, d_hs.to(dtype) if with_dhs or T else None,
                                   [d.to(dtype) for d in d_others], seq_lens, batch_first)
    masked = hs if seq_lens is None else hs * step_mask(seq_lens, T, batch_first).to(dtype)
    assert_close("out", out, masked, ratio)
    assert_close("h_T", h_last, hs.select(axis, T - 1), ratio)
    for i, (r, k) in enumerate(zip(others, got_others)):
        assert_close(f"state {i + 1}", r, k, ratio)
    names = INPUTS if states == 2 else INPUTS[:2] + INPUTS[3:]
    for name, r, g in zip(names, refs, grads):
        assert_close(f"d{name}", r.grad, g, ratio * 2)


def _run(fn, args, kwargs):
    ins = [None if t is None else t.clone().requires_grad_() for t in args]
    outs = fn(*ins, **kwargs)
    weights = [torch.linspace(-1, 1, o.numel(), device=o.device).reshape(o.shape) for o in outs]
    sum((o * w).sum() for o, w in zip(outs, weights)).backward()
    return list(outs) + [t.grad for t in ins if t is not None]


def run_backends(sequence, cell, G, states, kwargs):
    """ops/<cell>.py: the torch path (ATen, or the reference loop) and the Triton kernels give
    the same outputs and gradients; the cell step is the one-step sequence. No h2h bias, to
    cover a missing one."""
    from kernel_cases import device

    from bucketmod.backend import backend
    torch.manual_seed(42)
    T, B, I, H = 3, 2, 4, 5
    x = torch.randn(B, T, I) if kwargs.get("batch_first") else torch.randn(T, B, I)
    args = [x] + [torch.randn(B, H) for _ in range(states)] + [
        torch.randn(G * H, I), torch.randn(G * H), torch.randn(G * H, H), None]
    args = [t if t is None else t.to(device()) for t in args]
    results = []
    for name in ("torch", "triton"):
        with backend(name):
            results.append(_run(sequence, args, kwargs))
    for i, (a, b) in enumerate(zip(*results)):
        assert_close(f"output/grad {i}", a, b, 1e-5)
    if kwargs:
        return
    with backend("triton"):
        step = _run(lambda *a: cell(*a) if states == 2 else (cell(*a),),
                    [args[0][0]] + args[1:], {})
        seq = _run(lambda *a: sequence(*a)[1:], [args[0][:1]] + args[1:], {})
    seq[states] = seq[states][0]  # dx of the one step
    for i, (a, b) in enumerate(zip(seq, step)):
        assert_close(f"cell output/grad {i}", a, b, 1e-6)
