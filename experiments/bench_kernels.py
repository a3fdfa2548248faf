"""Benchmark bucketmod's kernels against what people run instead, one registry entry per op.

    python experiments/bench_kernels.py [--ops fc,softmax] [--import my_ops.py] [--out DIR]
    python experiments/bench_kernels.py --list
    python experiments/bench_kernels.py --import experiments/custom_triton_op.py --ops rms_norm
    python experiments/bench_kernels.py --ops lstm --dtypes fp32 --match T=60,B=32,H=200

Baselines: F.linear + activation (eager and torch.compile), torch.softmax/log_softmax,
F.cross_entropy on materialised logits, F.linear + softmax for the FC+SoftmaxOutput output
layer, F.embedding, nn.LSTMCell/GRUCell and, for whole sequences, nn.LSTM/GRU/RNN (cuDNN on a
GPU). On CUDA every provider is timed with Triton's do_bench
(median, 20/80% quantiles) after the op's tests pass (a red gate refuses the op's numbers);
each row gives time, TFLOP/s or GB/s and the fraction of the device's peak
(bucketmod.kernels.bench.PEAKS). Without CUDA the same harness runs at tiny sizes, the
kernels through Triton's interpreter when TRITON_INTERPRET=1: the numbers mean nothing, the
run proves the harness. Writes `<out>/kernels-<device>.json` and `.csv` (device, versions,
git sha, command) and one PNG per op family. `--import` loads modules or files whose import
registers more ops (kernels/README.md, "Benchmarks").
"""
import argparse
import json
import pathlib
import subprocess
import sys

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # a checkout that is not pip-installed
from bucketmod.kernels import bench  # noqa: E402  (bucketmod's import aliases its kernels)

from bucketmod.backend import backend  # noqa: E402
from bucketmod.ops import (  # noqa: E402
    activation,
    embedding,
    fc,
    fc_softmax_output,
    gru,
    linear_cross_entropy,
    lstm,
    softmax,
    softmax_output,
    vanilla_rnn,
)

ROWS = [32 * t for t in (10, 60)] + [4096]
COMPILED = {}
COMPILE_BACKEND = {"name": "inductor"}


def compiled(fn):
    """`torch.compile(fn)` as people call it (default dynamic-shape handling: a second shape
    recompiles with dynamic sizes), made on first use with --compile-backend."""
    def run(*args):
        if fn not in COMPILED:
            for limit in ("cache_size_limit", "recompile_limit"):
                if hasattr(torch._dynamo.config, limit):
                    setattr(torch._dynamo.config, limit, 64)
            COMPILED[fn] = torch.compile(fn, backend=COMPILE_BACKEND["name"])
        return COMPILED[fn](*args)
    return run


def triton(fn):
    """A provider running bucketmod's functional with every op on its Triton kernel."""
    def run(inputs):
        with backend("triton"):
            return fn(inputs)
    return run


def randn(shape, dtype, device, scale=1.0, grad=True):
    return (torch.randn(*shape, device=device, dtype=dtype) * scale).requires_grad_(grad)


def _size(dtype):
    return torch.empty((), dtype=dtype).element_size()


def _linear_tanh(x, w, b):
    return torch.tanh(F.linear(x, w, b))


def _fc_inputs(s, dtype, device):
    return {"x": randn((s["M"], s["K"]), dtype, device),
            "w": randn((s["N"], s["K"]), dtype, device, s["K"] ** -0.5),
            "b": randn((s["N"],), dtype, device)}


def _gemm_cost(M, N, K, dtype, mode):
    passes = 1 if mode == "fwd" else 3
    return 2 * M * N * K * passes, _size(dtype) * (M * K + N * K + M * N) * passes


def _cross_entropy(logits, label):
    return F.cross_entropy(logits.float(), label.long(), reduction="sum")


def _linear_ce(x, w, b, label):
    return _cross_entropy(F.linear(x, w, b), label)


def _label(s, device):
    return torch.randint(0, s["V"], (s["M"],), device=device).float()


def _cell_inputs(gates):
    def make(s, dtype, device):
        B, H = s["B"], s["H"]
        cell = (torch.nn.LSTMCell if gates == 4 else torch.nn.GRUCell)(H, H).to(device, dtype)
        return {"x": randn((B, H), dtype, device), "h": randn((B, H), dtype, device),
                "c": randn((B, H), dtype, device), "cell": cell,
                "wi": cell.weight_ih, "bi": cell.bias_ih, "wh": cell.weight_hh,
                "bh": cell.bias_hh}
    return make


def _cell_cost(gates):
    def cost(s, dtype, mode):
        B, H = s["B"], s["H"]
        passes = 1 if mode == "fwd" else 3
        weights = 2 * gates * H * H
        return (2 * B * weights * passes,
                _size(dtype) * (weights + (2 + gates) * B * H) * passes)
    return cost


# name -> (gates, torch module, bucketmod's whole-sequence functional, its test file)
SEQUENCES = {"lstm": (4, torch.nn.LSTM, lstm.lstm_sequence, "tests/kernels/test_lstm.py"),
             "gru": (3, torch.nn.GRU, gru.gru_sequence, "tests/kernels/test_gru.py"),
             "vanilla_rnn": (1, torch.nn.RNN, vanilla_rnn.vanilla_rnn_sequence,
                             "tests/kernels/test_vanilla_rnn.py")}


def _seq_inputs(module):
    def make(s, dtype, device):
        T, B, H = s["T"], s["B"], s["H"]
        net = module(H, H).to(device, dtype)
        return {"x": randn((T, B, H), dtype, device), "net": net, "wi": net.weight_ih_l0,
                "wh": net.weight_hh_l0, "bi": net.bias_ih_l0, "bh": net.bias_hh_l0,
                "h": torch.zeros(B, H, device=device, dtype=dtype),
                "c": torch.zeros(B, H, device=device, dtype=dtype)}
    return make


def _seq_bucketmod(fn, gates):
    def run(i):
        states = (i["h"], i["c"]) if gates == 4 else (i["h"],)
        return fn(i["x"], *states, i["wi"], i["bi"], i["wh"], i["bh"])[0]
    return run


def _seq_cost(gates):
    def cost(s, dtype, mode):
        flops, size = _cell_cost(gates)(s, dtype, mode)
        return flops * s["T"], size * s["T"]
    return cost


def _linear_softmax(x, w, b):
    return torch.softmax(F.linear(x, w, b), -1)


def register_builtin():
    hidden_fc = [{"M": m, "N": h, "K": h} for m in ROWS for h in (200, 1024)]
    out_fc = [{"M": m, "N": v, "K": 200} for m in ROWS[:2] for v in (10000, 50000)]
    bench.register(bench.BenchOp(
        name="fc", family="gemm", shapes=hidden_fc + out_fc + [{"M": 4096, "N": 4096,
                                                                "K": 4096}],
        quick_shapes=[{"M": 24, "N": 20, "K": 16}], make=_fc_inputs,
        providers={"bucketmod": triton(lambda i: fc.fully_connected(i["x"], i["w"], i["b"],
                                                                    act="tanh")),
                   "torch": lambda i: _linear_tanh(i["x"], i["w"], i["b"]),
                   "torch.compile": lambda i: compiled(_linear_tanh)(i["x"], i["w"], i["b"])},
        cost=lambda s, d, m: _gemm_cost(s["M"], s["N"], s["K"], d, m),
        test_file="tests/kernels/test_fc.py", label=lambda s: f"{s['M']}x{s['K']}->{s['N']}"))

    def rows(s, dtype, device):
        return {"x": randn((s["M"], s["N"]), dtype, device)}

    def row_cost(reads):
        return lambda s, d, m: (0, _size(d) * s["M"] * s["N"] * (reads if m == "fwd" else
                                                                 reads + 3))
    widths = [{"M": 4096, "N": n} for n in (200, 1024, 4096, 10000, 50000)]
    for name, torch_fn, log in (("softmax", torch.softmax, False),
                                ("log_softmax", torch.log_softmax, True)):
        fn = softmax.log_softmax if log else softmax.softmax
        bench.register(bench.BenchOp(
            name=name, family="softmax", shapes=widths, quick_shapes=[{"M": 8, "N": 300}],
            make=rows, providers={"bucketmod": triton(lambda i, fn=fn: fn(i["x"])),
                                  "torch": lambda i, f=torch_fn: f(i["x"], -1)},
            cost=row_cost(2), test_file="tests/kernels/test_softmax.py",
            label=lambda s: f"{s['M']}x{s['N']}"))

    def logits(s, dtype, device):
        return {"x": randn((s["M"], s["V"]), dtype, device), "label": _label(s, device)}
    vocab_rows = [{"M": m, "V": v} for m in ROWS[:2] for v in (10000, 50000)]
    bench.register(bench.BenchOp(
        name="softmax_output", family="softmax", shapes=vocab_rows,
        quick_shapes=[{"M": 8, "V": 300}], make=logits,
        providers={"bucketmod": triton(lambda i: softmax_output.softmax_output(i["x"],
                                                                               i["label"])),
                   "torch (F.cross_entropy)": lambda i: _cross_entropy(i["x"], i["label"])},
        cost=lambda s, d, m: (0, _size(d) * s["M"] * s["V"] * (2 if m == "fwd" else 4)),
        test_file="tests/kernels/test_softmax_output.py",
        label=lambda s: f"{s['M']}x{s['V']}"))

    def lce(s, dtype, device):
        return {"x": randn((s["M"], s["K"]), dtype, device),
                "w": randn((s["V"], s["K"]), dtype, device, s["K"] ** -0.5),
                "b": randn((s["V"],), dtype, device), "label": _label(s, device)}
    # The output layer (FC over the vocabulary, then the loss), in both of bucketmod's forms.
    output_layer = dict(
        shapes=[{**s, "K": 200} for s in vocab_rows] + [{"M": 4096, "V": 50000, "K": 1024}],
        quick_shapes=[{"M": 12, "V": 40, "K": 16}], make=lce,
        cost=lambda s, d, m: _gemm_cost(s["M"], s["V"], s["K"], d, m),
        label=lambda s: f"{s['M']}x{s['K']}->{s['V']}")
    bench.register(bench.BenchOp(
        name="linear_cross_entropy", family="gemm", **output_layer,
        providers={"bucketmod": triton(lambda i: linear_cross_entropy.linear_cross_entropy(
                       i["x"], i["w"], i["b"], i["label"])),
                   "torch (F.linear + F.cross_entropy)": lambda i: _linear_ce(
                       i["x"], i["w"], i["b"], i["label"]),
                   "torch.compile": lambda i: compiled(_linear_ce)(i["x"], i["w"], i["b"],
                                                                  i["label"])},
        test_file="tests/kernels/test_softmax_output.py"))
    bench.register(bench.BenchOp(
        name="fc_softmax_output", family="softmax", **output_layer,
        providers={"bucketmod": triton(lambda i: fc_softmax_output.fc_softmax_output(
                       i["x"], i["w"], i["b"], i["label"])),
                   "torch (F.linear + softmax)": lambda i: _linear_softmax(i["x"], i["w"],
                                                                           i["b"]),
                   "torch (F.linear + F.cross_entropy)": lambda i: _linear_ce(
                       i["x"], i["w"], i["b"], i["label"])},
        test_file="tests/kernels/test_fc_softmax_output.py"))

    def emb(s, dtype, device):
        return {"idx": torch.randint(0, s["V"], (s["M"],), device=device).float(),
                "w": randn((s["V"], s["D"]), dtype, device)}
    bench.register(bench.BenchOp(
        name="embedding", family="elementwise",
        shapes=[{"M": m, "V": 10000, "D": d} for m in ROWS for d in (200, 1024)],
        quick_shapes=[{"M": 16, "V": 50, "D": 24}], make=emb,
        providers={"bucketmod": triton(lambda i: embedding.embedding(i["idx"], i["w"])),
                   "torch (F.embedding)": lambda i: F.embedding(i["idx"].long(), i["w"])},
        cost=lambda s, d, m: (0, 2 * _size(d) * s["M"] * s["D"] * (1 if m == "fwd" else 2)),
        test_file="tests/kernels/test_embedding.py", label=lambda s: f"{s['M']}x{s['D']}"))

    bench.register(bench.BenchOp(
        name="activation", family="elementwise", shapes=widths[:3],
        quick_shapes=[{"M": 8, "N": 300}], make=rows,
        providers={"bucketmod": triton(lambda i: activation.activation(i["x"], "tanh")),
                   "torch": lambda i: torch.tanh(i["x"])},
        cost=row_cost(2), test_file="tests/kernels/test_activation.py",
        label=lambda s: f"tanh {s['M']}x{s['N']}"))

    # One step: the whole-sequence kernel over T = 1 against torch's cells.
    cells = [{"B": 32, "H": h} for h in (200, 650, 1024)]
    for name, gates, fn in (("lstm_cell", 4, lstm.lstm_cell), ("gru_cell", 3, gru.gru_cell)):
        args = (lambda i: (i["x"], i["h"], i["c"])) if gates == 4 else (lambda i: (i["x"],
                                                                                   i["h"]))
        torch_args = (lambda i: (i["x"], (i["h"], i["c"]))) if gates == 4 else (
            lambda i: (i["x"], i["h"]))
        bench.register(bench.BenchOp(
            name=name, family="rnn", shapes=cells, quick_shapes=[{"B": 4, "H": 16}],
            make=_cell_inputs(gates),
            providers={"bucketmod": triton(lambda i, fn=fn, args=args: fn(
                           *args(i), i["wi"], i["bi"], i["wh"], i["bh"])),
                       f"torch (nn.{'LSTM' if gates == 4 else 'GRU'}Cell)":
                           lambda i, a=torch_args: i["cell"](*a(i))},
            cost=_cell_cost(gates), test_file=SEQUENCES[name[:-5]][3],
            label=lambda s: f"B{s['B']}-H{s['H']}"))

    for name, (gates, module, fn, test_file) in SEQUENCES.items():
        bench.register(bench.BenchOp(
            name=name, family="rnn",
            shapes=[{"T": t, "B": 32, "H": h} for t in (10, 60) for h in (200, 1024)],
            quick_shapes=[{"T": 2, "B": 4, "H": 16}], make=_seq_inputs(module),
            providers={"bucketmod": triton(_seq_bucketmod(fn, gates)),
                       f"torch (nn.{module.__name__}, cuDNN on a GPU)":
                           lambda i: i["net"](i["x"])[0]},
            cost=_seq_cost(gates), test_file=test_file,
            label=lambda s: f"T{s['T']}-B{s['B']}-H{s['H']}"))


def gate(op):
    """Run the op's tests; a failure means its numbers are not reported."""
    if not op.test_file:
        return True
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           str(ROOT / op.test_file)], cwd=ROOT,
                          capture_output=True).returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", help="comma-separated registry names (default: all)")
    parser.add_argument("--providers", help="comma-separated provider names (default: all)")
    parser.add_argument("--dtypes", help="comma-separated: fp32,fp16,bf16 (default: the op's)")
    parser.add_argument("--modes", default="fwd,fwdbwd")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        help="module or .py file whose import registers more ops (repeatable)")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (always without CUDA)")
    parser.add_argument("--no-gate", action="store_true", help="skip running the op's tests")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per row (CPU only)")
    parser.add_argument("--compile-backend", default="inductor",
                        help="torch.compile backend of the torch.compile providers")
    parser.add_argument("--match", help="only shapes with these sizes, e.g. T=60,B=32,H=200")
    parser.add_argument("--tag", help="output file stem (default kernels-<device>)")
    parser.add_argument("--list", action="store_true", help="print the registry and exit")
    args = parser.parse_args(argv)
    register_builtin()
    for spec in args.imports:
        bench.load(spec)
    ops = bench.registered()
    if args.list:
        print(json.dumps([bench.describe(op) for op in ops.values()], indent=1))
        return 0
    names = args.ops.split(",") if args.ops else list(ops)
    unknown = [n for n in names if n not in ops]
    if unknown:
        parser.error(f"--ops: expected names from {sorted(ops)}, got {unknown}")
    names_dt = {v: k for k, v in bench.DTYPE_NAMES.items()}
    dtypes = [names_dt[d] for d in args.dtypes.split(",")] if args.dtypes else None
    COMPILE_BACKEND["name"] = args.compile_backend
    cuda = torch.cuda.is_available()
    env = bench.environment(ROOT)
    tag = args.tag or "kernels-" + env["device"].split(" (")[0].replace(" ", "_")
    try:
        where = dict((k, int(v)) for k, v in (item.split("=") for item in
                                               args.match.split(","))) if args.match else None
    except ValueError:
        parser.error(f"--match: expected NAME=INT,..., got {args.match!r}")
    results, refused = [], []
    for name in names:
        op = ops[name]
        if cuda and not args.no_gate and not gate(op):
            refused.append(name)
            continue
        results += bench.bench(op, quick=args.quick or not cuda, device="cuda" if cuda else "cpu",
                               providers=args.providers.split(",") if args.providers else None,
                               dtypes=dtypes, modes=tuple(args.modes.split(",")), env=env,
                               time_fn=None if cuda else bench.timer(False, args.repeats),
                               where=where)
        # Rewritten after every op: a run cut short by a time limit keeps what it measured,
        # and the results are on disk before anything optional (the plots) is tried.
        json_path, csv_path = bench.write(results, env, args.out, tag, refused)
    json_path, csv_path = bench.write(results, env, args.out, tag, refused)
    plots = bench.plot(results, args.out, env)
    if plots is None:
        print("bench_kernels: matplotlib is not installed, so no plots "
              "(pip install 'bucketmod[bench]'); results are in the JSON/CSV", file=sys.stderr)
    print(json.dumps({"json": json_path, "csv": csv_path, "png": plots or [],
                      "refused": refused, "rows": len(results)}))
    return 0 if not refused else 1


if __name__ == "__main__":
    sys.exit(main())
