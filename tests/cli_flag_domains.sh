#!/usr/bin/env bash
# cli_flag_domains.sh TOOL...: every numeric flag of every tool has a declared domain, and keeps it.
# For each tool, `--help` is read; every option whose value is a number (INT, UINT, FLOAT, ...)
# must show its domain as an interval (e.g. `--lr FLOAT:(0, 1]`). Each such flag is then given 0,
# -1, nan, inf and 1e30: a value outside the interval must be refused at parse time with exit 2 and
# exactly one line naming the flag, the value and the interval; a value inside must be accepted
# (the run then stops at a deliberately unknown extra flag, so nothing is trained or written).
# Run by ctest (CMakeLists.txt).
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0 checks=0

inside() {  # inside VALUE INTERVAL -> exit 0 when VALUE lies in INTERVAL ("[a, b)", ...)
  awk -v v="$1" -v iv="$2" 'BEGIN {
    if (v == "nan" || v == "inf" || v == "-inf") exit 1
    lo_open = substr(iv, 1, 1) == "("; hi_open = substr(iv, length(iv), 1) == ")"
    s = substr(iv, 2, length(iv) - 2); split(s, b, ", ")
    x = v + 0; lo = b[1] + 0; hi = b[2] + 0
    if (lo_open ? !(x > lo) : !(x >= lo)) exit 1
    if (hi_open ? !(x < hi) : !(x <= hi)) exit 1
    exit 0 }'
}

for tool in "$@"; do
  name=$(basename "$tool")
  "$tool" --help >"$dir/help" 2>&1 || { echo "FAIL $name --help exits non-zero"; fails=$((fails + 1)); continue; }
  # "  -b,--batch-size INT:[1, 1048576]=8" -> "--batch-size INT [1, 1048576]"
  grep -oE '^ +(-[a-zA-Z],)?--[a-z0-9-]+ [A-Z]+(:[[(][^])]*[])])?' "$dir/help" |
    sed -E 's/^ +(-[a-zA-Z],)?(--[a-z0-9-]+) ([A-Z]+)(:(.*))?$/\2 \3 \5/' >"$dir/options"
  while read -r flag type interval; do
    case $type in
      INT | UINT | FLOAT | NUMBER | INT64 | UINT64 | DOUBLE) ;;
      *) continue ;;
    esac
    if [ -z "$interval" ]; then
      echo "FAIL $name $flag ($type): no declared domain in --help"
      fails=$((fails + 1))
      continue
    fi
    for v in 0 -1 nan inf 1e30; do
      checks=$((checks + 1))
      "$tool" "$flag" "$v" --zz-not-a-flag </dev/null >"$dir/out" 2>"$dir/err"
      rc=$?
      lines=$(wc -l <"$dir/err")
      if [ $rc -ge 128 ] || [ $rc -eq 1 ]; then
        echo "FAIL $name $flag $v: exit $rc (a crash or an internal error): $(head -c 300 "$dir/err")"
        fails=$((fails + 1))
      elif inside "$v" "$interval"; then
        if grep -qF -- "$flag: $v is not" "$dir/err"; then
          echo "FAIL $name $flag $v: refused although inside $interval: $(cat "$dir/err")"
          fails=$((fails + 1))
        fi
      elif [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$flag: $v is not in $interval" "$dir/err"; then
        echo "FAIL $name $flag $v: outside $interval but exit $rc, $lines lines: $(head -c 300 "$dir/err")"
        fails=$((fails + 1))
      fi
    done
  done <"$dir/options"
done
echo "cli_flag_domains: $checks values checked, $fails failures"
[ $fails -eq 0 ] && [ $checks -gt 0 ]
