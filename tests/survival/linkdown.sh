#!/usr/bin/env bash
# linkdown.sh TRANSPORT — a network-namespace host's link goes down during a ferry-run --keep-going
# job: the survivors detect the silent rank by heartbeats within 10 s (loose; bench/detect.sh has the
# tight number), the driver finishes on the others and ferry-run exits 0.
# 3 ranks under ferry-run (local rendezvous through /tmp), each moved by `ip netns exec` into its own
# host namespace h1..h3 (scripts/netns-up.sh, private prefix and subnet), so their traffic crosses
# the namespaces' bridge; then rank 2's cable (h3-p on the bridge) is set down: no RST, no EOF, just
# silence. TRANSPORT: ucx-tcp | tcp. Needs FERRY_RUN and SURVIVAL_PROBE; root. 77 = skipped.
set -uo pipefail
tl=${1:?usage: linkdown.sh ucx-tcp|tcp}
: "${FERRY_RUN:?FERRY_RUN must point to ferry-run}" "${SURVIVAL_PROBE:?SURVIVAL_PROBE must point to ferry_survival_probe}"
src=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[[ $tl == ucx-shm ]] && { echo "linkdown.sh: a network link needs ucx-tcp or tcp" >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=blocking FERRY_STORE_BYTES=64M FERRY_EXECUTOR_THREADS=2 UCX_WARN_UNUSED_ENV_VARS=n
# The detector with a short timeout (few ranks, few threads here); the default is longer.
export FERRY_HEARTBEAT_MS=${FERRY_HEARTBEAT_MS:-500} FERRY_PEER_TIMEOUT_MS=${FERRY_PEER_TIMEOUT_MS:-2500}
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE FERRY_TCP_ADDRESS
[[ $(id -u) == 0 ]] || skip "network namespaces need root"
command -v ip >/dev/null || skip "iproute2 (ip) missing"
probe_ns=ferrylp$$
err=$(ip netns add "$probe_ns" 2>&1) || skip "cannot create a network namespace: $err"
ip netns del "$probe_ns"

# Private names: prefix fl<pid>, subnet 10.234.<pid mod 250>.0/24 (other tests use 10.231/10.232).
export NETNS_PREFIX=fl$$ NETNS_SUBNET=10.234.$(( $$ % 250 )) NETNS_ROOT_PORT=0 N=3
out=$(mktemp) wrap=$(mktemp)
cleanup() {
  [[ -n ${job:-} ]] && kill -KILL "$job" 2>/dev/null
  for i in 1 2 3; do for p in $(ip netns pids "${NETNS_PREFIX}h$i" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; done
  bash "$src/scripts/netns-down.sh" >/dev/null 2>&1
  rm -f "$out" "$wrap"
}
trap cleanup EXIT
fail() { echo "FAIL [linkdown $tl]: $*"; cat "$out"; exit 1; }
timeout 30 bash "$src/scripts/netns-up.sh" >"$out" 2>&1 || fail "netns-up.sh failed"

# Rank r runs in host h<r+1>; `ip netns exec` also remounts /sys, so UCX sees that host's veth0.
cat >"$wrap" <<WRAP
#!/bin/sh
exec ip netns exec "${NETNS_PREFIX}h\$((FERRY_RANK + 1))" "\$@"
WRAP
chmod +x "$wrap"
t0=$(date +%s)
"$FERRY_RUN" -n 3 --keep-going --timeout 120 -- "$wrap" "$SURVIVAL_PROBE" wait 2 >"$out" 2>&1 &
job=$!
for _ in $(seq 600); do grep -q 'survival: waiting' "$out" && break; kill -0 $job 2>/dev/null || break; sleep 0.1; done
grep -q 'survival: waiting' "$out" || fail "the job did not get ready"
cut_ms=$(date +%s%3N)
ip -n "${NETNS_PREFIX}sw" link set h3-p down || fail "cannot cut h3's link"
wait $job; rc=$?; job=
secs=$(( $(date +%s) - t0 ))
[[ $rc == 0 ]] || fail "exit code $rc (expected 0: the driver succeeded without rank 2)"
grep -q 'survival: driver ok' "$out" || fail "the driver did not finish"
at=$(sed -n 's/.*survival: detected rank 2 dead at \([0-9]*\) ms.*/\1/p' "$out" | head -1)
[[ -n $at ]] || fail "no detection line"
ms=$(( at - cut_ms ))
(( ms <= 10000 )) || fail "the cut was detected after $ms ms (bound 10000 ms)"
grep -q 'declared rank 2 failed (timeout)' "$out" || fail "rank 2 was not declared failed by a heartbeat timeout"
cat "$out"
echo "PASS: linkdown $tl (detected after $ms ms; ${secs} s)"
