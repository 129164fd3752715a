#!/usr/bin/env bash
# startup.sh BUILD_DIR [ROUNDS] [SIZES...] — ferry-run start-up at scale, beside its limits, in the
# same run. Per N (default 16 64 128 256) and ROUNDS rounds each (default 3), medians and ranges of:
#   launch     ferry-run -n N /bin/true, launch to exit (the launcher's own floor)
#   bare-ucx   ferry-run -n N ferry_ucx_init_bare, launch to exit: N processes doing only
#              ucp_init + ucp_worker_create (the floor under any UCX start-up; UCX backend only)
#   barrier    ferry_startup_hello, launch to the first barrier (ferry::init returned) on the
#              slowest rank (FERRY_STARTUP_PROFILE marks)
#   exit       ferry_startup_hello, launch to exit (init, first barrier, collective shutdown)
# and the ratios barrier/bare-ucx and barrier/launch. The ranks use FERRY_TRANSPORT (default ucx;
# tcp for the TCP backend). Every launch is bounded (--timeout 120). With STARTUP_PROFILE_DIR set,
# each round's raw profile is kept there (bench/startup_profile.py shows the slowest rank per phase).
set -uo pipefail
build=${1:?usage: startup.sh BUILD_DIR [ROUNDS] [SIZES...]}; rounds=${2:-3}; shift 2 2>/dev/null || shift $#
sizes=("$@"); (( ${#sizes[@]} )) || sizes=(16 64 128 256)
run=$build/launcher/ferry-run hello=$build/bench/ferry_startup_hello bare=$build/bench/ferry_ucx_init_bare
[[ -x $run && -x $hello ]] || { echo "build ferry-run and ferry_startup_hello first" >&2; exit 2; }
export FERRY_TRANSPORT=${FERRY_TRANSPORT:-ucx} FERRY_PROGRESS=blocking FERRY_STORE_BYTES=${FERRY_STORE_BYTES:-16M}
export FERRY_EXECUTOR_THREADS=1 FERRY_BOOTSTRAP_TIMEOUT_MS=100000 UCX_WARN_UNUSED_ENV_VARS=n
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
now_us() { date +%s%6N; }

# stats NAME VALUES... -> "NAME median M range A-B ms"; sets $median
stats() {
  local name=$1; shift
  local sorted=($(printf '%s\n' "$@" | sort -n))
  median=${sorted[$(( ${#sorted[@]} / 2 ))]}
  printf '  %-9s median %6d ms  range %d-%d ms (%d rounds)\n' "$name" "$median" "${sorted[0]}" "${sorted[-1]}" ${#sorted[@]}
}

# timed_launch N OUT PROG... -> elapsed ms on stdout, or nothing if the launch failed
timed_launch() {
  local n=$1 out=$2; shift 2
  local t0; t0=$(now_us)
  if ! "$run" -n "$n" --timeout 120 -- "$@" >"$out" 2>&1; then
    echo "n=$n: '$*' FAILED:" >&2; tail -5 "$out" >&2; return 1
  fi
  echo $(( ($(now_us) - t0) / 1000 ))
}

echo "ferry-run start-up, transport $FERRY_TRANSPORT${UCX_TLS:+ (UCX_TLS=$UCX_TLS)}, $(nproc) CPUs, $(date -u +%FT%TZ)"
for n in "${sizes[@]}"; do
  launch=() bareucx=() barrier=() exits=()
  for ((i = 0; i < rounds; ++i)); do
    if ms=$(timed_launch "$n" "$tmp/true" /bin/true); then launch+=("$ms"); fi
    if [[ $FERRY_TRANSPORT == ucx && -x $bare ]]; then
      # What ferry gives UCX on one node unless UCX_TLS is set: shared memory with error handling.
      if ms=$(UCX_TLS=${UCX_TLS:-posix,sysv,cma,self} UCX_MM_ERROR_HANDLING=y timed_launch "$n" "$tmp/bare" "$bare"); then
        bareucx+=("$ms")
      fi
    fi
    t0=$(now_us)
    if ms=$(FERRY_STARTUP_PROFILE=1 timed_launch "$n" "$tmp/hello" "$hello"); then
      exits+=("$ms")
      last=$(grep -o 'phase=first_barrier t_us=[0-9]*' "$tmp/hello" | sed 's/.*=//' | sort -n | tail -1)
      seen=$(grep -c 'phase=first_barrier' "$tmp/hello")
      if [[ -n $last && $seen == "$n" ]]; then barrier+=($(( (last - t0) / 1000 )))
      else echo "n=$n round $i: $seen of $n ranks reached the first barrier" >&2; fi
      [[ -n ${STARTUP_PROFILE_DIR:-} ]] && mkdir -p "$STARTUP_PROFILE_DIR" &&
        { echo "launch_us=$t0"; cat "$tmp/hello"; } >"$STARTUP_PROFILE_DIR/n$n.round$i.txt"
    fi
  done
  echo "n=$n"
  l=0 b=0 f=0
  (( ${#launch[@]} )) && { stats launch "${launch[@]}"; l=$median; }
  (( ${#bareucx[@]} )) && { stats bare-ucx "${bareucx[@]}"; b=$median; }
  (( ${#barrier[@]} )) && { stats barrier "${barrier[@]}"; f=$median; }
  (( ${#exits[@]} )) && stats exit "${exits[@]}"
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
  (( f > 0 )) && echo "  ratio     barrier/bare-ucx $(ratio $f $b)  barrier/launch $(ratio $f $l)  (target: barrier <= 2000 ms at n=256)"
done
