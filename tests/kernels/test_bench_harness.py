"""experiments/bench_kernels.py on the CPU: every registered op with its PyTorch baselines at
tiny sizes, bucketmod's kernels through the interpreter, and a user's ops joined by `--import`
(one registering on import, experiments/custom_triton_op.py through its `register_bench()`).
Its numbers mean nothing; the run proves the registry, the providers, the columns and files."""
import csv
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASELINES = {"fc": {"torch", "torch.compile"}, "softmax": {"torch"}, "log_softmax": {"torch"},
             "softmax_output": {"torch (F.cross_entropy)"},
             "linear_cross_entropy": {"torch (F.linear + F.cross_entropy)", "torch.compile"},
             "embedding": {"torch (F.embedding)"}, "activation": {"torch"},
             "fc_softmax_output": {"torch (F.linear + softmax)",
                                   "torch (F.linear + F.cross_entropy)"},
             "lstm_cell": {"torch (nn.LSTMCell)"}, "gru_cell": {"torch (nn.GRUCell)"},
             "lstm": {"torch (nn.LSTM, cuDNN on a GPU)"}, "gru": {"torch (nn.GRU, cuDNN on a GPU)"},
             "vanilla_rnn": {"torch (nn.RNN, cuDNN on a GPU)"},
             # experiments/custom_triton_op.py: a user's kernel, registered as an operator
             "rms_norm": {"reference (autograd)"} | ({"torch (F.rms_norm)"} if hasattr(
                 torch.nn.functional, "rms_norm") else set())}
USER_OP = '''
import torch
from bucketmod.kernels import bench

bench.register(bench.BenchOp(
    name="my_square", family="custom", shapes=[{"N": 1 << 20}], quick_shapes=[{"N": 64}],
    make=lambda s, dtype, device: {"x": torch.randn(s["N"], dtype=dtype, device=device,
                                                    requires_grad=True)},
    providers={"bucketmod": lambda i: i["x"] * i["x"], "torch": lambda i: i["x"].square()},
    cost=lambda s, dtype, mode: (0, 8 * s["N"])))
'''


def run(*args, tmp_path):
    env = {**os.environ, "TRITON_INTERPRET": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_kernels.py"),
                           "--out", str(tmp_path), *args], capture_output=True, text=True,
                          timeout=600, env=env)
    return done


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU mode of the harness")
def test_bench_kernels_cpu_all_ops_with_baselines(tmp_path):
    user = tmp_path / "my_ops.py"
    user.write_text(USER_OP)
    done = run("--quick", "--repeats", "2", "--compile-backend", "eager", "--import", str(user),
               "--import", str(ROOT / "experiments" / "custom_triton_op.py"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    data = json.loads(pathlib.Path(summary["json"]).read_text())
    env = data["environment"]
    assert env["device"].startswith("cpu") and env["torch"] and env["triton"]
    assert "bench_kernels.py" in env["command"] and env["git_sha"]
    rows = data["results"]
    providers = {}
    for r in rows:
        providers.setdefault(r["op"], set()).add(r["provider"])
    assert set(providers) == set(BASELINES) | {"my_square"}
    for op, baselines in BASELINES.items():
        assert providers[op] - baselines and next(iter(providers[op] - baselines)).startswith(
            "bucketmod"), op
        assert baselines <= providers[op], op
    assert {r["mode"] for r in rows} == {"fwd", "fwdbwd"}
    for r in rows:
        assert r["ms"] > 0 and r["ms_p20"] <= r["ms_p80"] and r["git_sha"] == env["git_sha"]
        assert (r["TFLOP/s"] or 0) > 0 or (r["GB/s"] or 0) > 0, r
        assert r["pct_of_peak"] is None  # no peak for a CPU
    assert all(r["TFLOP/s"] > 0 for r in rows if r["op"] in ("fc", "lstm_cell"))
    with open(summary["csv"]) as f:
        lines = [line for line in f if not line.startswith("#")]
    assert len(list(csv.DictReader(lines))) == len(rows)
    if importlib.util.find_spec("matplotlib") is None:  # the [bench] extra is not installed
        assert summary["png"] == [] and "matplotlib is not installed" in done.stderr
        return
    families = {pathlib.Path(p).stem for p in summary["png"]}
    assert families == {"gemm", "softmax", "elementwise", "rnn", "custom"}
    assert all(pathlib.Path(p).stat().st_size > 0 for p in summary["png"])


def test_peak_table_names_the_lent_gpus():
    from bucketmod.kernels.bench import peak
    assert peak("NVIDIA H100 80GB HBM3")[1]["GB/s"] == 3350.0
    assert peak("NVIDIA H100 PCIe")[0] == "H100 PCIe"
    assert peak("NVIDIA H200")[1]["GB/s"] == 4800.0 and peak("NVIDIA H200 NVL")[0] == "H200 NVL"
    assert peak("cpu (x86_64)") == (None, None)


def test_bench_kernels_rejects_unknown_op(tmp_path):
    done = run("--ops", "conv", tmp_path=tmp_path)
    assert done.returncode == 2 and "--ops" in done.stderr
