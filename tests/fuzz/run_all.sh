#!/usr/bin/env bash
# run_all.sh SECONDS [BUILD_DIR [TARGET...]]: runs every libFuzzer target (or the TARGETs named) of BUILD_DIR (default build-fuzz,
# configured with -DALIGN_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++) for SECONDS each, from the seed
# corpora (tests/data files, the seeds fuzz_make_seeds writes, and the regression inputs kept in
# tests/fuzz/regressions/<target>/). First every regression input is replayed: each must pass.
# A crash, sanitizer report or InputError-breaking exception stops with the target's name and
# the input saved under BUILD_DIR/fuzz-findings/<target>/; exit status 1. CI runs it with a short
# SECONDS; during development run each target for 10 minutes or more.
set -u
seconds=${1:?usage: run_all.sh SECONDS [BUILD_DIR [TARGET...]]}
build=${2:-build-fuzz}
shift $(($# < 2 ? $# : 2))
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../data
targets="fuzz_model_bin fuzz_pairs_bin fuzz_sft_bin fuzz_checkpoint fuzz_safetensors fuzz_safetensors_index
fuzz_hf_config fuzz_tokenizer_json fuzz_tokenizer_config fuzz_chat_template fuzz_jsonl_rows fuzz_recipe"
[ $# -gt 0 ] && targets="$*"
# OpenMP and OpenBLAS keep thread-local allocations alive to the end; not leaks of ours.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1

seeds=$build/fuzz-seeds.$$  # per invocation, so that two can run side by side
trap 'rm -rf "$seeds"' EXIT
"$build/fuzz_make_seeds" "$seeds" || { echo "run_all: fuzz_make_seeds failed"; exit 1; }
add() {  # add TARGET FILES...: copy tests/data files into the target's seed corpus
  local t=$1; shift
  mkdir -p "$seeds/$t"
  local f
  for f in "$@"; do cp "$f" "$seeds/$t/$(echo "$f" | tr '/' '_')"; done
}
add fuzz_safetensors "$data"/hf/*/model.safetensors
add fuzz_hf_config "$data"/hf/*/config.json
add fuzz_tokenizer_json "$data"/tokenizers/*/tokenizer.json "$data"/pairs/*/tokenizer.json
add fuzz_tokenizer_config "$data"/pairs/*/tokenizer_config.json
add fuzz_jsonl_rows "$data"/pairs/*/input.jsonl

status=0
for t in $targets; do
  bin=$build/$t
  [ -x "$bin" ] || { echo "run_all: $bin is missing (build with: cmake --build $build --target fuzz_all)"; exit 1; }
  reg=$here/regressions/$t
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
    if ! "$bin" -close_fd_mask=1 -runs=1 "$reg"/* >/dev/null 2>"$build/$t.replay.log"; then
      echo "run_all: $t fails on a kept regression input:"; tail -30 "$build/$t.replay.log"; status=1; continue
    fi
  fi
  corpus=$build/fuzz-corpus/$t findings=$build/fuzz-findings/$t
  mkdir -p "$corpus" "$findings"
  dirs=("$corpus" "$seeds/$t")
  [ -d "$reg" ] && dirs+=("$reg")
  # -close_fd_mask=1: the targets' stdout (help texts of recipes) is noise; stderr keeps the report.
  if "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=262144 -close_fd_mask=1 \
       -artifact_prefix="$findings/" -print_final_stats=1 "${dirs[@]}" >"$build/$t.log" 2>&1; then
    echo "run_all: $t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$build/$t.log" | grep -o '[0-9]*$') runs, nothing found"
  else
    echo "run_all: $t: FOUND something (input in $findings/):"; grep -E "ERROR|FINDING|runtime error|SUMMARY" "$build/$t.log" | head -5
    status=1
  fi
done
exit $status
