#!/usr/bin/env bash
# multihost.sh LAUNCHER TRANSPORT MIN_RX_BYTES PROGRAM [ARGS...]
#   LAUNCHER: mpirun   TRANSPORT: ucx-tcp | tcp
# Runs PROGRAM with one rank on each of 3 fake hosts (network namespaces made by scripts/netns-up.sh)
# and checks:
#   * the launcher exited 0 and every rank printed a "... ok" line;
#   * the 3 ranks ran on 3 different hosts (hostname h1/h2/h3, each with its own veth0 address in the
#     private subnet), as printed by a wrapper around PROGRAM;
#   * the traffic really crossed the fake network: each host's veth0 received >= MIN_RX_BYTES
#     (ping reads 1 MiB from its neighbour one-sidedly, so it uses 1048576).
# mpirun runs on h1 and starts the orteds of h2/h3 with netns-agent.sh (netns-node.sh + a namespace-
# private sysfs, which UCX needs to see veth0); the ranks bootstrap through mpirun's PMIx server.
# Private names: namespaces ferry<K>sw/ferry<K>h1..3 on 10.232.<K>.0/24, K reserved atomically under
# /tmp/ferry-multihost (a dead run's reservation and namespaces are reclaimed), so parallel runs of this
# test (and other users of netns-up.sh with other prefixes/subnets) cannot collide.
# Bounded: mpirun under `timeout 60`; the namespaces are always removed (trap), processes left inside
# them are killed by PID first. Exit 77 (SKIP, reason printed) only when mpirun, nsenter/unshare or
# iproute2 are missing, or the machine does not allow creating network/mount namespaces.
set -uo pipefail
launcher=$1 tl=$2 min_rx=$3; shift 3
src=${FERRY_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$(cd "$(dirname "$0")" && pwd)
recipes=$src/scripts
hosts=3
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[[ $tl != ucx-shm ]] || { echo "transport setting ucx-shm does not reach other hosts (ucx-tcp or tcp)" >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
[[ $launcher == mpirun ]] || { echo "unknown launcher $launcher (mpirun)" >&2; exit 2; }
export FERRY_PROGRESS=${FERRY_PROGRESS:-blocking} FERRY_BOOTSTRAP_TIMEOUT_MS=30000
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# --- can this machine do it at all? ------------------------------------------------------------------
command -v mpirun >/dev/null || skip "mpirun not installed"
command -v nsenter >/dev/null && command -v unshare >/dev/null || skip "nsenter/unshare (util-linux) missing"
command -v ip >/dev/null || skip "iproute2 (ip) missing"
[[ $(id -u) == 0 ]] || skip "network namespaces need root"
probe=ferryprobe$$
if ! err=$(ip netns add "$probe" 2>&1); then skip "cannot create a network namespace: $err"; fi
ip netns del "$probe"
if ! err=$(unshare --uts --mount true 2>&1); then skip "cannot create UTS/mount namespaces: $err"; fi

# --- reserve a private prefix and subnet ---------------------------------------------------------------
res_root=/tmp/ferry-multihost; mkdir -p "$res_root"
k='' P='' NET=''
in_use() {  # namespaces or addresses of candidate k already exist (not made by this script's protocol)
  [[ " $(ip netns list | awk '{print $1}' | tr '\n' ' ') " == *" ferry$1sw "* ]] && return 0
  [[ $(ip -4 -o addr; ip -4 route) == *"10.232.$1."* ]]
}
reclaim() {  # $1 = k of a reservation whose owner is dead: take it over atomically, clean up, release
  local d=$res_root/$1 t=$res_root/$1.stale.$$
  mv "$d" "$t" 2>/dev/null || return 0          # someone else is reclaiming it
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^ferry$1(sw|h[0-9]+)$"); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  NETNS_PREFIX=ferry$1 bash "$recipes/netns-down.sh" >/dev/null 2>&1
  rm -rf "$t"
}
owner_dead() { local o; o=$(cat "$res_root/$1/pid" 2>/dev/null) || return 1; ! kill -0 "$o" 2>/dev/null; }
for d in "$res_root"/*; do   # first sweep up what killed runs (e.g. a CTest timeout's SIGKILL) left
  c=${d##*/}
  [[ $c =~ ^[0-9]+$ ]] && owner_dead "$c" && reclaim "$c"
done
start=$(( $$ % 90 ))
for ((i = 0; i < 90; i++)); do
  [[ -z $k ]] || break
  c=$(( (start + i) % 90 + 1 ))
  mkdir "$res_root/$c" 2>/dev/null || continue   # taken (a dir being created has no pid yet: also taken)
  echo $$ >"$res_root/$c/pid"
  if in_use "$c"; then rm -rf "${res_root:?}/$c"; continue; fi
  k=$c
done
[[ -n $k ]] || fail "no free namespace prefix/subnet among ferry1..90 / 10.232.1-90.0/24"
# No root-namespace port: netns-up.sh creates it through a fixed-name veth peer ("root-p") in the root
# namespace, which races with any concurrent netns-up.sh. mpirun runs on h1 instead.
export NETNS_PREFIX=ferry$k NETNS_SUBNET=10.232.$k N=$hosts NETNS_ROOT_PORT=0
P=$NETNS_PREFIX NET=$NETNS_SUBNET

out=$(mktemp) job=$(mktemp)
cleanup() {
  for i in $(seq 1 $hosts); do
    for p in $(ip netns pids "${P}h$i" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  bash "$recipes/netns-down.sh" >/dev/null 2>&1
  rm -rf "${res_root:?}/$k" "$out" "$job"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- up, run, check ------------------------------------------------------------------------------------
timeout 30 bash "$recipes/netns-up.sh" >"$out" 2>&1 || { cat "$out"; fail "netns-up.sh"; }
cat "$out"
rx_bytes() { ip netns exec "${P}h$1" cat /sys/class/net/veth0/statistics/rx_bytes; }  # exec remounts /sys
declare -a rx0
for i in $(seq 1 $hosts); do rx0[$i]=$(rx_bytes "$i"); done

export FERRY_NETNS_NODE=$recipes/netns-node.sh
host_list=$(seq -s, -f 'h%g' 1 $hosts)
# The wrapper prints where each rank runs, then becomes PROGRAM.
wrap='echo "multihost: rank $OMPI_COMM_WORLD_RANK host $(hostname) ip $(ip -4 -o addr show dev veth0 | awk "{print \$4}")"; exec "$0" "$@"'
pass_env=(-x FERRY_TRANSPORT -x FERRY_PROGRESS -x FERRY_BOOTSTRAP_TIMEOUT_MS)
[[ -n ${UCX_TLS:-} ]] && pass_env+=(-x UCX_TLS)
t0=$(date +%s.%N)
# mpirun itself runs on h1 (started through the same agent), like a job script on the first node.
{ printf 'exec mpirun --host %q -n %q --mca plm_rsh_agent %q' "$host_list" "$hosts" "$here/netns-agent.sh"
  printf ' %q' "${pass_env[@]}" sh -c "$wrap" "$@"; echo; } >"$job"
timeout 60 "$here/netns-agent.sh" h1 bash "$job" >"$out" 2>&1
rc=$?
cat "$out"
echo "mpirun took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}') s"
[[ $rc == 0 ]] || fail "mpirun exited $rc"

ok=$(grep -c ' ok$' "$out" || true)
[[ $ok -ge $hosts ]] || fail "expected a success line from each of $hosts ranks, saw $ok"
where=$(grep '^multihost: rank' "$out" | sort -u)
for i in $(seq 1 $hosts); do
  [[ $where == *"host h$i ip $NET.$i/24"* ]] || fail "no rank ran on h$i ($NET.$i); placement was: $where"
done
for i in $(seq 1 $hosts); do
  got=$(( $(rx_bytes "$i") - ${rx0[$i]} ))
  echo "h$i veth0 received $got bytes"
  [[ $got -ge $min_rx ]] || fail "h$i veth0 received only $got bytes (< $min_rx): traffic did not cross the network"
done
echo "PASS: $launcher $tl, $hosts ranks on $hosts namespace hosts ($P, $NET.0/24)"
