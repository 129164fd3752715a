#!/usr/bin/env bash
# slurm-local-down.sh — stop what scripts/slurm-local-up.sh started, by the PIDs in its pid files
# (never pkill/killall), then remove $SLURM_LOCAL_DIR (KEEP_LOGS=1 keeps it).
set -uo pipefail
D=${SLURM_LOCAL_DIR:-/tmp/ferry-slurm-local}
export SLURM_CONF=$D/etc/slurm.conf
if [[ -f $SLURM_CONF && $(timeout 5 scontrol ping 2>/dev/null) == *UP* ]]; then       # end jobs first,
  timeout 10 scancel --user=root >/dev/null 2>&1                                      # so no slurmstepd
  n=50; while (( n-- > 0 )) && [[ -n $(timeout 5 squeue -h -o %i 2>/dev/null) ]]; do sleep 0.2; done  # is orphaned
fi
# TERM all daemons at once (each takes ~1.5-2 s to exit), then wait up to 10 s, then KILL.
pids=()
for pf in "$D"/run/slurmd.*.pid "$D/run/slurmctld.pid" "$D/munge/run/munged.pid"; do
  [[ -s $pf ]] || continue; pid=$(<"$pf"); comm=$(basename "$pf"); comm=${comm%%.*}   # slurmd|slurmctld|munged
  [[ $(ps -o comm= -p "$pid" 2>/dev/null) == "$comm" ]] || continue   # stale pid file: not ours any more
  kill -TERM "$pid" && pids+=("$pid")
done
for pid in "${pids[@]}"; do
  n=50; while (( n-- > 0 )) && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { echo "pid $pid ignored TERM for 10 s; KILL" >&2; kill -KILL "$pid"; }
done
[[ ${KEEP_LOGS:-0} == 1 ]] || rm -rf "$D"
echo "slurm-local down"
