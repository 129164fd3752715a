#!/usr/bin/env bash
# affinity.sh FERRY_RUN PROBE NRANKS EXPECT [distinct] — runs affinity_probe EXPECT on NRANKS ranks
# under ferry-run (which sets FERRY_LOCAL_RANK/FERRY_LOCAL_SIZE) with the caller's FERRY_BIND /
# FERRY_EXECUTOR_THREADS, and checks every rank printed "affinity EXPECT ok". With "distinct", the
# ranks' progress threads must also be on different PUs (unless the node has a single core).
# Exit 77 = skipped (the probe found too few cores). Bounded by ferry-run --timeout.
set -uo pipefail
run=$1 probe=$2 n=$3 expect=$4 distinct=${5:-}
export FERRY_TRANSPORT=${FERRY_TRANSPORT:-tcp} FERRY_PROGRESS=adaptive FERRY_BOOTSTRAP_TIMEOUT_MS=30000
out=$(timeout 90 "$run" -n "$n" --timeout 60 -- "$probe" "$expect" 2>&1); rc=$?
echo "$out"
if [[ $out == *"SKIP: "* ]]; then exit 77; fi
[[ $rc == 0 ]] || { echo "FAIL: ferry-run exited $rc"; exit 1; }
ok=$(grep -c "affinity $expect ok\$" <<<"$out" || true)
[[ $ok == "$n" ]] || { echo "FAIL: expected $n 'affinity $expect ok' lines, saw $ok"; exit 1; }
if [[ $distinct == distinct && $out != *" on 1 core(s)"* ]]; then
  pus=$(grep -o 'progress PU .*' <<<"$out" | sort -u | wc -l)
  [[ $pus == "$n" ]] || { echo "FAIL: the $n ranks' progress threads share PUs"; exit 1; }
fi
echo "PASS: $n rank(s), FERRY_BIND=${FERRY_BIND:-auto}, expect $expect"
