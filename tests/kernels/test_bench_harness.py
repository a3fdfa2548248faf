import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the CPU mode of the harness")
def test_bench_kernels_cpu_mode_writes_json_and_plots(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_kernels.py"),
                           "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "TRITON_INTERPRET": ""})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    data = json.loads(pathlib.Path(summary["json"]).read_text())
    env = data["environment"]
    assert env["device"].startswith("cpu") and env["torch"] and env["triton"]
    rows = data["results"]
    assert {r["op"] for r in rows} == {"fc", "activation", "softmax", "softmax_output",
                                       "embedding", "linear_cross_entropy", "lstm", "gru",
                                       "vanilla_rnn"}
    assert {r["mode"] for r in rows} == {"fwd", "fwdbwd"}
    for r in rows:
        assert r["provider"] == "torch" and r["ms"] > 0 and r["ms_p20"] <= r["ms_p80"]
        assert r["git_sha"] == env["git_sha"]
    assert all(r["TFLOP/s"] > 0 for r in rows if r["op"] == "fc")
    assert all(r["GB/s"] > 0 for r in rows if r["op"] == "softmax")
    for png in summary["png"]:
        assert pathlib.Path(png).stat().st_size > 0


def test_bench_kernels_rejects_unknown_op(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_kernels.py"),
                           "--ops", "conv", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--ops" in done.stderr
