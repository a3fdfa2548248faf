#!/usr/bin/env bash
# The one script for a session that holds a GPU (10 minutes; $OUT keeps at most 8 files):
#   1. the AOT compile check for this GPU's architecture, so a compile failure shows in
#      seconds (it also fills Triton's cache with the kernels the next steps launch);
#   2. every kernel on CUDA against its reference, forward and backward, fp32/fp16/bf16
#      (tests/kernels, with the @pytest.mark.gpu large shapes);
#   3. the kernel benchmarks against what people use (bench_kernels.py: cuBLAS, torch.compile,
#      F.cross_entropy, nn.LSTMCell/GRUCell, cuDNN's nn.LSTM), results rewritten per op;
#   4. the bucketing LM end to end: bucketmod (Triton kernels) against plain PyTorch/cuDNN.
# Files: summary.txt (every step's verdict and tail), aot.json, pytest.txt, kernels-<gpu>.json,
# kernels-<gpu>.csv, lm_gpu.json, plots.tar.gz.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-experiments/results/gpu}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the device machine has no install step
unset TRITON_INTERPRET
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started )) s"; }

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv >> "$SUMMARY" 2>&1
python -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)" >> "$SUMMARY" 2>&1
git rev-parse HEAD >> "$SUMMARY" 2>&1
ARCH=$(python -c "import torch; m, n = torch.cuda.get_device_capability(); print(10 * m + n)")

timeout "${AOT_TIMEOUT:-150}" python -m bucketmod.kernels._aot --arch "$ARCH" \
    --out "$OUT/aot.json" > "$OUT/aot.txt" 2>&1
say "== 1. AOT sm_$ARCH: exit $? after $(elapsed)"
tail -5 "$OUT/aot.txt" >> "$SUMMARY"
rm -f "$OUT/aot.txt"

timeout "${TEST_TIMEOUT:-240}" python -m pytest -q -rfEs -p no:cacheprovider tests/kernels \
    --deselect tests/kernels/test_aot.py > "$OUT/pytest.txt" 2>&1
tests=$?
say "== 2. kernel tests on CUDA: exit $tests after $(elapsed)"
tail -3 "$OUT/pytest.txt" >> "$SUMMARY"

# Step 2 just ran every op's tests; only after a red run does the benchmark gate each op again.
gate=$([ "$tests" = 0 ] && echo --no-gate)
timeout "${BENCH_TIMEOUT:-210}" python experiments/bench_kernels.py --out "$OUT" $gate \
    --ops "${BENCH_OPS:-fc,linear_cross_entropy,softmax_output,lstm_cell,lstm_seq,softmax,log_softmax,embedding,gru_cell,activation}" \
    > "$OUT/bench.txt" 2>&1
say "== 3. kernel benchmarks: exit $? after $(elapsed)"
tail -3 "$OUT/bench.txt" >> "$SUMMARY"
rm -f "$OUT/bench.txt"

# bench_lstm_bucketing.py (with torch_lstm_lm.py, plain nn.LSTM on cuDNN) runs both on the
# same batches; without it, the script itself with every op on its torch reference.
if [ -f experiments/bench_lstm_bucketing.py ]; then
  timeout "${LM_TIMEOUT:-150}" python experiments/bench_lstm_bucketing.py --gpus 0 \
      --sizes example --runs bucketmod torch --batches 150 --warmup 10 --repeats 1 \
      --out-dir "$OUT" --name lm_gpu > "$OUT/lm.txt" 2>&1
  say "== 4. bucketing LM, bucketmod vs plain PyTorch/cuDNN: exit $? after $(elapsed)"
else
  for backend in auto torch; do
    BUCKETMOD_BACKEND=$backend timeout "${LM_TIMEOUT:-75}" python experiments/lstm_bucketing.py \
        --gpus 0 --num-epochs 1 --max-batches 150 --json "$OUT/lm_gpu_$backend.json" \
        >> "$OUT/lm.txt" 2>&1
    say "== 4. bucketing LM, BUCKETMOD_BACKEND=$backend: exit $? after $(elapsed)"
  done
  python - "$OUT" <<'PY' >> "$SUMMARY" 2>&1
import json, os, sys
out = sys.argv[1]
runs = {b: json.load(open(os.path.join(out, f"lm_gpu_{b}.json"))) for b in ("auto", "torch")
        if os.path.exists(os.path.join(out, f"lm_gpu_{b}.json"))}
json.dump(runs, open(os.path.join(out, "lm_gpu.json"), "w"), indent=1)
for b, r in runs.items():
    os.remove(os.path.join(out, f"lm_gpu_{b}.json"))
    e = r["epochs"][-1]
    print(b, f"{e['samples_per_sec']:.0f} samples/s", f"ppl {e.get('valid_perplexity')}")
PY
fi
tail -8 "$OUT/lm.txt" >> "$SUMMARY"
rm -f "$OUT/lm.txt"

# The device tool returns at most 8 files: the plots travel as one archive.
(cd "$OUT" && ls ./*.png >/dev/null 2>&1 && tar czf plots.tar.gz ./*.png && rm -f ./*.png)
say "== done after $(elapsed): $(ls "$OUT" | tr '\n' ' ')"
