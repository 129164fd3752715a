#!/usr/bin/env bash
# survival_cases.sh CASE TRANSPORT — a job outlives a worker's death (ferry-run --keep-going) and
# the death is detected; checks with ferry_survival_probe (see survival_probe.cc).
#   kill         4 ranks, rank 2 SIGKILLs itself: detected within 5 s (loose; the benchmark has the
#                tight number), the driver finishes, ferry-run exits 0 and names rank 2 in its summary
#   stop         the same with SIGSTOP (heartbeat timeout): detected within 15 s, exit 0
#   driver-dies  the driver SIGKILLs itself: the job ends promptly with 137 despite --keep-going
#   spmd         SPMD, rank 2 dies after a barrier: the other ranks' collective shutdown succeeds
#   nokeep       kill without --keep-going: ferry-run stops the job and exits 137
# TRANSPORT: ucx-tcp | ucx-shm | tcp. Needs FERRY_RUN and SURVIVAL_PROBE. Exit 0 pass, 1 fail.
set -uo pipefail
case_name=${1:?usage: survival_cases.sh CASE TRANSPORT} tl=${2:-tcp}
: "${FERRY_RUN:?FERRY_RUN must point to ferry-run}" "${SURVIVAL_PROBE:?SURVIVAL_PROBE must point to ferry_survival_probe}"
case $tl in
  ucx-tcp) export FERRY_TRANSPORT=ucx UCX_TLS=tcp ;;
  ucx-shm) export FERRY_TRANSPORT=ucx UCX_TLS=posix,sysv,cma,self ;;
  tcp)     export FERRY_TRANSPORT=tcp ;;
  *) echo "unknown transport setting $tl" >&2; exit 2 ;;
esac
export FERRY_PROGRESS=blocking FERRY_STORE_BYTES=64M FERRY_EXECUTOR_THREADS=2 UCX_WARN_UNUSED_ENV_VARS=n
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE
out=$(mktemp); trap 'rm -f "$out"' EXIT
fail() { echo "FAIL [$case_name $tl]: $*"; cat "$out"; exit 1; }
launch() { local limit=$1; shift; t0=$(date +%s)
  "$FERRY_RUN" -n 4 --timeout "$limit" "$@" >"$out" 2>&1; rc=$?; secs=$(( $(date +%s) - t0 )); }
detected_ms() { sed -n 's/.*survival: detected rank [0-9]* dead after \([0-9]*\) ms.*/\1/p' "$out" | head -1; }

case $case_name in
  kill|stop)
    bound=5000; [[ $case_name == stop ]] && bound=15000
    launch 150 --keep-going -- "$SURVIVAL_PROBE" "$case_name" 2
    [[ $rc == 0 ]] || fail "exit code $rc (expected 0: the driver succeeded)"
    grep -q 'survival: driver ok' "$out" || fail "the driver did not finish"
    ms=$(detected_ms); [[ -n $ms ]] || fail "no detection line"
    (( ms <= bound )) || fail "the death was detected after $ms ms (bound $bound ms)"
    grep -q 'ferry-run: 1 rank(s) failed during the job (2); rank 0 (the driver) succeeded' "$out" ||
      fail "no survival summary naming rank 2" ;;
  driver-dies)
    launch 150 --keep-going -- "$SURVIVAL_PROBE" driver-dies
    [[ $rc == 137 ]] || fail "exit code $rc (expected 137: the driver was SIGKILLed)"
    grep -q 'survival: driver dies now' "$out" || fail "the driver did not get to its end"
    (( secs < 60 )) || fail "took ${secs} s to end the job" ;;
  spmd)
    launch 150 --keep-going -- "$SURVIVAL_PROBE" spmd 2
    [[ $rc == 0 ]] || fail "exit code $rc"
    [[ $(grep -c 'survival: spmd rank [013] ok' "$out") == 3 ]] || fail "expected 3 surviving ranks to finish" ;;
  nokeep)
    launch 150 -- "$SURVIVAL_PROBE" kill 2
    [[ $rc == 137 ]] || fail "exit code $rc (expected 137 without --keep-going)"
    grep -q 'killing the remaining' "$out" || fail "ferry-run did not stop the job" ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac
cat "$out"
echo "PASS: survival $case_name $tl (${secs} s)"
