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
# NIC locality: every NIC with its nearby CPUs, or the explicit "none" line (virtual nodes).
out=$(timeout 30 "$info" 2>&1)
if [[ $out =~ $'\n'"  NIC "[^$'\n']*" near CPUs "[0-9] || $out == *"no NIC with PCI locality reported"* ]]; then echo "ok   nic-locality"
else echo "FAIL nic-locality: no 'NIC ... near CPUs' nor 'no NIC' line"; fails=$((fails + 1)); fi
# Thread binding plan (FERRY_BIND): forced, oversubscribed auto, layout from the launcher, bad values.
check bind-cores 0 "progress thread -> PU " -u FERRY_LOCAL_RANK -u OMPI_COMM_WORLD_LOCAL_RANK -u SLURM_LOCALID FERRY_BIND=cores FERRY_EXECUTOR_THREADS=1
check bind-auto-oversubscribed 0 "FERRY_BIND=auto: not binding (auto: oversubscribed" FERRY_BIND=auto FERRY_EXECUTOR_THREADS=0
check bind-layout 0 "local rank 1 of 2 (OMPI_COMM_WORLD_LOCAL_RANK" -u FERRY_LOCAL_RANK OMPI_COMM_WORLD_LOCAL_RANK=1 OMPI_COMM_WORLD_LOCAL_SIZE=2
check bind-none 0 "FERRY_BIND=none: not binding" FERRY_BIND=none
check bad-bind 1 "FERRY_BIND='sockets' is invalid" FERRY_BIND=sockets
check bad-layout 1 "FERRY_LOCAL_RANK=3 is not below FERRY_LOCAL_SIZE=2" FERRY_LOCAL_RANK=3 FERRY_LOCAL_SIZE=2
exit $((fails > 0))
