#!/bin/sh
# netns-agent.sh <host> <command...> — Open MPI rsh agent (plm_rsh_agent) for the network-namespace
# "hosts" of scripts/netns-up.sh, used by multihost.sh.
# Runs the command on host <host> through scripts/netns-node.sh (own netns, hostname, /dev/shm,
# mount namespace) and, in that private mount namespace, mounts a fresh sysfs on /sys first:
# nsenter --net does not remount /sys, so /sys/class/net would still list the ROOT namespace's
# interfaces, and UCX (which enumerates devices there) would find only tcp/lo and fail with
# "no active messages transport ... Destination is unreachable". The TCP backend (getifaddrs) does not
# need this. The mount is private to the host's mount namespace; the real /sys is untouched.
# Env: FERRY_NETNS_NODE = path of netns-node.sh (default: scripts/ of this tree), NETNS_PREFIX (passed through).
h=$1; shift
exec "${FERRY_NETNS_NODE:-$(dirname "$0")/../../scripts/netns-node.sh}" "$h" \
  "mount -t sysfs sysfs /sys && exec $*"
