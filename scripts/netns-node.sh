#!/bin/sh
# netns-node.sh <host> <command string>   (host = h1..hN from netns-up.sh)
# Runs the command "on" that fake host: its network namespace (nsenter --net: unlike `ip netns exec` this
# does NOT remount /sys, so slurmd still finds /sys/fs/cgroup), its own hostname (UTS ns) and its own
# /dev/shm (mount ns) — without the last two, Open MPI's vader shared-memory segments of "different hosts"
# collide (same hostname, same /dev/shm) and MPI jobs segfault.
# Also works as Open MPI's rsh agent (called as: agent <host> <orted command...>):
#   netns-node.sh h1 "mpirun --host h1:2,h2:2 -n 4 --mca plm_rsh_agent $PWD/netns-node.sh ./prog"
h=$1; shift
exec nsenter --net="/run/netns/${NETNS_PREFIX:-fy}$h" unshare --uts --mount \
  sh -c "hostname $h && mount -t tmpfs -o size=1g tmpfs /dev/shm && exec sh -c \"\$0\"" "$*"
