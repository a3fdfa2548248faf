#!/usr/bin/env bash
# The one script for a session that holds a GPU (at most 580 s of step timeouts, under 10
# minutes; $OUT keeps at most 8 files):
#   1. the AOT compile check for this GPU's architecture, so a compile failure shows in
#      seconds (it also fills Triton's cache with the kernels the next steps launch);
#   2. every kernel on CUDA against its reference, forward and backward, fp32/fp16/bf16
#      (tests/kernels, with the @pytest.mark.gpu large shapes);
#   3. the kernel benchmarks against what people use (bench_kernels.py: cuBLAS, torch.compile,
#      F.cross_entropy, F.linear + softmax, nn.LSTMCell/GRUCell, cuDNN's nn.LSTM/GRU/RNN, and
#      the user kernel of experiments/custom_triton_op.py against F.rms_norm), results
#      rewritten per op;
#   4. the whole-sequence LSTM at the language model's size (batch 32, hidden 200, 60 steps,
#      fp32) against cuDNN's nn.LSTM, forward and forward+backward;
#   5. the bucketing LM end to end: bucketmod (Triton kernels) against plain PyTorch/cuDNN.
# Files: summary.txt (every step's verdict and tail), aot.json, pytest.txt, kernels-<gpu>.json,
# kernels-<gpu>.csv, lstm_b32_h200_t60.json, lm_bench_gpu.json, plots.tar.gz (CSV of step 4
# and the LM's log are folded into the summary).
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

timeout "${AOT_TIMEOUT:-100}" python -m bucketmod.kernels._aot --arch "$ARCH" \
    --module experiments/custom_triton_op.py --out "$OUT/aot.json" > "$OUT/aot.txt" 2>&1
say "== 1. AOT sm_$ARCH: exit $? after $(elapsed)"
tail -5 "$OUT/aot.txt" >> "$SUMMARY"
rm -f "$OUT/aot.txt"

timeout "${TEST_TIMEOUT:-150}" python -m pytest -q -rfEs -p no:cacheprovider tests/kernels \
    --deselect tests/kernels/test_aot.py > "$OUT/pytest.txt" 2>&1
tests=$?
say "== 2. kernel tests on CUDA: exit $tests after $(elapsed)"
tail -3 "$OUT/pytest.txt" >> "$SUMMARY"

# Step 2 just ran every op's tests; only after a red run does the benchmark gate each op again.
gate=$([ "$tests" = 0 ] && echo --no-gate)
timeout "${BENCH_TIMEOUT:-150}" python experiments/bench_kernels.py --out "$OUT" $gate \
    --import experiments/custom_triton_op.py \
    --ops "${BENCH_OPS:-fc,lstm,fc_softmax_output,linear_cross_entropy,softmax_output,gru,lstm_cell,gru_cell,vanilla_rnn,rms_norm,softmax,log_softmax,embedding,activation}" \
    > "$OUT/bench.txt" 2>&1
say "== 3. kernel benchmarks: exit $? after $(elapsed)"
tail -3 "$OUT/bench.txt" >> "$SUMMARY"
rm -f "$OUT/bench.txt"

timeout "${LSTM_TIMEOUT:-40}" python experiments/bench_kernels.py --out "$OUT/lstm" --no-gate \
    --ops lstm --dtypes fp32 --match T=60,B=32,H=200 --tag lstm_b32_h200_t60 > "$OUT/lstm.txt" 2>&1
say "== 4. whole-sequence LSTM B32 H200 T60 fp32 vs cuDNN nn.LSTM: exit $? after $(elapsed)"
python - "$OUT/lstm/lstm_b32_h200_t60.json" <<'PY' >> "$SUMMARY" 2>&1
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['provider']:34s} {r['mode']:7s} {r['ms']:.3f} ms  {r['TFLOP/s']:.2f} TFLOP/s"
          + (f"  bucketmod speedup {r['bucketmod_speedup']:.2f}x" if r.get("bucketmod_speedup")
             else ""))
PY
mv "$OUT/lstm/lstm_b32_h200_t60.json" "$OUT/" 2>/dev/null
rm -rf "$OUT/lstm.txt" "$OUT/lstm"

# bench_lstm_bucketing.py runs bucketmod and plain PyTorch
# (torch_lstm_lm.py: nn.LSTM on cuDNN) on the same batches; MXNet is skipped without its venv.
timeout "${LM_TIMEOUT:-140}" python experiments/bench_lstm_bucketing.py --gpus 0 --repeats 1 \
    --sizes example tiny --runs bucketmod torch --batches 150 --warmup 10 \
    --timeout 60 --out-dir "$OUT" --name lm_bench_gpu > "$OUT/lm.txt" 2>&1
say "== 5. bucketing LM, bucketmod vs plain PyTorch/cuDNN: exit $? after $(elapsed)"
tail -12 "$OUT/lm.txt" >> "$SUMMARY"
rm -f "$OUT/lm.txt"

# The device tool returns at most 8 files: the plots travel as one archive.
(cd "$OUT" && ls ./*.png >/dev/null 2>&1 && tar czf plots.tar.gz ./*.png && rm -f ./*.png)
say "== done after $(elapsed): $(ls "$OUT" | tr '\n' ' ')"
