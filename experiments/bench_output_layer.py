"""The language model's output layer, FullyConnected + SoftmaxOutput, forward and backward.

Providers, each timed on the same inputs, interleaved round by round (the machine may be shared):
  torch        plain PyTorch: F.linear + F.cross_entropy, autograd backward
  graph_mkl    a bound bucketmod graph FC -> SoftmaxOutput with the passes off
               (BUCKETMOD_FUSE=0) and every GEMM on torch.mm (MKL): bucketmod before the
               fused output layer and gemm.py
  graph        the same with gemm.py's GEMMs (oneDNN on the CPU)
  graph_fused  the same graph with the passes on: one `_fused_fc_softmax_output` node
  fused_mkl    the fused operator alone with every GEMM on torch.mm (MKL), as plain PyTorch's
  scratch      the fused operator's forward, with a backward that forms `p − q` in a scratch
               buffer (default SoftmaxOutput settings only)

    python experiments/bench_output_layer.py --rows 320 960 1920 --repeats 7 --json out.json
"""
import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import bucketmod as mx
from bucketmod import executor as executor_module
from bucketmod.ops import gemm
from bucketmod.ops.fc_softmax_output import _softmax_, fc_softmax_output

PROVIDERS = ("torch", "graph_mkl", "graph", "graph_fused", "fused_mkl", "scratch")
ON_MKL = ("graph_mkl", "fused_mkl")


class ScratchFunction(torch.autograd.Function):
    """The alternative to compare: the same forward; the logits' gradient made in a buffer."""

    @staticmethod
    def forward(ctx, x, w, b, label):
        p = _softmax_(gemm.linear(x, w, b), False)
        ctx.save_for_backward(x, w, label, p)
        return p

    @staticmethod
    def backward(ctx, grad_out):
        x, w, label, p = ctx.saved_tensors
        g = p.clone()
        g.index_put_((torch.arange(g.shape[0]), label.long()), torch.tensor(-1.0),
                     accumulate=True)
        return gemm.mm(g, w), gemm.mm_tn(g, x), g.sum(0), None


def _bind(fuse, x, w, b, label):
    executor_module.FUSE_GRAPHS = fuse
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=w.shape[0], name="pred")
    exe = mx.sym.SoftmaxOutput(fc, name="softmax").simple_bind(
        mx.cpu(), data=tuple(x.shape), softmax_label=tuple(label.shape))
    for name, value in (("data", x), ("pred_weight", w), ("pred_bias", b),
                        ("softmax_label", label)):
        exe.arg_dict[name][:] = value.detach()
    return exe


def _step(provider, tensors, executors, train):
    x, w, b, label = tensors
    if provider in executors:
        exe = executors[provider]
        exe.forward(is_train=train)
        if train:
            exe.backward()
        return
    if provider == "torch":
        out, head = F.cross_entropy(F.linear(x, w, b), label.long()), None
    else:
        if provider == "fused_mkl":
            out = fc_softmax_output(x, w, b, label)
        else:
            out = ScratchFunction.apply(x, w, b, label)
        head = [torch.ones_like(out)]
    if train:
        torch.autograd.backward([out], head)


def bench(rows, K, V, repeats, mode):
    torch.manual_seed(0)
    x = torch.randn(rows, K, requires_grad=True)
    w = (torch.randn(V, K) * 0.05).requires_grad_()
    b = torch.zeros(V, requires_grad=True)
    label = torch.randint(0, V, (rows,)).float()
    fuse, min_macs = executor_module.FUSE_GRAPHS, gemm.ONEDNN_MIN_MACS
    executors = {"graph": _bind(False, x, w, b, label),
                 "graph_fused": _bind(True, x, w, b, label)}
    executors["graph_mkl"] = executors["graph"]
    executor_module.FUSE_GRAPHS = fuse
    train = mode == "fwdbwd"
    times = {p: [] for p in PROVIDERS}
    for r in range(repeats + 1):
        order = PROVIDERS[r % len(PROVIDERS):] + PROVIDERS[:r % len(PROVIDERS)]
        for provider in order:
            for t in (x, w, b):
                t.grad = None
            gemm.ONEDNN_MIN_MACS = float("inf") if provider in ON_MKL else min_macs
            with torch.set_grad_enabled(train):
                start = time.perf_counter()
                _step(provider, (x, w, b, label), executors, train)
                elapsed = time.perf_counter() - start
            if r:
                times[provider].append(elapsed)
    gemm.ONEDNN_MIN_MACS = min_macs
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[320, 960, 1920])
    parser.add_argument("--num-hidden", type=int, default=200)
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--modes", nargs="+", default=["fwdbwd", "fwd"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for mode in args.modes:
        for rows in args.rows:
            times = bench(rows, args.num_hidden, args.vocab, args.repeats, mode)
            base = statistics.median(times["torch"])
            line = [f"{mode:6s} N={rows:5d}"]
            for provider, ts in times.items():
                med = statistics.median(ts)
                line.append(f"{provider} {1e3 * med:.1f} ms (min {1e3 * min(ts):.1f}, "
                            f"{base / med:.2f}x)")
                results.append({"mode": mode, "rows": rows, "provider": provider,
                                "median_ms": 1e3 * med, "min_ms": 1e3 * min(ts),
                                "speedup_vs_torch": base / med})
            print("  ".join(line), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": argv, "machine": platform.processor() or platform.machine(),
                       "threads": torch.get_num_threads(), "torch": torch.__version__,
                       "K": args.num_hidden, "V": args.vocab, "results": results}, f, indent=1)
    return results


if __name__ == "__main__":
    main()
