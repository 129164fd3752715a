#!/usr/bin/env bash
# driver_cases.sh CASE TRANSPORT — end-to-end checks of driver mode and safe shutdown with
# ferry_driver_probe under ferry-run (see driver_probe.cc for what each mode asserts).
#   idle     ferry::run, the driver sleeps 8 s (> FERRY_BOOTSTRAP_TIMEOUT_MS=3000) with idle workers
#   idle90   the same with a 90 s driver
#   throw    the driver throws: every rank exits non-zero, workers report the driver's message, quickly
#   early    SPMD: ranks 1.. shut down at once; rank 0's later tasks on them still work
#   barrier  SPMD: barriers 6 s apart with FERRY_BOOTSTRAP_TIMEOUT_MS=2000
#   fib2, fib4  nested fib(25) with blocking gets inside tasks on 2 / 4 ranks
#   cofib2, cofib4  the same as coroutine tasks
#   async    typed futures (then, when_all, when_any, errors) from the driver and inside tasks
#   startup256       ferry-run -n 256 of init + shutdown (TCP backend, ferry-run's default malloc
#                    settings), every rank ok and no rank declared failed
#   startup_signal   SIGTERM to ferry-run while it starts 400 ranks: prompt non-zero exit
# TRANSPORT: ucx-tcp | ucx-shm | tcp. Needs FERRY_RUN and DRIVER_PROBE. Exit 0 pass, 1 fail.
set -uo pipefail
case_name=${1:?usage: driver_cases.sh CASE TRANSPORT} tl=${2:-tcp}
: "${FERRY_RUN:?FERRY_RUN must point to ferry-run}" "${DRIVER_PROBE:?DRIVER_PROBE must point to ferry_driver_probe}"
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=adaptive FERRY_STORE_BYTES=64M FERRY_BOOTSTRAP_TIMEOUT_MS=3000 UCX_WARN_UNUSED_ENV_VARS=n
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE
out=$(mktemp); trap 'rm -f "$out"' EXIT
fail() { echo "FAIL [$case_name $tl]: $*"; cat "$out"; exit 1; }
launch() { local n=$1 limit=$2; shift 2; t0=$(date +%s)
  "$FERRY_RUN" -n "$n" --timeout "$limit" -- "$DRIVER_PROBE" "$@" >"$out" 2>&1; rc=$?; secs=$(( $(date +%s) - t0 )); }

case $case_name in
  idle|idle90)
    secs_asked=8; [[ $case_name == idle90 ]] && secs_asked=90
    launch 3 $((secs_asked + 60)) idle $secs_asked
    [[ $rc == 0 ]] || fail "exit code $rc"
    grep -q 'driver idle ok' "$out" || fail "the driver did not finish" ;;
  throw)
    launch 3 60 throw
    [[ $rc != 0 ]] || fail "the job exited 0 although the driver threw"
    [[ $rc != 124 ]] || fail "the job hung until ferry-run's timeout"
    grep -q 'the driver (rank 0) failed: deliberate driver failure 4711' "$out" || fail "the driver's error was not printed"
    (( secs < 40 )) || fail "took ${secs} s to end the job" ;;
  early)
    launch 3 90 early
    [[ $rc == 0 ]] || fail "exit code $rc"
    [[ $(grep -c 'driver early: rank [0-9] ok' "$out") == 3 ]] || fail "expected 3 ok lines" ;;
  barrier)
    FERRY_BOOTSTRAP_TIMEOUT_MS=2000 launch 3 90 barrier 6
    [[ $rc == 0 ]] || fail "exit code $rc"
    [[ $(grep -c 'driver barrier: rank [0-9] ok' "$out") == 3 ]] || fail "expected 3 ok lines" ;;
  fib2|fib4)
    launch ${case_name#fib} 400 fib 25
    [[ $rc == 0 ]] || fail "exit code $rc"
    grep -q 'driver fib(25) = 75025 on .* ok' "$out" || fail "no result" ;;
  cofib2|cofib4)
    launch ${case_name#cofib} 400 cofib 25
    [[ $rc == 0 ]] || fail "exit code $rc"
    grep -q 'driver cofib(25) = 75025 on .* ok' "$out" || fail "no result" ;;
  async)
    launch 3 120 async
    [[ $rc == 0 ]] || fail "exit code $rc"
    grep -q 'driver async ok' "$out" || fail "no result" ;;
  startup256)
    FERRY_TRANSPORT=tcp FERRY_EXECUTOR_THREADS=1 FERRY_STORE_BYTES=8M FERRY_BOOTSTRAP_TIMEOUT_MS=120000 \
      launch 256 200 hello
    [[ $rc == 0 ]] || fail "exit code $rc"
    [[ $(grep -c 'driver hello: rank [0-9]* ok' "$out") == 256 ]] || fail "expected 256 ok lines"
    ! grep -q 'ferry-peer-failed' "$out" || fail "a rank was declared failed during start-up or shutdown" ;;
  startup_signal)
    # SIGTERM while ferry-run is still starting 400 ranks: it stops starting, stops the started
    # ranks and exits non-zero promptly.
    t0=$(date +%s)
    FERRY_TRANSPORT=tcp FERRY_EXECUTOR_THREADS=1 FERRY_STORE_BYTES=8M FERRY_BOOTSTRAP_TIMEOUT_MS=120000 \
      "$FERRY_RUN" -n 400 --timeout 100 -- "$DRIVER_PROBE" hello >"$out" 2>&1 &
    pid=$!
    sleep 0.3
    kill -TERM $pid
    wait $pid; rc=$?; secs=$(( $(date +%s) - t0 ))
    [[ $rc != 0 ]] || fail "ferry-run exited 0 after SIGTERM"
    [[ $rc != 124 ]] || fail "ferry-run ran into its timeout instead of stopping"
    (( secs < 40 )) || fail "took ${secs} s to stop"
    (( $(grep -c 'driver hello: rank' "$out") < 400 )) || fail "every rank ran to completion despite SIGTERM" ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac
cat "$out"
echo "PASS: driver $case_name $tl (${secs} s)"
