"""The CPU recurrence of a 2-layer LSTM at the language model's size, candidates side by side.

    python experiments/bench_recurrent_cpu.py [--steps 10 30 60] [--rounds 5] [--json out.json]

Candidates, each forward and forward+backward over both layers (batch 32, hidden 200, input 200,
float32), interleaved round by round so a shared machine slows all of them alike; the best
round of each is reported:
- `nn.LSTM`: torch's module (oneDNN's fused LSTM on the CPU), what plain PyTorch runs;
- `bucketmod`: `bucketmod.ops.lstm.lstm_sequence` per layer with MXNet's separate i2h/h2h
  weights (ATen's LSTM, which the `_lstm_sequence` op and the RNN operator run on the CPU);
- `hand-written`: an autograd.Function looping the steps in Python, its backward batching the
  weight gradients of all steps into one GEMM each (the alternative we measured against).
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # a checkout that is not pip-installed
from bucketmod.ops.lstm import lstm_sequence  # noqa: E402

B, H, I, LAYERS = 32, 200, 200, 2


class HandWrittenLSTM(torch.autograd.Function):
    """Forward: one hoisted i2h GEMM, then per step one GEMM and the gate arithmetic. Backward:
    per step the gate grads and one GEMM into dh; then dWh = dGᵀ H_prev, dWi = dGᵀ X, dX = dG Wi
    over all steps at once."""

    @staticmethod
    def forward(ctx, x, h0, c0, wi, bi, wh, bh):
        T = x.shape[0]
        gx = torch.addmm(bi + bh, x.reshape(T * B, -1), wi.t()).view(T, B, 4 * H)
        acts = torch.empty(T, B, 4 * H)
        cs, hs = torch.empty(T + 1, B, H), torch.empty(T + 1, B, H)
        tcs = torch.empty(T, B, H)
        cs[0], hs[0] = c0, h0
        for t in range(T):
            a = torch.sigmoid(torch.addmm(gx[t], hs[t], wh.t()), out=acts[t])
            torch.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
            torch.mul(a[:, H:2 * H], cs[t], out=cs[t + 1]).addcmul_(a[:, :H], a[:, 2 * H:3 * H])
            torch.mul(a[:, 3 * H:], torch.tanh(cs[t + 1], out=tcs[t]), out=hs[t + 1])
        ctx.save_for_backward(x, wi, wh, acts, cs, tcs, hs)
        return hs[1:]

    @staticmethod
    def backward(ctx, dout):
        x, wi, wh, acts, cs, tcs, hs = ctx.saved_tensors
        T = x.shape[0]
        i, f, g, o = acts.chunk(4, 2)
        coef = torch.stack([g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g),
                            tcs * o * (1 - o)], 2)
        dc_dh = o * (1 - tcs * tcs)
        dg = torch.empty(T, B, 4, H)
        dc, dh = torch.zeros(B, H), torch.zeros(B, H)
        for t in range(T - 1, -1, -1):
            dh = dh + dout[t]
            dc.addcmul_(dh, dc_dh[t])
            torch.mul(dc.unsqueeze(1), coef[t, :, :3], out=dg[t, :, :3])
            torch.mul(dh, coef[t, :, 3], out=dg[t, :, 3])
            dc = dc * f[t]
            dh = dg[t].view(B, 4 * H) @ wh
        dg2 = dg.view(T * B, 4 * H)
        db = dg2.sum(0)
        return ((dg2 @ wi).view_as(x), dh, dc, dg2.t() @ x.reshape(T * B, -1), db,
                dg2.t() @ hs[:-1].reshape(T * B, H), db.clone())


def candidates():
    torch.manual_seed(0)
    module = torch.nn.LSTM(I, H, LAYERS)
    layers = [[p.detach().clone().requires_grad_() for p in
               (getattr(module, f"weight_ih_l{k}"), getattr(module, f"bias_ih_l{k}"),
                getattr(module, f"weight_hh_l{k}"), getattr(module, f"bias_hh_l{k}"))]
              for k in range(LAYERS)]
    zeros = torch.zeros(B, H)

    def nn_lstm(x):
        return module(x, (zeros.expand(LAYERS, B, H).contiguous(),) * 2)[0]

    def bucketmod(x):
        for wi, bi, wh, bh in layers:
            x = lstm_sequence(x, zeros, zeros, wi, bi, wh, bh)[0]
        return x

    def hand_written(x):
        for wi, bi, wh, bh in layers:
            x = HandWrittenLSTM.apply(x, zeros, zeros, wi, bi, wh, bh)
        return x

    return {"nn.LSTM": nn_lstm, "bucketmod": bucketmod, "hand-written": hand_written}


def time_once(fn, T, backward, reps=3):
    x = torch.randn(T, B, I, requires_grad=backward)
    dout = torch.randn(T, B, H)

    def step():
        if backward:
            fn(x).backward(dout)
        else:
            with torch.no_grad():
                fn(x)
    step()
    start = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - start) / reps * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 30, 60])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    fns = candidates()
    rows = []
    for T in args.steps:
        for backward in (False, True):
            best = {name: float("inf") for name in fns}
            for _ in range(args.rounds):
                for name, fn in fns.items():
                    best[name] = min(best[name], time_once(fn, T, backward))
            mode = "fwd+bwd" if backward else "fwd"
            rows.append({"T": T, "mode": mode, **{f"{k} ms": v for k, v in best.items()}})
            print(f"T={T:3d} {mode:8s} " + "  ".join(f"{k}: {v:7.2f} ms"
                                                    for k, v in best.items()), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": platform.processor() or platform.machine(), "threads":
            torch.get_num_threads(), "torch": torch.__version__, "command": sys.argv,
            "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
