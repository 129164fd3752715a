#!/usr/bin/env bash
# free-port-pair.sh — print a port P such that P and P+1 are both unused (no socket in any state),
# chosen below the kernel's ephemeral range so that no outgoing connection can take it between the
# check and the moment slurmctld (P) and slurmd (P+1) bind. Starts from a PID-derived offset so that
# concurrent callers tend to pick different ports.
set -euo pipefail
lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
top=$(( lo > 12000 ? lo - 2 : 30000 ))
span=$(( top - 10000 ))
used=" $(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); printf "%s ", a[n]}') "
start=$(( ($$ * 7) % span ))
for ((i = 0; i < span; i += 2)); do
  p=$(( 10000 + (start + i) % span ))
  [[ $used == *" $p "* || $used == *" $((p + 1)) "* ]] && continue
  echo "$p"; exit 0
done
echo "free-port-pair: no free port pair in 10000..$top" >&2; exit 1
