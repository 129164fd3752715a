#!/usr/bin/env bash
# trace-overhead.sh BUILD_DIR [ROUNDS] [MIN_TIME_S]
# Async task rate (task_bench task_async/10000, 2 ranks under ferry-run) with FERRY_TRACE off and on,
# and, when BASE_BUILD is set, with BASE_BUILD's binaries (a build without the trace hooks: the
# zero-cost-when-off check). The settings alternate in every round (the order rotates) so that a
# shared machine's drift hits all alike. Prints each round, then per setting the median and range of
# tasks/s and the per-round ratios. Uses FERRY_PROGRESS (default busy), FERRY_TRANSPORT/UCX_TLS (default UCX shared memory).
# Trace files go to a temporary directory, removed after each traced round.
set -uo pipefail
build=${1:?usage: trace-overhead.sh BUILD_DIR [ROUNDS] [MIN_TIME_S]}
rounds=${2:-7} min_time=${3:-1}
export FERRY_PROGRESS=${FERRY_PROGRESS:-busy} FERRY_TRANSPORT=${FERRY_TRANSPORT:-ucx}
export UCX_TLS=${UCX_TLS:-posix,sysv,cma,self} FERRY_TRACE_MAX_MB=${FERRY_TRACE_MAX_MB:-2048}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

run() {  # run base|off|on -> prints tasks/s
  local env=() b=$build
  [[ $1 == on ]] && env=(FERRY_TRACE="$tmp/trace")
  [[ $1 == base ]] && b=$BASE_BUILD
  local line
  line=$(env "${env[@]}" timeout 300 "$b/launcher/ferry-run" -n 2 -- "$b/bench/ferry_bench_task" \
         --benchmark_filter='task_async/10000' --benchmark_min_time="$min_time" 2>&1 | grep 'tasks_per_s=')
  if [[ $1 == on ]]; then
    local dropped
    dropped=$(grep -ho '"dropped_events":[0-9]*' "$tmp"/trace/*.json | cut -d: -f2 | paste -sd+ | bc)
    [[ ${dropped:-0} == 0 ]] || echo "warning: $dropped trace events dropped (raise FERRY_TRACE_MAX_MB)" >&2
    rm -rf "$tmp/trace"
  fi
  sed -E 's/.*tasks_per_s=([0-9.]+)([kM]?)\/s.*/\1 \2/' <<<"$line" |
    awk '{m = $2 == "M" ? 1e6 : $2 == "k" ? 1e3 : 1; printf "%.0f\n", $1 * m}'
}

settings=(off on)
[[ -n ${BASE_BUILD:-} ]] && settings=(base off on)
declare -A res
for ((r = 0; r < rounds; r++)); do
  line="round $((r + 1)):"
  for ((i = 0; i < ${#settings[@]}; i++)); do
    s=${settings[$(( (i + r) % ${#settings[@]} ))]}
    v=$(run "$s")
    res[$s]+="$v "
    line+=" $s $v"
  done
  echo "$line tasks/s"
done
args=()
for s in "${settings[@]}"; do args+=("$s=${res[$s]}"); done
python3 - "${args[@]}" <<'PY'
import statistics, sys
res = {a.split("=")[0]: [float(x) for x in a.split("=")[1].split()] for a in sys.argv[1:]}
for name, v in res.items():
    print(f"{name}: median {statistics.median(v)/1e3:.1f}k tasks/s, range {min(v)/1e3:.1f}k-{max(v)/1e3:.1f}k ({len(v)} rounds)")
def ratio(a, b):
    r = [y / x for x, y in zip(res[a], res[b])]
    print(f"{b}/{a} per round: median {statistics.median(r):.3f}, range {min(r):.3f}-{max(r):.3f}; "
          f"median({b})/median({a}) = {statistics.median(res[b]) / statistics.median(res[a]):.3f}")
ratio("off", "on")
if "base" in res:
    ratio("base", "off")
PY
