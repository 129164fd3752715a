#!/usr/bin/env bash
# trace-overhead.sh BUILD_DIR [ROUNDS] [TASKS]          instructions per task, tracing off and on
# trace-overhead.sh --wall BUILD_DIR [ROUNDS] [MIN_TIME_S]   async task rates (wall clock)
#
# Default: instruction counts with valgrind --tool=callgrind, which a shared machine's load does
# not change (wall-clock task rates on VMs are bimodal). A measurement is two runs of
# ferry_bench_task_count (async no-ops rank 0 -> rank 1 in batches of 1000, task_bench's task_async
# workload) on 2 ranks under ferry-run, each rank under callgrind: TASKS and 5 x TASKS tasks; the
# difference of the two runs' instructions (both ranks, all threads, counted up to the end of the
# tasks: the program dumps them before shutdown) over 4 x TASKS is the cost of one task, start-up
# cancelled out. Prints it for FERRY_TRACE unset ("off") and set
# ("on") and, when BASE_BUILD is a
# build configured with -DCMAKE_CXX_FLAGS=-DFERRY_NO_TRACE (no trace call sites), for it ("base"):
# per round, then median and range, and the ratios on/off and off/base. Progress is blocking (a
# polling thread would count its spins). Defaults: 3 rounds, TASKS 2000 (about 3 min).
#
# --wall: task_bench task_async/10000 rates under ferry-run with FERRY_TRACE off and on (and base),
# the settings alternating in every round (the order rotates); median and range of tasks/s and
# the per-round ratios. Uses FERRY_PROGRESS (default busy), FERRY_TRANSPORT/UCX_TLS (default UCX
# shared memory).
# Trace files go to a temporary directory, removed after each traced run.
set -uo pipefail
mode=callgrind
[[ ${1:-} == --wall ]] && { mode=wall; shift; }
build=${1:?usage: trace-overhead.sh [--wall] BUILD_DIR [ROUNDS] [TASKS | MIN_TIME_S]}
if [[ $mode == wall ]]; then rounds=${2:-7} min_time=${3:-1}; else rounds=${2:-3} tasks=${3:-2000}; fi
export FERRY_PROGRESS=${FERRY_PROGRESS:-busy} FERRY_TRANSPORT=${FERRY_TRANSPORT:-ucx}
export UCX_TLS=${UCX_TLS:-posix,sysv,cma,self} FERRY_TRACE_MAX_MB=${FERRY_TRACE_MAX_MB:-2048}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# count SETTING N -> the instructions of both ranks (all threads) from start until N tasks are done
# (the program's callgrind dump "tasks": shutdown, where a trace file is written, is not counted)
count() {
  local env=(FERRY_PROGRESS=blocking FERRY_BOOTSTRAP_TIMEOUT_MS=300000) b=$build
  [[ $1 == on ]] && env+=(FERRY_TRACE="$tmp/trace")
  [[ $1 == base ]] && b=$BASE_BUILD
  rm -rf "$tmp"/cg.* "$tmp/trace"
  env "${env[@]}" timeout 900 "$b/launcher/ferry-run" -n 2 --timeout 880 -- \
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" "$b/bench/ferry_bench_task_count" "$2" \
    >"$tmp/out" 2>&1 || { echo "trace-overhead: the $1 run of $2 tasks failed:" >&2; tail -20 "$tmp/out" >&2; return 1; }
  if [[ $1 == on ]] && ! ls "$tmp"/trace/*.json >/dev/null 2>&1; then
    echo "trace-overhead: on: no trace file written (was tracing on?)" >&2
    return 1
  fi
  local files
  mapfile -t files < <(grep -l 'Client Request: tasks' "$tmp"/cg.* 2>/dev/null)
  ((${#files[@]} == 2)) || { echo "trace-overhead: $1: expected 2 'tasks' dumps, found ${#files[@]}" >&2; return 1; }
  awk '/^totals:/ {s += $2} END {printf "%.0f\n", s}' "${files[@]}"
}
# run_callgrind SETTING -> prints instructions per task: (count(5 N) - count(N)) / (4 N)
run_callgrind() {
  local small big
  small=$(count "$1" "$tasks") || return 1
  big=$(count "$1" $((5 * tasks))) || return 1
  echo $(((big - small) / (4 * tasks)))
}

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
unit="tasks/s"
[[ $mode == callgrind ]] && unit="instructions/task"
declare -A res
for ((r = 0; r < rounds; r++)); do
  line="round $((r + 1)):"
  for ((i = 0; i < ${#settings[@]}; i++)); do
    s=${settings[$(( (i + r) % ${#settings[@]} ))]}
    if [[ $mode == callgrind ]]; then v=$(run_callgrind "$s") || exit 1; else v=$(run "$s"); fi
    res[$s]+="$v "
    line+=" $s $v"
  done
  echo "$line $unit"
done
args=()
for s in "${settings[@]}"; do args+=("$s=${res[$s]}"); done
python3 - "$mode" "${args[@]}" <<'PY'
import statistics, sys
mode = sys.argv[1]
res = {a.split("=")[0]: [float(x) for x in a.split("=")[1].split()] for a in sys.argv[2:]}
for name, v in res.items():
    if mode == "callgrind":
        print(f"{name}: median {statistics.median(v):.0f} instructions/task, range {min(v):.0f}-{max(v):.0f} ({len(v)} rounds)")
    else:
        print(f"{name}: median {statistics.median(v)/1e3:.1f}k tasks/s, range {min(v)/1e3:.1f}k-{max(v)/1e3:.1f}k ({len(v)} rounds)")
def ratio(a, b):
    r = [y / x for x, y in zip(res[a], res[b])]
    print(f"{b}/{a} per round: median {statistics.median(r):.3f}, range {min(r):.3f}-{max(r):.3f}; "
          f"median({b})/median({a}) = {statistics.median(res[b]) / statistics.median(res[a]):.3f}")
ratio("off", "on")
if "base" in res:
    ratio("base", "off")
PY
