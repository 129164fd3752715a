#!/usr/bin/env bash
# run-example.sh LAUNCHER TRANSPORT NRANKS PROGRAM [ARGS...]
#   LAUNCHER:  ferry-run | mpirun | srun | sbatch | single (no launcher, NRANKS=1)
#   TRANSPORT: ucx-tcp | ucx-shm | tcp
# Runs PROGRAM on NRANKS ranks under that launcher and checks every rank printed "ping ok"-style
# success ("<something> ok" from each rank) and that the launcher exited 0. Every step is bounded.
# srun/sbatch: start a private one-node Slurm with scripts/slurm-local-up.sh and always stop it. Exit 77 = skipped (printed reason), for CTest's SKIP_RETURN_CODE.
set -uo pipefail
launcher=$1 tl=$2 n=$3; shift 3
build=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must point to the build tree}
src=${FERRY_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=${FERRY_PROGRESS:-blocking} FERRY_BOOTSTRAP_TIMEOUT_MS=30000
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp); trap 'rm -f "$out"' EXIT

case $launcher in
  single)  # no launcher at all: the program must run as one rank
    [[ $n == 1 ]] || { echo "the single launcher runs exactly 1 rank" >&2; exit 2; }
    (unset FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE FERRY_BOOTSTRAP PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE SLURM_STEP_ID
     timeout 60 "$@") >"$out" 2>&1; rc=$? ;;
  ferry-run)
    timeout 90 "$build/launcher/ferry-run" -n "$n" -- "$@" >"$out" 2>&1; rc=$? ;;
  mpirun)
    command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
    timeout 90 mpirun --oversubscribe -n "$n" -x FERRY_TRANSPORT -x UCX_TLS -x FERRY_PROGRESS "$@" >"$out" 2>&1; rc=$? ;;
  srun|sbatch)
    recipes=$src/scripts
    command -v slurmctld >/dev/null && command -v munged >/dev/null ||
      { echo "SKIP: Slurm is not installed (slurmctld, munged: scripts/deps.sh)"; exit 77; }
    [[ $(id -u) == 0 ]] || { echo "SKIP: the private Slurm needs root"; exit 77; }
    port=$(bash "$recipes/free-port-pair.sh") || { echo "FAIL: no free port pair for Slurm"; exit 1; }
    export SLURM_LOCAL_DIR=/tmp/ferry-slurm-$$ SLURM_LOCAL_PORT=$port
    trap 'bash "$recipes/slurm-local-down.sh" >/dev/null 2>&1; rm -f "$out"' EXIT
    timeout 60 bash "$recipes/slurm-local-up.sh" >"$out" 2>&1 || { cat "$out"; echo "FAIL: slurm-local-up"; exit 1; }
    export SLURM_CONF=$SLURM_LOCAL_DIR/etc/slurm.conf
    if [[ $launcher == srun ]]; then
      timeout 90 srun --mpi=pmix --overcommit --immediate=30 -n "$n" "$@" >"$out" 2>&1; rc=$?
    else  # the one-node template, submitted and waited for with a bounded poll
      jid=$(sbatch --parsable --overcommit -n "$n" -o "$out.job" "$src/slurm/one-node.sbatch" "$@") ||
        { echo "FAIL: sbatch refused the job"; exit 1; }
      for _ in $(seq 450); do [[ -z $(squeue -h -j "$jid" -o %T 2>/dev/null) ]] && break; sleep 0.2; done
      state=$(scontrol show job "$jid" 2>/dev/null | grep -o 'JobState=[A-Z]*' || true)
      cat "$out.job" >"$out" 2>/dev/null; rm -f "$out.job"
      [[ $state == JobState=COMPLETED ]] && rc=0 || { echo "job $jid: ${state:-vanished}"; rc=1; }
    fi ;;
  *) echo "unknown launcher $launcher" >&2; exit 2 ;;
esac
cat "$out"
[[ $rc == 0 ]] || { echo "FAIL: $launcher exited $rc"; exit 1; }
ok=$(grep -c ' ok$' "$out" || true)
[[ $ok -ge $n ]] || { echo "FAIL: expected a success line from each of $n ranks, saw $ok"; exit 1; }
echo "PASS: $launcher $tl $n ranks"
