"""The kernel benchmark registry and harness behind `experiments/bench_kernels.py`.

One `BenchOp` per op: its providers (bucketmod's kernel and what people run instead), its
shapes, and its cost (FLOPs and bytes) for the throughput columns. A new kernel, a user's
included, joins with `register(BenchOp(...))` in any module that `bench_kernels.py --import`
loads (on import, or in a `register_bench()` function the loader calls); nothing else is
edited. The API is described in kernels/README.md ("Benchmarks").
"""
import csv
import dataclasses
import datetime
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Sequence

import torch

DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}

# Dense (no sparsity) peaks from the vendors' datasheets: HBM bandwidth in GB/s and TFLOP/s
# per precision ("tf32" is the tensor-core rate torch uses with allow_tf32). Matched against
# torch.cuda.get_device_name() in order, first match wins.
PEAKS = [
    ("H100 PCIe", {"GB/s": 2000.0, "fp32": 51.0, "tf32": 378.0, "fp16": 756.0, "bf16": 756.0}),
    ("H100 NVL", {"GB/s": 3900.0, "fp32": 60.0, "tf32": 418.0, "fp16": 835.0, "bf16": 835.0}),
    ("H100", {"GB/s": 3350.0, "fp32": 67.0, "tf32": 495.0, "fp16": 989.0, "bf16": 989.0}),
    ("H200 NVL", {"GB/s": 4800.0, "fp32": 60.0, "tf32": 418.0, "fp16": 835.0, "bf16": 835.0}),
    ("H200", {"GB/s": 4800.0, "fp32": 67.0, "tf32": 495.0, "fp16": 989.0, "bf16": 989.0}),
    ("A100-SXM4-80GB", {"GB/s": 2039.0, "fp32": 19.5, "tf32": 156.0, "fp16": 312.0,
                        "bf16": 312.0}),
    ("A100 80GB PCIe", {"GB/s": 1935.0, "fp32": 19.5, "tf32": 156.0, "fp16": 312.0,
                        "bf16": 312.0}),
    ("A100", {"GB/s": 1555.0, "fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0}),
    ("L40S", {"GB/s": 864.0, "fp32": 91.6, "tf32": 183.0, "fp16": 362.0, "bf16": 362.0}),
]


def peak(device_name):
    """`(matched name, peaks)` for a device name, or `(None, None)` (a CPU, an unlisted GPU)."""
    for name, peaks in PEAKS:
        if name in device_name:
            return name, peaks
    return None, None


@dataclasses.dataclass
class BenchOp:
    """One benchmarked op.

    Args:
        name: registry name, used by `--ops`.
        family: ops of one family share a plot (e.g. 'gemm', 'softmax', 'rnn').
        shapes: the sizes timed on a GPU, each a dict of named sizes.
        quick_shapes: tiny sizes for the CPU/interpreter run (the harness's own test).
        make: `(shape, dtype, device) -> inputs`, a dict of tensors (and anything else).
        providers: `{name: fn(inputs) -> tensor or tuple}`; 'bucketmod' is the kernel under
            test, the others what people run instead (`torch`, `torch.compile`, cuDNN...).
        cost: `(shape, dtype, mode) -> (flops, bytes)` for mode 'fwd' or 'fwdbwd'; with flops
            the row reports TFLOP/s (and % of the dtype's peak), else GB/s (% of bandwidth).
        dtypes: dtypes timed on a GPU (the quick run takes the first).
        backward: also time forward + backward ('fwdbwd'); outputs that need no grad are
            skipped, the others get a gradient of ones.
        test_file: the op's tests; on a GPU a red test refuses the op's numbers.
        label: shape -> the short text on the plot's axis.
    """
    name: str
    family: str
    shapes: Sequence[dict]
    quick_shapes: Sequence[dict]
    make: Callable[[dict, torch.dtype, str], dict]
    providers: dict
    cost: Callable[[dict, torch.dtype, str], tuple]
    dtypes: tuple = (torch.float32, torch.float16, torch.bfloat16)
    backward: bool = True
    test_file: Optional[str] = None
    label: Callable[[dict], str] = lambda shape: "-".join(f"{k}{v}" for k, v in shape.items())


_REGISTRY: dict = {}


def register(op):
    """Add (or replace) an op; returns it, so it can decorate nothing or be kept."""
    if not isinstance(op, BenchOp):
        raise TypeError(f"op: expected a BenchOp, got {type(op).__name__}")
    if not op.providers:
        raise ValueError(f"{op.name}: providers is empty")
    _REGISTRY[op.name] = op
    return op


def registered():
    """`{name: BenchOp}` in registration order."""
    return dict(_REGISTRY)


def load(spec):
    """Import a module by name, or a .py file by path, whose import registers ops; then call
    its `register_bench()` if it has one (a file that is also a script registers nothing on
    import)."""
    if spec.endswith(".py") or os.sep in spec:
        name = "bench_user_" + os.path.splitext(os.path.basename(spec))[0]
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"--import: no such file {spec!r}")
        loader = importlib.util.spec_from_file_location(name, spec)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
    else:
        module = importlib.import_module(spec)
    if callable(getattr(module, "register_bench", None)):
        module.register_bench()
    return module


def environment(root=None):
    """Where and with what the numbers were taken: device, versions, git sha, command."""
    import triton
    cuda = torch.cuda.is_available()
    sha = None
    if root is not None:
        try:
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                 text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    props = torch.cuda.get_device_properties(0) if cuda else None
    device = props.name if cuda else f"cpu ({platform.processor() or platform.machine()})"
    return {"device": device, "peak_table_entry": peak(device)[0],
            "sm_count": props.multi_processor_count if cuda else None,
            "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "git_sha": sha,
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def timer(cuda, repeats=5):
    """`fn -> (median, p20, p80)` in ms: Triton's do_bench on a GPU, a wall clock over
    `repeats` calls after one warm-up on the CPU."""
    if cuda:
        from triton.testing import do_bench
        return lambda fn: tuple(do_bench(fn, quantiles=[0.5, 0.2, 0.8]))

    def cpu(fn):
        fn()
        samples = []
        for _ in range(max(repeats, 2)):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1e3)
        q = statistics.quantiles(samples, n=5, method="inclusive")
        return statistics.median(samples), q[0], q[3]
    return cpu


def _outputs(out):
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in out if isinstance(o, torch.Tensor) and o.requires_grad]


def _fwdbwd(fn, inputs):
    leaves = [t for t in inputs.values() if isinstance(t, torch.Tensor) and t.requires_grad]

    def run():
        for t in leaves:
            t.grad = None
        outs = _outputs(fn(inputs))
        torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])
    return run


def _dot_kind(dtype):
    if dtype == torch.float32:
        return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "fp32"
    return DTYPE_NAMES[dtype]


def bench(op, *, quick, device, providers=None, dtypes=None, modes=("fwd", "fwdbwd"),
          env=None, time_fn=None, where=None):
    """Time every provider of `op` at its shapes (those whose sizes include `where`'s items);
    one dict per (shape, dtype, provider, mode)."""
    env = env or {}
    cuda = device == "cuda"
    time_fn = time_fn or timer(cuda)
    _, peaks = peak(env.get("device", ""))
    rows = []
    for shape in op.quick_shapes if quick else op.shapes:
        if where and any(shape.get(k) != v for k, v in where.items()):
            continue
        for dtype in dtypes or (op.dtypes[:1] if quick else op.dtypes):
            for provider, fn in op.providers.items():
                if providers and provider not in providers:
                    continue
                for mode in modes:
                    if mode == "fwdbwd" and not op.backward:
                        continue
                    torch.manual_seed(0)
                    inputs = op.make(shape, dtype, device)
                    run = ((lambda fn=fn, inputs=inputs: fn(inputs)) if mode == "fwd" else
                           _fwdbwd(fn, inputs))
                    if cuda:
                        torch.cuda.reset_peak_memory_stats()
                    ms, lo, hi = time_fn(run)
                    flops, size = op.cost(shape, dtype, mode)
                    row = {"op": op.name, "family": op.family, "shape": op.label(shape),
                           "dtype": DTYPE_NAMES.get(dtype, str(dtype)), "provider": provider,
                           "mode": mode, "ms": ms, "ms_p20": lo, "ms_p80": hi,
                           "TFLOP/s": flops / ms / 1e9 if flops else None,
                           "GB/s": size / ms / 1e6 if size and not flops else None,
                           "peak_mem_bytes": torch.cuda.max_memory_allocated() if cuda else None}
                    ref = peaks and (peaks[_dot_kind(dtype)] if flops else peaks["GB/s"])
                    got = row["TFLOP/s"] or row["GB/s"]
                    row["pct_of_peak"] = 100 * got / ref if ref and got else None
                    rows.append({**row, **{k: env.get(k) for k in
                                           ("device", "torch", "triton", "git_sha")}})
    for row in rows:
        if row["provider"] != "bucketmod":
            mine = [r for r in rows if r["provider"] == "bucketmod" and
                    all(r[k] == row[k] for k in ("op", "shape", "dtype", "mode"))]
            row["bucketmod_speedup"] = row["ms"] / mine[0]["ms"] if mine else None
    return rows


def write(rows, env, out, tag, refused=()):
    """`<out>/<tag>.json` (environment + rows) and `<out>/<tag>.csv` (one row per timing,
    headed by the environment as comment lines)."""
    os.makedirs(out, exist_ok=True)
    json_path, csv_path = os.path.join(out, f"{tag}.json"), os.path.join(out, f"{tag}.csv")
    with open(json_path, "w") as f:
        json.dump({"environment": env, "refused_red_gate": list(refused), "results": rows}, f,
                  indent=1)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(csv_path, "w", newline="") as f:
        for key, value in env.items():
            f.write(f"# {key}: {value}\n")
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def plot(rows, out, env):
    """One PNG per op family: median time per shape, a line per op/provider/dtype/mode.
    Returns the paths, or None when matplotlib is missing (`pip install '.[bench]'`)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    paths = []
    for family in dict.fromkeys(r["family"] for r in rows):
        sel = [r for r in rows if r["family"] == family]
        fig, ax = plt.subplots(figsize=(9, 4.5))
        lines = dict.fromkeys((r["op"], r["provider"], r["dtype"], r["mode"]) for r in sel)
        for line in lines:
            pts = [r for r in sel if (r["op"], r["provider"], r["dtype"], r["mode"]) == line]
            ax.plot([f"{r['op']}\n{r['shape']}" if len({p['op'] for p in sel}) > 1 else
                     r["shape"] for r in pts], [r["ms"] for r in pts], marker="o",
                    linestyle="-" if line[1] == "bucketmod" else "--", label="/".join(line))
        ax.set_yscale("log")
        ax.set_ylabel("ms (median)")
        ax.set_title(f"{family} on {env.get('device')} (git {str(env.get('git_sha'))[:8]})",
                     fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        path = os.path.join(out, f"{family}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def describe(op: BenchOp) -> dict[str, Any]:
    return {"name": op.name, "family": op.family, "providers": list(op.providers),
            "shapes": [op.label(s) for s in op.shapes], "test_file": op.test_file}
