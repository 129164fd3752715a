#!/usr/bin/env bash
# slurm-local-up.sh — a private one-node Slurm (munged, slurmctld, slurmd) on this machine, as root,
# without systemd. Everything (munge key/socket, slurm.conf, state, spool, logs, pid files) lives under
# $SLURM_LOCAL_DIR; /etc/slurm, /etc/munge and /run/munge are not touched. Stop it with
# slurm-local-down.sh (same SLURM_LOCAL_DIR), also after a failed up.
#   export SLURM_LOCAL_DIR=$(mktemp -d); bash scripts/slurm-local-up.sh && source $SLURM_LOCAL_DIR/env.sh
#   srun -n 2 hostname; bash scripts/slurm-local-down.sh
# Knobs (env):
#   SLURM_LOCAL_DIR   (/tmp/ferry-slurm-local) must be empty or absent
#   SLURM_LOCAL_PORT  (a free pair from free-port-pair.sh) slurmctld port; slurmd uses +1
#   SLURM_LOCAL_CPUS  (nproc) CPUs per node; more than nproc => oversubscribed node (config_overrides)
#   SLURM_LOCAL_NODES (0) 0 = one node "$(hostname -s)" on 127.0.0.1; K>0 = K nodes h1..hK, one slurmd per
#                     network namespace made by `N=K bash netns-up.sh` (needs its root port $NETNS_SUBNET.254)
#   SLURM_LOCAL_MPI   (pmix) MpiDefault
# Packages: munge slurmctld slurmd slurm-client (scripts/deps.sh); slurmd pulls slurm-wlm-basic-plugins,
# which has mpi/pmix.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
D=${SLURM_LOCAL_DIR:-/tmp/ferry-slurm-local}
REAL_CPUS=$(nproc); CPUS=${SLURM_LOCAL_CPUS:-$REAL_CPUS}
K=${SLURM_LOCAL_NODES:-0}; NET=${NETNS_SUBNET:-10.231.0}
PORT=${SLURM_LOCAL_PORT:-$(bash "$HERE/free-port-pair.sh")}; MPI=${SLURM_LOCAL_MPI:-pmix}
MEM=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 9 / 10 ))   # MiB, below the real figure
T0=$(date +%s.%N)
log() { echo "[slurm-local-up $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s] $*"; }
wait_for() { # wait_for <seconds> <description> <command...>  — bounded poll, 0.1 s steps
  local n=$(( $1 * 10 )) what=$2; shift 2
  while (( n-- > 0 )); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "TIMEOUT waiting for: $what" >&2; tail -n 15 "$D"/log/*.log "$D"/munge/munged.log >&2 || true; exit 1; }

[[ -e $D/run/slurmctld.pid ]] && { echo "already up? $D/run/slurmctld.pid exists; run slurm-local-down.sh" >&2; exit 1; }
for c in munged mungekey slurmctld slurmd srun sinfo scontrol; do
  command -v "$c" >/dev/null || { echo "$c not found: install the packages of scripts/deps.sh" >&2; exit 1; }
done
if (( K > 0 )); then NODES=$(seq -f 'h%g' 1 "$K"); CTLD_ADDR=$NET.254
  [[ $(ip -4 -o addr show) == *"inet $CTLD_ADDR/"* ]] ||   # (not `| grep -q`: SIGPIPE + pipefail = false)
    { echo "no $CTLD_ADDR here: run N=$K netns-up.sh first" >&2; exit 1; }
  NODELINE="NodeName=h[1-$K] NodeAddr=$NET.[1-$K] CPUs=$CPUS RealMemory=$((MEM / K)) State=UNKNOWN"
else NODES=$(hostname -s); CTLD_ADDR=127.0.0.1      # slurmd takes its NodeName from the short hostname
  NODELINE="NodeName=$NODES NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN"
fi
mkdir -p "$D"/{etc,state,log,run,munge/etc,munge/run}
for n in $NODES; do mkdir -p "$D/spool/$n" "$D/tmp/$n"; done   # per-node dirs (%n below) must pre-exist
chmod 755 "$D" "$D/munge" "$D/munge/run"   # munged: socket dir must be o+x
chmod 700 "$D/munge/etc"                   # munged: key dir must not be group/other accessible
chmod 1777 "$D"/tmp/*

# --- munge: private key + private socket ---------------------------------------------------------------
[[ -s $D/munge/etc/munge.key ]] || mungekey -c -k "$D/munge/etc/munge.key"
munged --key-file="$D/munge/etc/munge.key" --socket="$D/munge/run/munge.socket" \
       --pid-file="$D/munge/run/munged.pid" --log-file="$D/munge/munged.log" \
       --seed-file="$D/munge/etc/munged.seed"          # forks; pid in munged.pid
wait_for 10 "munge round-trip" sh -c "munge -n -S '$D/munge/run/munge.socket' | unmunge -S '$D/munge/run/munge.socket'"
log "munged up"

# --- slurm.conf ----------------------------------------------------------------------------------------
OVR=""; (( CPUS > REAL_CPUS )) && OVR="SlurmdParameters=config_overrides"   # else node is DRAINED (Low CPUs)
cat > "$D/etc/slurm.conf" <<EOF
ClusterName=local
SlurmctldHost=$(hostname -s)($CTLD_ADDR)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$D/munge/run/munge.socket
CredType=cred/munge
StateSaveLocation=$D/state
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmctldLogFile=$D/log/slurmctld.log
# %n = node name: lets several slurmd share this filesystem (TmpFS holds mpi/pmix's spmix_appdir_*)
SlurmdSpoolDir=$D/spool/%n
SlurmdPidFile=$D/run/slurmd.%n.pid
SlurmdLogFile=$D/log/slurmd.%n.log
TmpFS=$D/tmp/%n
MailProg=/bin/true
# no cgroups: plain /proc process tracking, no CPU binding, no accounting
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=$MPI
ReturnToService=2
$OVR
# fast turnaround for CI
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=60
MessageTimeout=10
$NODELINE
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
printf "export SLURM_CONF=%q SLURM_LOCAL_DIR=%q\n" "$D/etc/slurm.conf" "$D" > "$D/env.sh"
export SLURM_CONF=$D/etc/slurm.conf

# --- daemons (all daemonize and write pid files) -------------------------------------------------------
slurmctld -c            # -c: cold start, ignore any saved state
wait_for 20 "slurmctld (scontrol ping)" sh -c 'scontrol ping | grep -q UP'
log "slurmctld up"
if (( K > 0 )); then for n in $NODES; do "$HERE/netns-node.sh" "$n" "slurmd -N $n"; done
else slurmd; fi
nn=$(echo "$NODES" | wc -w)
wait_for 30 "$nn node(s) idle" sh -c "[ \$(sinfo -h -N -t idle -o %N | wc -l) -ge $nn ]"
log "nodes idle: $(sinfo -h -o '%P %D nodes %t %c CPUs/node')"
timeout 30 srun -N "$nn" -n "$nn" true
log "srun works — use: source $D/env.sh"
