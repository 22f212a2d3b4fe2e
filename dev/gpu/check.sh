#!/usr/bin/env bash
# check.sh: the one prepared script for a lent GPU machine (see dev/gpu/README.md).
# Build check, GPU checks, then a short table printed last. Output also goes to
# $OUT/check.log (the device tool brings $OUT back) -- copy it to
# dev/gpu/results/<date>-<card>.txt afterwards.
#
# Run from the repository root with the build folder carried (built here with nvcc):
#   bash dev/gpu/check.sh
# The GPU machine reaches no network: shared libraries the build needs and the
# machine lacks travel in .gpu_libs/ (dev/gpu/README.md says how to collect them).
set -uo pipefail
OUT=${OUT:-/tmp/align_gpu_out}
mkdir -p "$OUT"
LOG="$OUT/check.log"
[ -d .gpu_libs ] && export LD_LIBRARY_PATH="$PWD/.gpu_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
declare -a rows
step() {  # step NAME COMMAND...: runs, logs, records pass/fail and seconds
  local name=$1; shift
  local t0=$(date +%s.%N)
  echo "=== $name: $*" | tee -a "$LOG"
  "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  local dt=$(echo "$(date +%s.%N) - $t0" | bc)
  rows+=("$(printf '| %-28s | %-4s | %6.1f s |' "$name" "$([ "$rc" -eq 0 ] && echo ok || echo FAIL)" "$dt")")
}
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1; } | tee "$LOG"
step "gpu_info" build/gpu_info
step "gpu kernel suite" build/align_gpu_tests
step "nccl (1 rank)" build/nccl_check
step "kernel workbench" build/bench_cuda_kernels
# The fused loss layer against the unfused path and PyTorch (torch is on the lent machine);
# without torch, align.cu's own rows only.
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  step "loss layer vs PyTorch" python3 dev/bench/loss_layer_vs_torch.py
else
  step "loss layer (no torch)" build/bench_loss_layer
fi
# The training benchmark of issue 6: GPT-2 124M shapes, T = 1024, 8 pairs, DPO with stored reference.
step "train step gpt2-124M bf16" build/bench_train_step --device cuda --dtype bf16
step "train step gpt2-124M fp32" build/bench_train_step --device cuda --dtype fp32
step "cpu suite (sanity)" ctest --test-dir build -j 16 --output-on-failure -E "dist_|demo_check|CudaKernels"
echo
echo "benchmarks:"
grep -E "^(fused|unfused|cuBLASLt|PyTorch)|^GPT-2 shapes" "$LOG" | sed 's/^/  /'
echo
echo "| check                        | rc   | time     |"
echo "|------------------------------|------|----------|"
for r in "${rows[@]}"; do echo "$r"; done
