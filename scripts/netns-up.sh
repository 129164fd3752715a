#!/usr/bin/env bash
# netns-up.sh — N fake "hosts" as network namespaces on one private L2 segment, as root.
# Knobs (env): N (3), NETNS_PREFIX (fy), NETNS_SUBNET (10.231.0), NETNS_ROOT_PORT (1). Parallel users pick
# distinct prefixes and subnets (tests/launch/multihost.sh reserves them). Undo with netns-down.sh.
#   ${P}sw          : namespace holding bridge br0 (the "switch")
#   ${P}h1..${P}hN  : host namespaces, each with lo + veth0 = $NETNS_SUBNET.<i>/24, cabled to br0 via port h<i>-p
#   root namespace  : port ${P}-root = $NETNS_SUBNET.254/24 (NETNS_ROOT_PORT=0 to skip) so srun/sinfo/tests can
#                     reach the hosts from the normal shell, and $NETNS_SUBNET.x never leaks to the default route.
# Only our own namespaces have addresses in $NETNS_SUBNET.0/24; nothing leaves the machine.
# Usage: N=3 bash netns-up.sh ; ip netns exec ${P}h1 ping $NETNS_SUBNET.2 ; bash netns-down.sh
#   run "on" host i:  netns-node.sh h<i> 'cmd'   (own netns + hostname + /dev/shm)
#   hard partition:   ip -n ${P}sw link set h2-p down              (h2's veth0 loses carrier; heal: up)
#   silent partition: bridge -n ${P}sw link set dev h2-p state 0   (carrier stays up, frames dropped; heal: state 3)
#   rate limit:       ip netns exec ${P}h1 tc qdisc add dev veth0 root tbf rate 10mbit burst 256kb latency 50ms
#   loss:             ip netns exec ${P}h1 iptables -A INPUT -i veth0 -m statistic --mode random --probability 0.2 -j DROP
#   (this kernel has no sch_netem, so `tc ... netem` delay/loss is not available)
set -euo pipefail
N=${N:-3}; P=${NETNS_PREFIX:-fy}; NET=${NETNS_SUBNET:-10.231.0}
T0=$(date +%s%N)
ip netns add "${P}sw"
ip -n "${P}sw" link set lo up
ip -n "${P}sw" link add br0 type bridge
ip -n "${P}sw" link set br0 up
for i in $(seq 1 "$N"); do
  h="${P}h$i"
  ip netns add "$h"
  ip -n "$h" link set lo up
  # create the pair inside the host ns, then move the peer into the switch ns and plug it into br0
  ip -n "$h" link add veth0 type veth peer name "h$i-p"
  ip -n "$h" link set "h$i-p" netns "${P}sw"
  ip -n "${P}sw" link set "h$i-p" master br0 up
  ip -n "$h" addr add "$NET.$i/24" dev veth0
  ip -n "$h" link set veth0 up
done
if [[ ${NETNS_ROOT_PORT:-1} == 1 ]]; then
  # both ends named after the prefix, so concurrent runs with other prefixes cannot collide
  ip link add "${P}-root" type veth peer name "${P}-rp"
  ip link set "${P}-rp" netns "${P}sw"
  ip -n "${P}sw" link set "${P}-rp" master br0 up
  ip addr add "$NET.254/24" dev "${P}-root"
  ip link set "${P}-root" up
fi
# bounded readiness checks. 1) operstate UP on every veth0: the kernel's linkwatch sets it up to ~1 s after
# `link set up`, while ping already works; UCX skips a device that is not RUNNING ("network device 'veth0'
# is not available ... no usable transports").  2) h1 reaches every other host (link + ARP).
for i in $(seq 1 "$N"); do
  n=50; until [[ $(ip -n "${P}h$i" -o link show veth0) == *"state UP"* ]]; do
    (( n-- > 0 )) || { echo "${P}h$i veth0 not UP after 5 s" >&2; exit 1; }; sleep 0.1; done
done
for i in $(seq 2 "$N"); do
  ip netns exec "${P}h1" ping -c 1 -W 1 -w 5 "$NET.$i" >/dev/null || { echo "h1 cannot reach $NET.$i" >&2; exit 1; }
done
echo "netns up: ${P}h1..${P}h$N on $NET.0/24 in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
