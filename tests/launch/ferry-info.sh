#!/usr/bin/env bash
# ferry-info.sh FERRY_INFO — ferry-info reports this node and fails clearly on bad settings.
set -uo pipefail
info=$1; fails=0
check() { local name=$1 want_rc=$2 pattern=$3; shift 3
  local out rc; out=$(env "$@" timeout 30 "$info" 2>&1); rc=$?
  if [[ $rc == "$want_rc" && $out == *"$pattern"* ]]; then echo "ok   $name"
  else echo "FAIL $name: rc=$rc (want $want_rc), output lacks '$pattern':"; echo "$out" | sed 's/^/     /'; fails=$((fails + 1)); fi; }
check plain 0 "ferry-info: ok" -u FERRY_TRANSPORT -u SLURM_NTASKS -u PMIX_NAMESPACE
check lists-ucx-tcp 0 "tcp  " -u FERRY_TRANSPORT
check topology 0 "core(s)" -u FERRY_TRANSPORT
check bad-transport 1 "FERRY_TRANSPORT='bogus' is invalid" FERRY_TRANSPORT=bogus
check bad-progress 1 "FERRY_PROGRESS" FERRY_PROGRESS=fast
check srun-without-pmix 1 "--mpi=pmix" -u PMIX_NAMESPACE SLURM_NTASKS=2 SLURM_STEP_ID=0 SLURM_PROCID=0
check ferry-run-env 0 "ferry-run" FERRY_RENDEZVOUS_DIR=/tmp FERRY_RANK=0 FERRY_SIZE=2
exit $((fails > 0))
