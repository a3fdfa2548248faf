#!/usr/bin/env bash
# One script for a session that holds a GPU: every kernel's correctness on CUDA (the CPU suite
# plus the @pytest.mark.gpu large shapes), then the benchmarks. Everything lands in $OUT.
set -u
OUT="${OUT:-experiments/results/gpu}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the device machine has no install step
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1
python -m pytest -q tests/kernels -p no:cacheprovider --junitxml="$OUT/kernels-junit.xml" \
    > "$OUT/pytest.txt" 2>&1
echo "pytest exit $?" >> "$OUT/pytest.txt"
tail -3 "$OUT/pytest.txt"
# The benchmark re-runs each op's tests as its gate and refuses to report a red op.
timeout "${BENCH_TIMEOUT:-420}" python experiments/bench_kernels.py --out "$OUT" \
    > "$OUT/bench.txt" 2>&1
echo "bench exit $?" >> "$OUT/bench.txt"
tail -3 "$OUT/bench.txt"
