#!/usr/bin/env bash
# demo_check.sh DEMO: the embedded demo, shortened, must show what it promises:
# after DPO the true reward of sampled reviews is far above the SFT model's,
# and a larger beta stays closer to the reference (smaller KL).
set -u
demo=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$demo" --out "$dir" --sft-steps 150 --dpo-steps 60 --pairs 400 --samples 200 --betas 0.05 1.0 >"$dir/log" 2>&1 || {
  echo "FAIL demo exited non-zero"; cat "$dir/log"; exit 1; }
awk -F'\t' 'NR == 2 { base = $2 } NR > 2 { reward[NR] = $2; kl[NR] = $5 }
  END {
    ok = 1
    for (i in reward) if (reward[i] < base + 0.3) { print "FAIL reward " reward[i] " not above SFT " base " + 0.3"; ok = 0 }
    if (!(kl[4] < kl[3])) { print "FAIL KL(beta 1.0) " kl[4] " not below KL(beta 0.05) " kl[3]; ok = 0 }
    if (ok) print "demo_check: 1 passed, 0 failed"; else print "demo_check: 0 passed, 1 failed"
    exit !ok
  }' "$dir/frontier.tsv" || { cat "$dir/log"; exit 1; }
