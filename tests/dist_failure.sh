#!/usr/bin/env bash
# dist_failure.sh MPIRUN DIST_CHECK: a rank that never arrives, or that dies, ends the
# job with an error (no silent hang): non-zero exit within seconds, the surviving rank
# naming itself, the collective and the training step.
set -u
mpirun=$1
check=$2
passes=0
fails=0
for mode in --hang --die; do
  start=$(date +%s)
  out=$(OMP_NUM_THREADS=1 timeout 60 "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$check" /tmp/unused "$mode" 2>&1)
  rc=$?
  took=$(( $(date +%s) - start ))
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -lt 30 ] &&
     { [ "$mode" = --die ] || echo "$out" | grep -q "rank 0: error: all_reduce at step 7 got no answer from the other ranks within 2 s"; }; then
    passes=$((passes + 1))
  else
    echo "FAIL $mode: exit $rc after ${took}s:"; echo "$out" | tail -5
    fails=$((fails + 1))
  fi
done
echo "dist_failure: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
