#!/usr/bin/env bash
# init_cases.sh CASE [TRANSPORT] — end-to-end checks of ferry::init (ferry/init.h) with ferry_init_probe.
#   ranks TRANSPORT    ferry-run -n 3: rank/size/launcher, cross-rank put/get, shutdown semantics
#   mpirun TRANSPORT   mpirun -n 2 (PMIx detection): the same checks
#   single             no launcher: one rank, two sessions in a row
#   errors             bad settings make init throw ferry::Error with a clear message, quickly
# TRANSPORT: ucx-tcp | ucx-shm | tcp. Needs FERRY_RUN and INIT_PROBE. Exit 0 pass, 1 fail, 77 skip.
# Every launch is bounded by `timeout`.
set -uo pipefail
case_name=${1:?usage: init_cases.sh CASE [TRANSPORT]} tl=${2:-tcp}
: "${FERRY_RUN:?FERRY_RUN must point to ferry-run}" "${INIT_PROBE:?INIT_PROBE must point to ferry_init_probe}"
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=blocking FERRY_BOOTSTRAP_TIMEOUT_MS=20000 FERRY_STORE_BYTES=64M
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE SLURM_STEP_ID
out=$(mktemp); trap 'rm -f "$out"' EXIT

fail() { echo "FAIL [$case_name $tl]: $*"; cat "$out"; exit 1; }
# expect_ok N: the last run exited 0 and printed N "init ok" lines
expect_ok() { [[ $rc == 0 ]] || fail "exit code $rc"; [[ $(grep -c 'init ok$' "$out") == "$1" ]] || fail "expected $1 'init ok' lines"; }

case $case_name in
  ranks)
    timeout 60 "$FERRY_RUN" -n 3 -- "$INIT_PROBE" ranks >"$out" 2>&1; rc=$?
    expect_ok 3 ;;
  mpirun)
    command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
    timeout 60 mpirun --oversubscribe -n 2 -x FERRY_TRANSPORT -x UCX_TLS -x FERRY_PROGRESS -x FERRY_STORE_BYTES \
      "$INIT_PROBE" ranks >"$out" 2>&1; rc=$?
    expect_ok 2
    grep -q 'via PMIx (mpirun)' "$out" || fail "the launcher should be described as PMIx (mpirun)" ;;
  single)
    timeout 30 "$INIT_PROBE" single >"$out" 2>&1; rc=$?
    expect_ok 1 ;;
  errors)
    # error_case TEXT VAR=value... : init fails fast with TEXT in the message
    error_case() { local text=$1 t0; shift; t0=$(date +%s%3N)
      timeout 30 env "$@" "$INIT_PROBE" error "$text" >"$out" 2>&1; rc=$?
      [[ $rc == 0 ]] || fail "'$*': init did not fail with '$text'"
      (( $(date +%s%3N) - t0 < 10000 )) || fail "'$*': took over 10 s to fail"; }
    error_case "bad transport setting" FERRY_TRANSPORT=pigeon
    error_case "bad runtime setting: FERRY_GET_TIMEOUT_MS" FERRY_GET_TIMEOUT_MS=soon
    error_case "FERRY_STORE_BYTES='lots' is invalid" FERRY_STORE_BYTES=lots
    error_case "ferry::init(MPI_COMM_WORLD)" FERRY_BOOTSTRAP=mpi
    error_case "use an mpirun with PMIx support" OMPI_COMM_WORLD_SIZE=2
    error_case "FERRY_RANK" FERRY_RENDEZVOUS_DIR=/nonexistent FERRY_SIZE=2 FERRY_RANK=5
    # a rank whose peer never arrives: bounded by FERRY_BOOTSTRAP_TIMEOUT_MS, message names the launcher
    dir=$(mktemp -d); trap 'rm -f "$out"; rm -rf "$dir"' EXIT
    error_case "launcher: ferry-run" FERRY_RENDEZVOUS_DIR="$dir" FERRY_SIZE=2 FERRY_RANK=0 FERRY_BOOTSTRAP_TIMEOUT_MS=1000
    echo "init errors ok" >"$out"; rc=0 ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac
cat "$out"
echo "PASS: init $case_name $tl"
