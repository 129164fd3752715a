#!/usr/bin/env bash
# detect.sh [BUILD_DIR] — failure-detection latency: time from SIGKILL (and from SIGSTOP) of a worker
# to the driver's runtime declaring it failed, on every transport setting, ROUNDS rounds each.
# Each round: ferry-run -n 3 --keep-going ferry_survival_probe wait 2 (the driver prints rank 2's pid
# and waits); the script notes CLOCK_REALTIME, sends the signal, and reads the driver's own
# CLOCK_REALTIME at detection (the difference includes a few ms of this script's overhead). A
# stopped rank is SIGKILLed by the script once detected, so the round ends at once.
# Prints per (setting, signal): median, range (min..max) in ms, and the ratio of the median to its
# target (SIGKILL <= 1000 ms, SIGSTOP <= 3000 ms; ratio <= 1 meets it). Full run: ~2 min at ROUNDS=5.
# Env: ROUNDS (5), SETTINGS ("ucx-shm ucx-tcp tcp"), SIGNALS ("KILL STOP"), FERRY_HEARTBEAT_MS /
#      FERRY_PEER_TIMEOUT_MS / UCX_KEEPALIVE_INTERVAL are passed through (defaults: ferry's).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
RUN=$BUILD/launcher/ferry-run PROBE=$BUILD/tests/survival/ferry_survival_probe
for f in "$RUN" "$PROBE"; do [[ -x $f ]] || { echo "detect: $f not built" >&2; exit 2; }; done
ROUNDS=${ROUNDS:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "detect: ROUNDS must be a positive integer" >&2; exit 2; }
export FERRY_PROGRESS=${FERRY_PROGRESS:-blocking} FERRY_STORE_BYTES=64M FERRY_EXECUTOR_THREADS=1 UCX_WARN_UNUSED_ENV_VARS=n
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE PMIX_NAMESPACE OMPI_COMM_WORLD_SIZE
out=$(mktemp); job=
trap '[[ -n $job ]] && kill -KILL $job 2>/dev/null; rm -f "$out"' EXIT

# one_round SIG -> prints the latency in ms, or nothing on failure (reason on stderr)
one_round() {
  local sig=$1 pid at t
  "$RUN" -n 3 --keep-going --timeout 90 -- "$PROBE" wait 2 >"$out" 2>&1 &
  job=$!
  for _ in $(seq 600); do grep -q 'survival: waiting' "$out" && break; kill -0 $job 2>/dev/null || break; sleep 0.05; done
  pid=$(sed -n 's/.*survival: rank 2 pid \([0-9]*\).*/\1/p' "$out" | head -1)
  if [[ -z $pid ]] || ! grep -q 'survival: waiting' "$out"; then
    echo "detect: the job did not get ready:" >&2; tail -5 "$out" >&2; kill -KILL $job 2>/dev/null; wait $job; job=; return
  fi
  t=$(date +%s%3N)
  kill -"$sig" "$pid"
  for _ in $(seq 1200); do grep -q 'survival: detected' "$out" && break; kill -0 $job 2>/dev/null || break; sleep 0.05; done
  [[ $sig == STOP ]] && kill -KILL "$pid" 2>/dev/null
  wait $job; job=
  at=$(sed -n 's/.*survival: detected rank 2 dead at \([0-9]*\) ms.*/\1/p' "$out" | head -1)
  if [[ -z $at ]]; then echo "detect: no detection:" >&2; tail -5 "$out" >&2; return; fi
  echo $(( at - t ))
}

printf '%-8s %-5s %6s %9s %14s %7s %s\n' setting sig rounds median_ms range_ms target ratio
for setting in ${SETTINGS:-ucx-shm ucx-tcp tcp}; do
  case $setting in
    ucx-tcp) export FERRY_TRANSPORT=ucx UCX_TLS=tcp ;;
    ucx-shm) export FERRY_TRANSPORT=ucx UCX_TLS=posix,sysv,cma,self ;;
    tcp)     export FERRY_TRANSPORT=tcp; unset UCX_TLS ;;
    *) echo "detect: unknown setting $setting" >&2; exit 2 ;;
  esac
  for sig in ${SIGNALS:-KILL STOP}; do
    target=1000; [[ $sig == STOP ]] && target=3000
    vals=()
    for _ in $(seq "$ROUNDS"); do v=$(one_round "$sig"); [[ -n $v ]] && vals+=("$v"); done
    if (( ${#vals[@]} == 0 )); then printf '%-8s %-5s %6s %9s\n' "$setting" "$sig" 0 failed; continue; fi
    printf '%s\n' "${vals[@]}" | sort -n | awk -v s="$setting" -v g="$sig" -v t="$target" '
      { v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "%-8s %-5s %6d %9.0f %14s %7d %.2f\n", s, g, NR, m, v[1] ".." v[NR], t, m / t }'
  done
done
