#!/usr/bin/env bash
# netns-down.sh — remove what netns-up.sh made.  Deleting a namespace destroys its veths and the bridge;
# deleting ${P}sw also destroys the root-side port ${P}-root (its peer lived there).
# Processes still running inside a host namespace keep its network alive: stop them first, by PID
# (`ip netns pids ${P}h1` lists them; slurmd started by slurm-local-up.sh is stopped by slurm-local-down.sh).
set -uo pipefail
P=${NETNS_PREFIX:-fy}
for ns in $(ip netns list | awk '{print $1}' | grep -E "^${P}(sw|h[0-9]+)$"); do
  pids=$(ip netns pids "$ns")
  [[ -n $pids ]] && echo "warning: $ns still has processes: $pids" >&2
  ip netns del "$ns"
done
ip link del "${P}-root" 2>/dev/null || true
echo "netns down"
