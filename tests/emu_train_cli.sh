#!/usr/bin/env bash
# emu_train_cli.sh MPIRUN MAKE_MODEL PREPARE_PAIRS TRAIN_DPO DATA: the train_dpo command line on the
# CUDA backend of the software device (TRAIN_DPO is build/emu/train_dpo): one process, then two
# ranks under mpirun exchanging over the emulated NCCL, in fp32. The per-step losses must agree
# within float rounding (1e-5 relative, the MPI equivalence tests' bound: the sum over ranks is
# ordered differently from one process's sum over rows).
set -u
mpirun=$1; make_model=$2; prepare_pairs=$3; train_dpo=$4; data=$5
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
tok="$data/pairs/llama3_tok_llama3"
"$make_model" -o "$dir/m.bin" --arch llama --vocab 697 --layers 1 --heads 2 --kv-heads 1 --embd 32 --max-seq 128 >/dev/null
"$prepare_pairs" -i "$tok/input.jsonl" -o "$dir/p.bin" -t "$tok" >/dev/null 2>&1
args=(-i "$dir/p.bin" -m "$dir/m.bin" --device cuda --dtype fp32 --max-steps 3 -b 4 --lr 1e-3 --seed 5)
fails=0
one=$(OMP_NUM_THREADS=1 "$train_dpo" "${args[@]}" -o "$dir/one" 2>&1) || { echo "FAIL one process:"; echo "$one" | tail -5; fails=$((fails + 1)); }
two=$(OMP_NUM_THREADS=1 "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$train_dpo" "${args[@]}" -o "$dir/two" 2>&1) ||
  { echo "FAIL two ranks:"; echo "$two" | tail -5; fails=$((fails + 1)); }
echo "$two" | grep -q "data parallel: 2 nccl ranks" || { echo "FAIL: the two ranks did not run over NCCL:"; echo "$two" | head -5; fails=$((fails + 1)); }
losses() { grep -o '"loss":[^,}]*' "$1" | cut -d: -f2; }
if [ -f "$dir/one/metrics.jsonl" ] && [ -f "$dir/two/metrics.jsonl" ]; then
  if ! paste <(losses "$dir/one/metrics.jsonl") <(losses "$dir/two/metrics.jsonl") |
    awk 'BEGIN { n = 0; bad = 0 } { n++; d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2;
         printf "step %d: one process %s, two ranks %s\n", n, $1, $2; if (d > 1e-5 * s) bad = 1 }
         END { exit (n == 3 && !bad) ? 0 : 1 }'; then
    echo "FAIL: two ranks differ from one process beyond float rounding"; fails=$((fails + 1))
  fi
else
  echo "FAIL: a run wrote no metrics"; fails=$((fails + 1))
fi
echo "emu_train_cli: $((3 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
