#!/usr/bin/env bash
# startup.sh BUILD_DIR [ROUNDS] [SIZES...] — ferry-run start-up time: wall time from launching
# `ferry-run -n N startup_hello` to its exit (init incl. the start-up barrier, then shutdown), per N,
# ROUNDS rounds each (default 3), printed as "n=N median MS range MIN-MAX ms". The ranks use the
# TCP backend unless FERRY_TRANSPORT is set (UCX start-up costs CPU per rank; on a 2-core node it
# dominates at large N). Every launch is bounded (--timeout 120).
set -uo pipefail
build=${1:?usage: startup.sh BUILD_DIR [ROUNDS] [SIZES...]}; rounds=${2:-3}; shift 2 2>/dev/null || shift $#
sizes=("$@"); (( ${#sizes[@]} )) || sizes=(16 64 128 256)
run=$build/launcher/ferry-run hello=$build/bench/ferry_startup_hello
[[ -x $run && -x $hello ]] || { echo "build ferry-run and ferry_startup_hello first" >&2; exit 2; }
export FERRY_TRANSPORT=${FERRY_TRANSPORT:-tcp} FERRY_PROGRESS=blocking FERRY_STORE_BYTES=${FERRY_STORE_BYTES:-16M}
export FERRY_EXECUTOR_THREADS=1 FERRY_BOOTSTRAP_TIMEOUT_MS=100000
for n in "${sizes[@]}"; do
  times=()
  for ((i = 0; i < rounds; ++i)); do
    t0=$(date +%s%N)
    if ! out=$("$run" -n "$n" --timeout 120 -- "$hello" 2>&1); then
      echo "n=$n round $i FAILED:"; echo "$out" | tail -5; continue
    fi
    times+=($(( ($(date +%s%N) - t0) / 1000000 )))
  done
  (( ${#times[@]} )) || continue
  sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  echo "n=$n median ${sorted[$(( ${#sorted[@]} / 2 ))]} range ${sorted[0]}-${sorted[-1]} ms (${#times[@]} rounds)"
done
