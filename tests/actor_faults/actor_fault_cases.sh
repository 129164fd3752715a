#!/usr/bin/env bash
# actor_fault_cases.sh CASE TRANSPORT — actor restart / actor_died with a SIGKILLed host rank,
# 3 ranks under ferry-run --keep-going (see actor_fault_probe.cc).
#   restart  the in-flight call is retried on the actor restarted on rank 2; exit 0
#   died     calls in flight and later fail with actor_died naming the actor; exit 0
# TRANSPORT: ucx-tcp | ucx-shm | tcp. Needs FERRY_RUN and ACTOR_FAULT_PROBE. Exit 0 pass, 1 fail.
set -uo pipefail
case_name=${1:?usage: actor_fault_cases.sh CASE TRANSPORT} tl=${2:-tcp}
: "${FERRY_RUN:?FERRY_RUN must point to ferry-run}" "${ACTOR_FAULT_PROBE:?ACTOR_FAULT_PROBE must point to the probe}"
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=blocking FERRY_STORE_BYTES=64M FERRY_EXECUTOR_THREADS=2 UCX_WARN_UNUSED_ENV_VARS=n
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE
out=$(mktemp); trap 'rm -f "$out"' EXIT
fail() { echo "FAIL [$case_name $tl]: $*"; cat "$out"; exit 1; }
case $case_name in restart|died) ;; *) echo "unknown case $case_name" >&2; exit 2 ;; esac
t0=$(date +%s)
"$FERRY_RUN" -n 3 --keep-going --timeout 200 -- "$ACTOR_FAULT_PROBE" "$case_name" >"$out" 2>&1; rc=$?
secs=$(( $(date +%s) - t0 ))
[[ $rc == 0 ]] || fail "exit code $rc (expected 0: the driver succeeded)"
grep -q "actor-ft: $case_name ok" "$out" || fail "the driver did not finish its checks"
grep -q 'actor-ft: SIGKILL rank 1' "$out" || fail "rank 1 was not killed"
grep -q 'rank(s) failed during the job (1)' "$out" || fail "ferry-run did not report rank 1's death"
cat "$out"
echo "PASS: actor faults $case_name $tl (${secs} s)"
