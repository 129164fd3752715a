#!/usr/bin/env bash
# survival_cases.sh CASE TRANSPORT — a job outlives a worker's death (ferry-run --keep-going) and
# the death is detected; checks with ferry_survival_probe (see survival_probe.cc).
#   kill         4 ranks, rank 2 SIGKILLs itself: detected within 5 s (loose; the benchmark has the
#                tight number), the driver finishes, ferry-run exits 0 and names rank 2 in its summary
#   stop         the same with SIGSTOP (heartbeat timeout): detected within 15 s (loose), exit 0 (ferry-run
#                stops the stopped rank 10 s after the driver finished)
#   driver-dies  the driver SIGKILLs itself: the job ends promptly with 137 despite --keep-going
#   spmd         SPMD, rank 2 dies after a barrier: the other ranks' collective shutdown succeeds
#   nokeep       kill without --keep-going: ferry-run stops the job and exits 137
#   mpirun       kill under mpirun --enable-recovery (Open MPI 4.1): the job survives, exit 0
#                (without --enable-recovery mpirun kills the job; with only
#                --mca orte_abort_on_non_zero_status 0 it hangs after the driver finished)
#   srun         kill under srun --mpi=pmix --kill-on-bad-exit=0 (a private one-node Slurm from
#                scripts/slurm-local-up.sh): the driver finishes; srun exits 137 (the highest task
#                status: rank 2's SIGKILL); skipped without root or Slurm
# TRANSPORT: ucx-tcp | ucx-shm | tcp. Needs FERRY_RUN and SURVIVAL_PROBE. Exit 0 pass, 1 fail.
set -uo pipefail
case_name=${1:?usage: survival_cases.sh CASE TRANSPORT} tl=${2:-tcp}
: "${FERRY_RUN:?FERRY_RUN must point to ferry-run}" "${SURVIVAL_PROBE:?SURVIVAL_PROBE must point to ferry_survival_probe}"
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=blocking FERRY_STORE_BYTES=64M FERRY_EXECUTOR_THREADS=2 UCX_WARN_UNUSED_ENV_VARS=n
# The detector with a short timeout (few ranks, few threads here); the default is longer.
export FERRY_HEARTBEAT_MS=${FERRY_HEARTBEAT_MS:-500} FERRY_PEER_TIMEOUT_MS=${FERRY_PEER_TIMEOUT_MS:-2500}
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE
out=$(mktemp); cleanup_extra=:; trap 'eval "$cleanup_extra"; rm -f "$out"' EXIT
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
  mpirun)
    command -v mpirun >/dev/null || { echo "SKIP: mpirun is not installed"; exit 77; }
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    t0=$(date +%s)
    timeout 150 mpirun --oversubscribe --enable-recovery -n 4 "$SURVIVAL_PROBE" kill 2 >"$out" 2>&1; rc=$?
    secs=$(( $(date +%s) - t0 ))
    [[ $rc == 0 ]] || fail "exit code $rc (expected 0 with --enable-recovery)"
    grep -q 'survival: driver ok' "$out" || fail "the driver did not finish"
    ms=$(detected_ms); [[ -n $ms ]] || fail "no detection line"
    (( ms <= 5000 )) || fail "the death was detected after $ms ms (bound 5000 ms)" ;;
  srun)
    recipes=$(cd "$(dirname "$0")/../../scripts" && pwd)
    [[ $(id -u) == 0 ]] || { echo "SKIP: the private Slurm needs root"; exit 77; }
    command -v slurmctld >/dev/null && command -v srun >/dev/null || { echo "SKIP: Slurm is not installed"; exit 77; }
    port=$(bash "$recipes/free-port-pair.sh") || fail "no free port pair for Slurm"
    export SLURM_LOCAL_DIR=/tmp/ferry-survival-slurm.$$ SLURM_LOCAL_PORT=$port
    export SLURM_CONF=$SLURM_LOCAL_DIR/etc/slurm.conf
    cleanup_extra='timeout 60 bash "$recipes/slurm-local-down.sh" >/dev/null 2>&1; rm -rf "$SLURM_LOCAL_DIR"'
    timeout 60 bash "$recipes/slurm-local-up.sh" >"$out" 2>&1 || fail "slurm-local-up.sh failed"
    t0=$(date +%s)
    timeout 150 srun --mpi=pmix --overcommit --immediate=30 --kill-on-bad-exit=0 -n 4 "$SURVIVAL_PROBE" kill 2 \
      >"$out" 2>&1; rc=$?
    secs=$(( $(date +%s) - t0 ))
    grep -q 'survival: driver ok' "$out" || fail "the driver did not finish (srun exit code $rc)"
    [[ $rc == 137 ]] || fail "srun exit code $rc (expected 137: rank 2's SIGKILL)"
    ms=$(detected_ms); [[ -n $ms ]] || fail "no detection line"
    (( ms <= 5000 )) || fail "the death was detected after $ms ms (bound 5000 ms)" ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac
cat "$out"
echo "PASS: survival $case_name $tl (${secs} s)"
