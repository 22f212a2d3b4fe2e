#!/usr/bin/env bash
# check.sh: the one prepared script for a GPU machine (see dev/gpu/README.md).
# GPU suite, NCCL, the kernel workbench, the loss-layer and training benchmarks,
# then a short table printed last. Output also goes to $OUT/check.log (the device
# tool brings $OUT back): save it as dev/gpu/results/<date>-<card>.txt.
#
# Prepare here with `bash dev/gpu/pack.sh` (builds, packs the programs and the
# libraries the image lacks into .gpu_bundle/), then run from the repository root
# on the GPU machine, carrying .gpu_bundle:   bash dev/gpu/check.sh
# Without a bundle it uses build/ (a build made on that machine).
set -uo pipefail
OUT=${OUT:-/tmp/align_gpu_out}
mkdir -p "$OUT"
LOG="$OUT/check.log"
: >"$LOG"
BIN=build
if [ -f .gpu_bundle/bundle.tar.xz ]; then
  mkdir -p /tmp/align_bundle && tar -xJf .gpu_bundle/bundle.tar.xz -C /tmp/align_bundle
  BIN=/tmp/align_bundle/bundle/bin
  echo "bundle of commit $(cat /tmp/align_bundle/bundle/commit)" | tee -a "$LOG"
  export LD_LIBRARY_PATH="/tmp/align_bundle/bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# CUDA's libraries: the toolkit's, then those of the Python wheels (NCCL may be there only).
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"
done
wheels=$(python3 -c "import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))" 2>/dev/null)/nvidia
for d in "$wheels"/*/lib "$wheels"/cu13/lib; do [ -d "$d" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; done
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
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1; } | tee -a "$LOG"
missing=$(ldd "$BIN"/* 2>/dev/null | grep "not found" | sort -u)
# The workbench with cuDNN's SDPA rows where it was built and the image has cuDNN; else the plain one.
WORKBENCH=$BIN/bench_cuda_kernels
if [ -x "$BIN/bench_cuda_kernels_cudnn" ] && ! ldd "$BIN/bench_cuda_kernels_cudnn" 2>/dev/null | grep -q "not found"; then
  WORKBENCH=$BIN/bench_cuda_kernels_cudnn
fi
[ -n "$missing" ] && echo "missing libraries: $missing" | tee -a "$LOG"
step "gpu_info" "$BIN/gpu_info"
# The GPU suite one group per process: a sticky CUDA error (an illegal address) poisons its
# context, and would otherwise fail every test after it and hide which group went wrong.
step "gpu kernels" "$BIN/align_gpu_tests" --gtest_filter='CudaKernels.*'
step "gpu fused loss layer" "$BIN/align_gpu_tests" --gtest_filter='CudaChunkedLogprob.*:ChunkedLogprobChunks.*'
step "gpu backend vs cpu" "$BIN/align_gpu_tests" --gtest_filter='TinyModels/CudaBackendTest.*'
step "gpu flash attention" "$BIN/align_gpu_tests" --gtest_filter='Mma.*:FlashAttention.*:FlashHeadDims/CudaBackendTest.*'
step "gpu training" "$BIN/align_gpu_tests" --gtest_filter='CudaTraining.*'
step "nccl (1 rank)" "$BIN/nccl_check"
step "kernel workbench" "$WORKBENCH"
# The fused loss layer against the unfused path and PyTorch (torch is on the GPU machine);
# without torch, align.cu's own rows only.
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  step "loss layer vs PyTorch" python3 dev/bench/loss_layer_vs_torch.py --bench "$BIN/bench_loss_layer"
else
  step "loss layer (no torch)" "$BIN/bench_loss_layer"
fi
# The training benchmark: GPT-2 124M shapes, T = 1024, 8 pairs, DPO with stored reference.
step "train step gpt2-124M bf16" "$BIN/bench_train_step" --device cuda --dtype bf16
step "train step gpt2-124M fp32" "$BIN/bench_train_step" --device cuda --dtype fp32
# The batch layouts: padded, packed, shared on three length distributions, GPT-2 124M widths.
step "batch layouts bf16" "$BIN/bench_layouts" --device cuda --dtype bf16 --layers 12 --heads 12 --embd 768 \
  --vocab 50257 --pairs 8 --batches 5
# Out-of-bounds accesses and races on small shapes (compute-sanitizer runs where the machine allows
# it; bounded so that they cannot take the whole run).
if command -v compute-sanitizer >/dev/null; then
  step "memcheck (small)" timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 "$BIN/align_gpu_tests" \
    --gtest_filter='CudaKernels.*:FlashAttention.PackedAndSharedPromptRows:TinyModels/CudaBackendTest.*/gpt2_tied:TinyModels/CudaBackendTest.*/llama_gqa_untied'
  step "racecheck (small)" timeout 45 compute-sanitizer --tool racecheck --error-exitcode 1 "$BIN/align_gpu_tests" \
    --gtest_filter='CudaKernels.LayerNormAndRmsNorm:CudaKernels.RopeAndAttention:CudaKernels.AdamWAndGradNorm:FlashAttention.PackedAndSharedPromptRows'
fi
echo
echo "benchmarks:"
grep -E "^(fused|unfused|cuBLASLt|PyTorch)|^GPT-2 shapes" "$LOG" | sed 's/^/  /'
echo
echo "| check                        | rc   | time     |"
echo "|------------------------------|------|----------|"
for r in "${rows[@]}"; do echo "$r"; done
