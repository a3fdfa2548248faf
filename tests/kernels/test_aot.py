"""Every Triton kernel compiles for real GPUs without one: sm_90a and sm_80, at every config its
launcher or autotuner can choose at the project's shapes (kernels/_aot.py), with no register
spill and within the target's shared memory. The interpreter accepts programs a real compile
refuses or that spill, so this is the check the CPU suite cannot otherwise make.

One subprocess (the kernels must be real `@triton.jit` functions, not the interpreter's) writes
the report every test reads. Triton's cache keeps the compiles, so a rerun takes seconds.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import triton
import triton.language as tl
from bucketmod.kernels import _aot

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _supported():
    """The check binds launches with Triton's JIT internals as they are in 3.3-3.6 (and its
    forked compile workers hang in 3.9, whose parent holds locks across the fork)."""
    from triton.runtime.jit import JITFunction
    version = tuple(int(x) for x in triton.__version__.split(".")[:2])
    return hasattr(JITFunction, "_pack_args") and (3, 3) <= version <= (3, 6)


pytestmark = pytest.mark.skipif(not _supported(), reason=f"the AOT check runs on Triton "
                                f"3.3-3.6; this is {triton.__version__}")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("aot") / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    # A user's kernel file joins as `--module` (experiments/custom_triton_op.py, README).
    done = subprocess.run([sys.executable, "-m", "bucketmod.kernels._aot", "--out", str(out),
                           "--module", str(ROOT / "experiments" / "custom_triton_op.py")],
                          capture_output=True, text=True, env=env, timeout=3000)
    if not out.exists():
        pytest.fail(f"the AOT check wrote no report:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return json.loads(out.read_text()) | {"stdout": done.stdout, "returncode": done.returncode}


def test_every_kernel_has_a_compile_spec(report):
    assert report["uncovered"] == [], report["stdout"][-3000:]


def test_every_config_compiles_without_spills_for_sm90a_and_sm80(report):
    assert report["archs"] == [90, 80]
    assert report["failures"] == [], report["stdout"][-5000:]
    assert report["returncode"] == 0
    kernels = {(r["kernel"].rsplit(".", 1)[1], r["arch"]) for r in report["rows"]}
    for name in ("gemm_kernel", "gemm_split_sum_kernel", "softmax_fwd_online_kernel",
                 "embedding_bwd_kernel", "softmax_output_fwd_kernel", "lstm_seq_fwd_kernel",
                 "lstm_seq_bwd_kernel", "gru_seq_fwd_kernel", "gru_seq_bwd_kernel",
                 "vanilla_rnn_seq_fwd_kernel", "vanilla_rnn_seq_bwd_kernel",
                 "softmax_rows_kernel", "fc_softmax_output_dx_kernel",
                 "rms_norm_fwd_kernel", "rms_norm_bwd_kernel"):
        assert {(name, 90), (name, 80)} <= kernels


def test_recurrent_kernels_compile_both_barriers_and_weight_placements(report):
    # The grid barrier (one launch per sequence) and the per-step launches, the weight slice on
    # chip (H = 200) and streamed (H = 1024), per-sample lengths: every path a GPU can take.
    seen = {(r["kernel"].rsplit(".", 1)[1], r["constexprs"]["GRID_SYNC"],
             r["constexprs"]["W_ON_CHIP"], r["constexprs"]["IS_VARLEN"])
            for r in report["rows"] if "GRID_SYNC" in r["constexprs"]}
    for family in ("lstm", "gru", "vanilla_rnn"):
        for direction in ("fwd", "bwd"):
            name = f"{family}_seq_{direction}_kernel"
            assert {(name, sync, chip, "False") for sync in ("True", "False")
                    for chip in ("True", "False")} <= seen, name
            assert (name, "True", "True", "True") in seen, name


def _gemms(report, **constexprs):
    return [r for r in report["rows"] if r["kernel"].endswith(".gemm_kernel") and
            all(r["constexprs"].get(k) == repr(v) for k, v in constexprs.items())]


def test_16_bit_gemms_at_width_200_pipeline(report):
    # Hidden 200 is no multiple of 16: without the ALIGN hint every load stayed scalar, with
    # no async copy and one stage. Every pipelined 16-bit config now copies asynchronously.
    half = [r for r in _gemms(report, ALIGN=8) if r["signature"]["a"] in ("*fp16", "*bf16")
            and r["num_stages"] > 1]
    assert len(half) > 50 and all(r["cp_async"] > 0 for r in half)
    assert any(r["wgmma"] for r in half if r["arch"] == 90)


def _tiles(report, arch, dtype, precision):
    return {tuple(r["constexprs"][k] for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K")) +
            (r["num_warps"], r["num_stages"])
            for r in _gemms(report, INPUT_PRECISION=precision)
            if r["arch"] == arch and r["signature"]["a"] == dtype}


def test_tuning_configs_are_chosen_per_target_and_dtype(report):
    fma, tf32, half = (_tiles(report, 90, "*fp32", "ieee"), _tiles(report, 90, "*fp32", "tf32"),
                       _tiles(report, 90, "*fp16", "ieee"))
    assert fma and tf32 and half and fma != tf32 and tf32 != half
    assert half != _tiles(report, 80, "*fp16", "ieee")
    assert {t[0] for t in fma} >= {"32", "64"}  # small-M tiles for the recurrent GEMMs


@triton.jit
def _helper(x):
    return x * 2


@triton.jit
def _launched_kernel(x, y, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    tl.store(y + o, _helper(tl.load(x + o)))


@triton.jit
def _forgotten_kernel(x, BLOCK: tl.constexpr):
    tl.store(x + tl.arange(0, BLOCK), 0.0)


def test_a_kernel_without_a_compile_spec_fails_the_check():
    module = sys.modules[__name__]
    assert _aot.uncovered([module], [_aot.base_jit(_launched_kernel)]) == [
        f"{__name__}._forgotten_kernel"]
    assert _aot.uncovered([module], []) == [f"{__name__}.{n}" for n in
                                            ("_forgotten_kernel", "_helper", "_launched_kernel")]
