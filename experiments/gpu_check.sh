#!/usr/bin/env bash
# One script for a session that holds a GPU: every kernel's correctness on CUDA (the CPU suite
# plus the @pytest.mark.gpu large shapes), the kernel benchmarks, then the bucketing LM on the
# GPU with and without the Triton kernels. Everything lands in $OUT (8 files at most).
set -u
OUT="${OUT:-experiments/results/gpu}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the device machine has no install step
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1
python -m pytest -q -rfEs tests/kernels -p no:cacheprovider > "$OUT/pytest.txt" 2>&1
echo "pytest exit $?" >> "$OUT/pytest.txt"
tail -3 "$OUT/pytest.txt"
# The benchmark re-runs each op's tests as its gate and refuses to report a red op.
timeout "${BENCH_TIMEOUT:-420}" python experiments/bench_kernels.py --out "$OUT" \
    > "$OUT/bench.txt" 2>&1
echo "bench exit $?" >> "$OUT/bench.txt"
tail -3 "$OUT/bench.txt"
# End to end: the bucketing LM on the GPU, Triton kernels (auto) against the torch references.
for backend in auto torch; do
  BUCKETMOD_BACKEND=$backend timeout "${LM_TIMEOUT:-240}" python experiments/lstm_bucketing.py \
      --gpus 0 --num-epochs 1 --json "$OUT/lm_gpu_$backend.json" >> "$OUT/lm_gpu.txt" 2>&1
  echo "lm ($backend) exit $?"
done
# The device tool returns at most 8 files: the plots travel as one archive.
(cd "$OUT" && ls ./*.png >/dev/null 2>&1 && tar czf plots.tar.gz ./*.png && rm -f ./*.png)
ls "$OUT"
