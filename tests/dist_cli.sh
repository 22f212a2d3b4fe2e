#!/usr/bin/env bash
# dist_cli.sh MPIRUN MAKE_MODEL PREPARE_PAIRS TRAIN_DPO DATA: train_dpo launched by mpirun on 2 ranks,
# with reference precomputation split over the ranks and ZeRO-1; a batch that does not divide
# over the ranks is refused with a clear line, and so are CPU ranks announced by torchrun-style
# variables without mpirun (each would otherwise train alone on all the data).
set -u
mpirun=$1; make_model=$2; prepare_pairs=$3; train_dpo=$4; data=$5
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
tok="$data/pairs/llama3_tok_llama3"
"$make_model" -o "$dir/m.bin" --arch llama --vocab 697 --layers 1 --heads 2 --kv-heads 1 --embd 32 --max-seq 128 >/dev/null
"$prepare_pairs" -i "$tok/input.jsonl" -o "$dir/p.bin" -t "$tok" >/dev/null 2>&1
run() { OMP_NUM_THREADS=1 "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$train_dpo" -i "$dir/p.bin" -m "$dir/m.bin" "$@"; }
fails=0
out=$(run -o "$dir/out" --max-steps 2 -b 4 --precompute-ref --zero1 2>&1)
if ! echo "$out" | grep -q "data parallel: 2 mpi ranks" || ! echo "$out" | grep -q "stored reference log-probs of 16 pairs" ||
   [ ! -f "$dir/out/checkpoint/optimizer.rank1.bin" ] || [ "$(wc -l <"$dir/out/metrics.jsonl")" -ne 2 ]; then
  echo "FAIL 2-rank run:"; echo "$out" | tail -5; fails=$((fails + 1))
fi
out=$(run -o "$dir/odd" --max-steps 1 -b 3 2>&1)
echo "$out" | grep -q -- "--batch-size 3 does not divide over 2 ranks" || { echo "FAIL odd batch:"; echo "$out" | tail -3; fails=$((fails + 1)); }
out=$(RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 "$train_dpo" -i "$dir/p.bin" -m "$dir/m.bin" -o "$dir/tr" --device cpu --max-steps 1 -b 2 2>&1)
code=$?
if [ "$code" -eq 0 ] || ! echo "$out" | grep -q "torchrun started 2 ranks, but CPU ranks need mpirun" || [ -e "$dir/tr" ]; then
  echo "FAIL torchrun variables on CPU ranks (exit $code):"; echo "$out" | tail -3; fails=$((fails + 1))
fi
echo "dist_cli: $((3 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
