"""Benchmark every bucketmod kernel against the torch path on the same device, same run.

    python experiments/bench_kernels.py [--ops fc,softmax] [--out experiments/results] [--quick]

On CUDA: Triton kernels vs ATen/cuBLAS/cuDNN, timed with `triton.testing.do_bench` (median and
20/80% quantiles, warm), at the language model's shapes and the tutorial sweeps; each op's test
file runs first and a red gate stops that op's report. Without CUDA only the torch path runs,
at small sizes, so the harness itself stays tested. Writes `kernels-<device>.json` and one PNG
per op into `--out`; every result carries the device, SM count, versions and git sha.
"""
import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # a checkout that is not pip-installed
import bucketmod  # noqa: E402,F401  (makes bucketmod.kernels importable from a checkout)

# Dense peak numbers of the cards this project is lent (vendor datasheets, SXM parts).
PEAKS = {"H100": {"GB/s": 3350.0, "TFLOP/s": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0,
                                               "fp32": 67.0}},
         "H200": {"GB/s": 4800.0, "TFLOP/s": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0,
                                               "fp32": 67.0}}}
DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TESTS = {"fc": "test_fc.py", "activation": "test_activation.py", "softmax": "test_softmax.py",
         "softmax_output": "test_softmax_output.py", "embedding": "test_embedding.py",
         "linear_cross_entropy": "test_softmax_output.py", "lstm": "test_lstm.py",
         "gru": "test_gru.py", "vanilla_rnn": "test_vanilla_rnn.py"}
GATES = {"lstm": 4, "gru": 3, "vanilla_rnn": 1}


def environment():
    cuda = torch.cuda.is_available()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sha = None
    import triton
    props = torch.cuda.get_device_properties(0) if cuda else None
    return {"device": props.name if cuda else f"cpu ({platform.processor() or 'unknown'})",
            "sm_count": props.multi_processor_count if cuda else None,
            "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "git_sha": sha}


def peak(device_name, key, dtype_key):
    for name, table in PEAKS.items():
        if name in device_name:
            return table[key] if key == "GB/s" else table[key][dtype_key]
    return None


def timed(fn, cuda):
    """(median, p20, p80) in milliseconds."""
    if cuda:
        from triton.testing import do_bench
        return tuple(do_bench(fn, quantiles=[0.5, 0.2, 0.8]))
    fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    q = statistics.quantiles(samples, n=5)
    return statistics.median(samples), q[0], q[3]


def _backward(fn, inputs):
    def run():
        for t in inputs:
            t.grad = None
        out = fn()
        out = out if isinstance(out, tuple) else (out,)
        torch.autograd.backward([o for o in out if o.requires_grad],
                                [torch.ones_like(o) for o in out if o.requires_grad])
    return run


def cases(op, quick, cuda):
    """Yield `(label, dtype_key, make)` where make(backend) -> (fwd_fn, leaves, bytes, flops)."""
    from bucketmod.ops import (
        activation,
        embedding,
        fc,
        gru,
        linear_cross_entropy,
        lstm,
        softmax,
        softmax_output,
        vanilla_rnn,
    )
    dev = "cuda" if cuda else "cpu"
    rows = [32 * t for t in ((10, 60) if not quick else (2,))]
    hidden = (200, 1024) if not quick else (16,)
    vocab = (10000, 50000) if not quick else (64,)
    dtypes = ("bf16", "fp32") if cuda else ("fp32",)

    def leaf(*shape, dtype, scale=1.0):
        return (torch.randn(*shape, device=dev, dtype=DT[dtype]) * scale).requires_grad_()

    if op == "fc":
        shapes = [(m, v, h) for m in rows for h in hidden for v in vocab]
        shapes += [] if quick else [(4096, 4096, 4096)]
        for M, N, K in shapes:
            for dk in dtypes:
                def make(M=M, N=N, K=K, dk=dk):
                    x, w, b = leaf(M, K, dtype=dk), leaf(N, K, dtype=dk, scale=K ** -0.5), \
                        leaf(N, dtype=dk)
                    size = DT[dk].itemsize * (M * K + N * K + M * N)
                    return (lambda: fc.fully_connected(x, w, b, act="tanh"), [x, w, b], size,
                            2 * M * N * K)
                yield f"{M}x{K}->{N}", dk, make
    elif op in ("softmax", "activation"):
        widths = [2 ** p for p in range(8, 15)] + [10000, 50000] if not quick else [64, 300]
        for N in widths:
            for dk in dtypes:
                def make(N=N, dk=dk):
                    x = leaf(rows[0] if quick else 4096, N, dtype=dk)
                    fn = (lambda: softmax.softmax(x)) if op == "softmax" else \
                        (lambda: activation.activation(x, "tanh"))
                    return fn, [x], 2 * x.numel() * x.element_size(), 0
                yield f"{x_rows(quick, rows)}x{N}", dk, make
    elif op in ("softmax_output", "linear_cross_entropy"):
        for M in rows:
            for V in vocab:
                for dk in dtypes:
                    def make(M=M, V=V, dk=dk):
                        lab = torch.randint(0, V, (M,), device=dev).float()
                        if op == "softmax_output":
                            x = leaf(M, V, dtype=dk)
                            return (lambda: softmax_output.softmax_output(x, lab), [x],
                                    3 * x.numel() * x.element_size(), 0)
                        K = hidden[0]
                        x, w = leaf(M, K, dtype=dk), leaf(V, K, dtype=dk, scale=K ** -0.5)
                        return (lambda: linear_cross_entropy.linear_cross_entropy(x, w, None, lab),
                                [x, w], DT[dk].itemsize * (M * K + V * K), 6 * M * V * K)
                    yield f"{M}x{V}", dk, make
    elif op == "embedding":
        for M in rows:
            for D in hidden:
                for dk in dtypes:
                    def make(M=M, D=D, dk=dk):
                        w = leaf(vocab[0], D, dtype=dk)
                        idx = torch.randint(0, vocab[0], (M,), device=dev).float()
                        return (lambda: embedding.embedding(idx, w), [w],
                                2 * M * D * w.element_size(), 0)
                    yield f"{M}x{D}", dk, make
    elif op in GATES:
        # whole sequences at the language model's size: batch 32, input = hidden
        G = GATES[op]
        for T in ((10, 60) if not quick else (4,)):
            for H in hidden:
                for dk in dtypes:
                    def make(T=T, H=H, dk=dk):
                        B = 32
                        x, h = leaf(T, B, H, dtype=dk), leaf(B, H, dtype=dk)
                        wi, wh = leaf(G * H, H, dtype=dk, scale=H ** -0.5), \
                            leaf(G * H, H, dtype=dk, scale=H ** -0.5)
                        bi, bh = leaf(G * H, dtype=dk), leaf(G * H, dtype=dk)
                        if op == "lstm":
                            c = leaf(B, H, dtype=dk)
                            fn = lambda: lstm.lstm_sequence(x, h, c, wi, bi, wh, bh)  # noqa: E731
                            ins = [x, h, c, wi, bi, wh, bh]
                        else:
                            seq = gru.gru_sequence if op == "gru" else \
                                vanilla_rnn.vanilla_rnn_sequence
                            fn = lambda: seq(x, h, wi, bi, wh, bh)  # noqa: E731
                            ins = [x, h, wi, bi, wh, bh]
                        return (fn, ins, DT[dk].itemsize * 2 * G * H * H,
                                2 * 2 * T * B * G * H * H)
                    yield f"T{T}-B32-H{H}", dk, make


def x_rows(quick, rows):
    return rows[0] if quick else 4096


def gate(op):
    """Run the op's kernel tests; a failure means its numbers are not reported."""
    test = ROOT / "tests" / "kernels" / TESTS[op]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", str(test)], cwd=ROOT,
                          capture_output=True).returncode == 0


def bench_op(op, quick, env, cuda):
    from bucketmod.backend import backend
    providers = ("triton", "torch") if cuda else ("torch",)
    results = []
    for label, dk, make in cases(op, quick, cuda):
        for provider in providers:
            for mode in ("fwd", "fwdbwd"):
                with backend(provider):
                    fn, leaves, size, flops = make()
                    run = fn if mode == "fwd" else _backward(fn, leaves)
                    if cuda:
                        torch.cuda.reset_peak_memory_stats()
                    ms, lo, hi = timed(run, cuda)
                    mem = torch.cuda.max_memory_allocated() if cuda else None
                factor = 1 if mode == "fwd" else 3
                row = {"op": op, "shape": label, "dtype": dk, "provider": provider,
                       "mode": mode, "ms": ms, "ms_p20": lo, "ms_p80": hi,
                       "GB/s": factor * size / ms / 1e6 if size else None,
                       "TFLOP/s": factor * flops / ms / 1e9 if flops else None,
                       "peak_mem_bytes": mem, **env}
                key = "TFLOP/s" if flops else "GB/s"
                ref = peak(env["device"], key, "tf32" if dk == "fp32" and
                           torch.backends.cuda.matmul.allow_tf32 else dk)
                row["pct_of_peak"] = 100 * row[key] / ref if ref and row[key] else None
                results.append(row)
    for row in results:
        if row["provider"] == "triton":
            base = [r for r in results if r["provider"] == "torch" and
                    all(r[k] == row[k] for k in ("shape", "dtype", "mode"))]
            row["speedup_vs_torch"] = base[0]["ms"] / row["ms"] if base else None
    return results


def plot(results, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    for op in sorted({r["op"] for r in results}):
        rows = [r for r in results if r["op"] == op]
        fig, ax = plt.subplots(figsize=(8, 4))
        for key in sorted({(r["provider"], r["mode"], r["dtype"]) for r in rows}):
            sel = [r for r in rows if (r["provider"], r["mode"], r["dtype"]) == key]
            ax.plot([r["shape"] for r in sel], [r["ms"] for r in sel], marker="o",
                    label="/".join(key))
        ax.set_title(f"{op} on {rows[0]['device']} ({rows[0]['git_sha'] or 'no sha'})")
        ax.set_ylabel("ms (median)")
        ax.tick_params(axis="x", rotation=45)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{op}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(str(path))
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default=",".join(TESTS))
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results"))
    parser.add_argument("--quick", action="store_true", help="small sizes (the CPU default)")
    parser.add_argument("--no-gate", action="store_true", help="skip running the op's tests")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    ops = [o for o in args.ops.split(",") if o]
    unknown = [o for o in ops if o not in TESTS]
    if unknown:
        parser.error(f"--ops: expected names from {sorted(TESTS)}, got {unknown}")
    env = environment()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, refused = [], []
    for op in ops:
        if cuda and not args.no_gate and not gate(op):
            refused.append(op)
            continue
        results += bench_op(op, args.quick or not cuda, env, cuda)
    tag = env["device"].split(" (")[0].replace(" ", "_")
    path = out / f"kernels-{tag}.json"
    path.write_text(json.dumps({"environment": env, "refused_red_gate": refused,
                                "results": results}, indent=1))
    plots = plot(results, out)
    print(json.dumps({"json": str(path), "png": plots, "refused": refused,
                      "rows": len(results)}))
    return 0 if not refused else 1


if __name__ == "__main__":
    sys.exit(main())
