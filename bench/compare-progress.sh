#!/usr/bin/env bash
# compare-progress.sh — progress modes and round trips per task, each beside its limit, same run,
# ROUNDS times; one line per figure: name  ferry  limit  ratio  ratio_range  target  met
# (ferry / limit: medians over the rounds; ratio: median of the per-round ratios; range: their min..max).
#   task_rtt_adaptive_us   sync no-op task round trip, default (adaptive) mode   vs busy mode          <= 1.5
#   task_ref_arg_us        one-argument task, a ref to a small put (adaptive)    vs the same by value  <= 1.1
#   chain_link_busy_us     a link of a chain alternating ranks, busy mode        vs ferry AM round trip <= 3
#   chain_link_adaptive_us the same in the default mode                          vs ferry AM round trip <= 5
#   task_rtt_blocking_us   sync task round trip, blocking mode (both sides sleep) vs pipe ping-pong    <= 2
#   pipe_rtt_us            the two-wake-up floor itself                          (for information)
# The AM round trip is ferry's own (ferry_bench_transport am_roundtrip/8, busy mode) in the same round.
# Usage: bench/compare-progress.sh [BUILD_DIR]
# Env:   UCX_TLS (default posix,sysv,cma,self)  ROUNDS (default 3)  MIN_TIME (default 0.3; tiny values only
#        check the script)  ROUNDS_OUT (optional directory: keeps every round's raw output)
# Needs: a build with ferry-run, ferry_bench_transport, ferry_bench_task, ferry_bench_pipe_pingpong; python3.
# Run it on an idle machine: with other load the adaptive mode (correctly) stops spinning.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
export UCX_TLS=${UCX_TLS:-posix,sysv,cma,self}
export FERRY_TRANSPORT=ucx
RUN="$BUILD/launcher/ferry-run"; TRANSPORT_BENCH="$BUILD/bench/ferry_bench_transport"
TASK_BENCH="$BUILD/bench/ferry_bench_task"; PIPE="$BUILD/bench/ferry_bench_pipe_pingpong"
MIN_TIME=${MIN_TIME:-0.3}
ROUNDS=${ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare-progress: ROUNDS must be a positive integer" >&2; exit 2; }
for f in "$RUN" "$TRANSPORT_BENCH" "$TASK_BENCH" "$PIPE"; do
  [[ -x $f ]] || { echo "compare-progress: $f not built" >&2; exit 2; }
done
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

# bench DIR NAME MODE BINARY FILTER: one benchmark binary under ferry-run -n 2 in progress MODE -> DIR/NAME.json
bench() {
  local dir=$1 name=$2 mode=$3 bin=$4 filter=$5
  FERRY_PROGRESS=$mode timeout 300 "$RUN" -n 2 --no-tag-output -- "$bin" --benchmark_format=json \
    --benchmark_out="$dir/$name.json" --benchmark_out_format=json --benchmark_min_time="$MIN_TIME" \
    --benchmark_filter="$filter" >"$dir/$name.txt" 2>&1 || { tail -20 "$dir/$name.txt" >&2; exit 1; }
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) UCX_TLS=$UCX_TLS host=$(hostname) cores=$(nproc) rounds=$ROUNDS load=$(cut -d' ' -f1-4 /proc/loadavg)"
TASKS='^(task_sync_rtt|task_value_arg_rtt|task_ref_arg_rtt|chain)/'
for ((round = 1; round <= ROUNDS; round++)); do
  d="$TMP/r$round"; mkdir -p "$d"
  bench "$d" am busy "$TRANSPORT_BENCH" '^am_roundtrip/8/'
  bench "$d" busy busy "$TASK_BENCH" "$TASKS"
  bench "$d" adaptive adaptive "$TASK_BENCH" "$TASKS"
  bench "$d" blocking blocking "$TASK_BENCH" '^task_sync_rtt/'
  timeout 120 "$PIPE" 20000 >"$d/pipe.txt"
  echo "# round $round of $ROUNDS done" >&2
done
[[ -n ${ROUNDS_OUT:-} ]] && { mkdir -p "$ROUNDS_OUT"; cp -r "$TMP"/r* "$ROUNDS_OUT"/; }

python3 - "$TMP" "$ROUNDS" <<'PY'
import json, os, re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])

def load(path):  # Google Benchmark JSON -> {name without its warm-up tag: real time in us}
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    return {re.sub(r"/min_warmup_time:[^/]*", "", b["name"]): b["real_time"] * scale[b["time_unit"]]
            for b in json.load(open(path))["benchmarks"]}

def round_rows(d):
    am = load(os.path.join(d, "am.json"))["am_roundtrip/8/real_time"]
    busy, adaptive = load(os.path.join(d, "busy.json")), load(os.path.join(d, "adaptive.json"))
    blocking = load(os.path.join(d, "blocking.json"))
    pipe = float(open(os.path.join(d, "pipe.txt")).read().split()[1])
    return [
        ("task_rtt_adaptive_us", adaptive["task_sync_rtt/real_time"], busy["task_sync_rtt/real_time"], 1.5),
        ("task_ref_arg_us", adaptive["task_ref_arg_rtt/real_time"], adaptive["task_value_arg_rtt/real_time"], 1.1),
        ("task_ref_arg_busy_us", busy["task_ref_arg_rtt/real_time"], busy["task_value_arg_rtt/real_time"], 1.1),
        ("chain_link_busy_us", busy["chain/100/real_time"] / 100, am, 3.0),
        ("chain_link_adaptive_us", adaptive["chain/100/real_time"] / 100, am, 5.0),
        ("task_rtt_blocking_us", blocking["task_sync_rtt/real_time"], pipe, 2.0),
        ("pipe_rtt_us", pipe, float("nan"), None),
    ]

per_round = [round_rows(os.path.join(tmp, "r%d" % k)) for k in range(1, rounds + 1)]
def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")
print("%-24s %10s %10s %7s %13s  %-7s %s" % ("name", "ferry", "limit", "ratio", "ratio_range", "target", "met"))
for i, (name, _, _, target) in enumerate(per_round[0]):
    fs = [r[i][1] for r in per_round]
    ls = [r[i][2] for r in per_round]
    ratios = [f / l for f, l in zip(fs, ls) if l == l and l > 0]
    ratio = med(ratios)
    rng = "%.2f..%.2f" % (min(ratios), max(ratios)) if ratios else "-"
    frng = "%.2f..%.2f" % (min(fs), max(fs))
    tgt, met = ("-", "") if target is None or ratio != ratio else ("<= %g" % target, "yes" if ratio <= target else "no")
    print("%-24s %10.2f %10.2f %7.2f %13s  %-7s %-3s  (ferry range %s)" % (name, med(fs), med(ls), ratio, rng, tgt, met, frng))
print("# limits: task_rtt_adaptive = busy-mode task_sync_rtt; task_ref_arg = task_value_arg_rtt (same mode);"
      " chain = ferry am_roundtrip/8 (busy); task_rtt_blocking = pipe ping-pong (two blocking wake-ups)")
PY
