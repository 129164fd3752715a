#!/usr/bin/env bash
# compare-limits.sh — run ferry's transport, task and object benchmarks beside ucx_perftest, same machine,
# same UCX_TLS, same run, ROUNDS times, and print one line per figure:
#   name  ferry  limit  ratio  ratio_range  target  met
# ferry / limit are the medians over the rounds; ratio is the median of the per-round ratios (each round
# pairs a ferry figure with the limit measured minutes apart in the same round), ratio_range its min..max.
#   ratio = ferry/limit for times (lower is better) and for rates (higher is better).
# Small shared VMs change speed from minute to minute (RESULTS.md): read the range, not one number.
# Usage: bench/compare-limits.sh [BUILD_DIR]
# Env:   UCX_TLS (default posix,sysv,cma,self)   FERRY_PROGRESS (default busy)   ROUNDS (default 3)
#        MIN_TIME (--benchmark_min_time of the ferry benchmarks, default 0.3; tiny values only check the script)
#        ROUNDS_OUT (optional directory: keeps every round's raw JSON and perftest output)
# Needs: ucx_perftest (ucx-utils), python3, a build with ferry-run, ferry_bench_transport, ferry_bench_task, ferry_bench_object
#        (without ferry_bench_task / ferry_bench_object their rows are left out, with a note).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
export UCX_TLS=${UCX_TLS:-posix,sysv,cma,self}
export FERRY_PROGRESS=${FERRY_PROGRESS:-busy}
export FERRY_TRANSPORT=ucx
RUN="$BUILD/launcher/ferry-run"; BENCH="$BUILD/bench/ferry_bench_transport"; TASK_BENCH="$BUILD/bench/ferry_bench_task"
OBJECT_BENCH="$BUILD/bench/ferry_bench_object"
MIN_TIME=${MIN_TIME:-0.3}
ROUNDS=${ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare-limits: ROUNDS must be a positive integer" >&2; exit 2; }
for f in "$RUN" "$BENCH"; do [[ -x $f ]] || { echo "compare-limits: $f not built" >&2; exit 2; }; done
command -v ucx_perftest >/dev/null || { echo "compare-limits: ucx_perftest missing (apt-get install ucx-utils)" >&2; exit 2; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
PORT=$((20000 + RANDOM % 20000))

# perftest DIR NAME TEST SIZE ITERS [EXTRA perftest options] -> writes "<lat_avg_us> <bw_MBps> <msg_rate>" to DIR/NAME
perftest() {
  local dir=$1 name=$2 test=$3 size=$4 iters=$5 srv out; shift 5
  PORT=$((PORT + 1))
  timeout 120 ucx_perftest -p "$PORT" >"$dir/$name.srv" 2>&1 & srv=$!
  for _ in $(seq 50); do   # wait until the server listens (bounded)
    [[ $(ss -ltn "sport = :$PORT" 2>/dev/null) == *LISTEN* ]] && break; sleep 0.1; done
  out=$(timeout 120 ucx_perftest 127.0.0.1 -p "$PORT" -t "$test" -s "$size" -n "$iters" -w $((iters / 10 + 1)) "$@" 2>&1) || true
  wait "$srv" || true
  local final; final=$(grep '^Final:' <<<"$out" | tail -1 || true)
  [[ -n $final ]] || { echo "compare-limits: ucx_perftest $test failed:" >&2; echo "$out" | tail -5 >&2; echo "nan nan nan" >"$dir/$name"; return; }
  awk '{print $4, $6, $8}' <<<"$final" >"$dir/$name"
}

# ferry_bench DIR NAME BINARY [ENV=VALUE | --benchmark_flag ...]: one ferry benchmark binary under ferry-run -n 2 -> DIR/NAME.json
ferry_bench() {
  local dir=$1 name=$2 bin=$3 envs=() flags=(); shift 3
  for a in "$@"; do if [[ $a == --* ]]; then flags+=("$a"); else envs+=("$a"); fi; done
  env "${envs[@]}" timeout 900 "$RUN" -n 2 --no-tag-output -- "$bin" --benchmark_format=json --benchmark_out="$dir/$name.json" \
    --benchmark_out_format=json --benchmark_min_time="$MIN_TIME" "${flags[@]}" >"$dir/$name.txt" 2>&1 || { tail -20 "$dir/$name.txt" >&2; exit 1; }
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) UCX_TLS=$UCX_TLS FERRY_PROGRESS=$FERRY_PROGRESS host=$(hostname) cores=$(nproc) rounds=$ROUNDS"
[[ -x $TASK_BENCH ]] || echo "# $TASK_BENCH not built: task rows left out"
[[ -x $OBJECT_BENCH ]] || echo "# $OBJECT_BENCH not built: object rows left out"
# Over UCX_TLS=tcp a get is emulated with AMs and one outstanding get costs ~1 ms in ucx_perftest
# (seen with UCX 1.13.1, -E poll too): fewer iterations keep the run bounded.
small=200000; [[ ,$UCX_TLS, == *,tcp,* ]] && small=3000
for ((round = 1; round <= ROUNDS; round++)); do
  d="$TMP/r$round"; mkdir -p "$d"
  ferry_bench "$d" ferry "$BENCH"
  perftest "$d" am_lat ucp_am_lat 8 200000
  perftest "$d" am_bw ucp_am_bw 8 1000000
  # -O 1: one get outstanding, so the figure is a latency (the default pipelines gets and amortizes them)
  perftest "$d" get8 ucp_get 8 "$small" -O 1
  perftest "$d" get4k ucp_get 4096 "$((small / 2))" -O 1
  perftest "$d" get1m ucp_get 1048576 2000
  perftest "$d" get64m ucp_get 67108864 60
  [[ -x $TASK_BENCH ]] && ferry_bench "$d" task "$TASK_BENCH"
  # at most 4 live 64 MiB objects on each side: a 2 GiB arena is plenty. The 64 MiB views run
  # apart, between two ucp_get runs (seconds apart, not minutes): the VM's memory bandwidth
  # drifts by 30 % from minute to minute, so their limit is the mean of those two.
  if [[ -x $OBJECT_BENCH ]]; then
    ferry_bench "$d" object "$OBJECT_BENCH" FERRY_STORE_BYTES="${FERRY_STORE_BYTES:-2G}" \
      --benchmark_filter='-remote_view.*/67108864'
    perftest "$d" get64m_pre ucp_get 67108864 60
    ferry_bench "$d" object64 "$OBJECT_BENCH" FERRY_STORE_BYTES="${FERRY_STORE_BYTES:-2G}" \
      --benchmark_filter='(remote_view.*|raw_get.*)/67108864'
    perftest "$d" get64m_post ucp_get 67108864 60
  fi
  echo "# round $round of $ROUNDS done" >&2
done
[[ -n ${ROUNDS_OUT:-} ]] && { mkdir -p "$ROUNDS_OUT"; cp -r "$TMP"/r* "$ROUNDS_OUT"/; }

python3 - "$TMP" "$ROUNDS" <<'PY'
import json, os, re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])

def load(path):  # Google Benchmark JSON -> {name without its warm-up tag: benchmark}
    if not os.path.exists(path):
        return None
    return {re.sub(r"/min_warmup_time:[^/]*", "", b["name"]): b for b in json.load(open(path))["benchmarks"]}

def us(b):  # a benchmark's real time in microseconds
    return b["real_time"] * {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]

def gbps(b):  # a benchmark's bandwidth in GB/s (10^9 bytes)
    return b["bytes_per_second"] / 1e9

def round_rows(d):
    """One round's rows: (name, ferry, limit, target, lower_is_better)."""
    bench = load(os.path.join(d, "ferry.json"))
    def pt(name):
        return [float(x) for x in open(os.path.join(d, name)).read().split()]
    def pt_gbps(name):  # ucx_perftest prints MB/s with MB = 2^20 bytes
        return pt(name)[1] * 1048576 / 1e9
    def ferry_us(name):
        return us(bench[name])
    rows = []
    # ucp_am_lat reports one-way latency: the round trip is twice that.
    am_rtt = 2 * pt("am_lat")[0]
    rows.append(("am_roundtrip_8B_us", ferry_us("am_roundtrip/8/real_time"), am_rtt, 1.5, True))
    rows.append(("am_rate_8B_Mmsgps", bench["am_rate/8/real_time"]["items_per_second"] / 1e6, pt("am_bw")[2] / 1e6, 0.5, False))
    # Targets are the issues' (AM round trip, 64 MiB get); the other get sizes are for information.
    rows.append(("get_8B_us", ferry_us("get/8/real_time"), pt("get8")[0], None, True))
    rows.append(("get_4KiB_us", ferry_us("get/4096/real_time"), pt("get4k")[0], None, True))
    for key, size, label, target in (("get1m", 1048576, "get_1MiB_GBps", None), ("get64m", 67108864, "get_64MiB_GBps", 0.9)):
        rows.append((label, gbps(bench["get/%d/real_time" % size]), pt_gbps(key), target, False))
    # Tasks: sync RTT against the raw UCX AM round trip of this round; async rate against a fixed target.
    task = load(os.path.join(d, "task.json"))
    if task:
        rows.append(("task_sync_rtt_us", us(task["task_sync_rtt/real_time"]), am_rtt, 3.0, True))
        rows.append(("actor_call_rtt_us", us(task["actor_call_rtt/real_time"]), am_rtt, None, True))
        rows.append(("chain_link_us", us(task["chain/100/real_time"]) / 100, am_rtt, None, True))
        rows.append(("task_async_1k_per_s", task["task_async/1000/real_time"]["tasks_per_s"], 500000.0, 1.0, False))
        rows.append(("task_async_10k_per_s", task["task_async/10000/real_time"]["tasks_per_s"], 500000.0, 1.0, False))
        rows.append(("task_async_all_per_s", task["task_async_all/20000/real_time"]["tasks_per_s"], 500000.0, None, False))
    # Objects: a small remote get against "2 AM round trips + 1 get" of ferry's own transport in
    # this round; 64 MiB zero-copy reads (view) against ucp_get; put and the copying get for information.
    obj = load(os.path.join(d, "object.json"))
    if obj:
        obj.update(load(os.path.join(d, "object64.json")) or {})
        budget8 = 2 * ferry_us("am_roundtrip/8/real_time") + ferry_us("get/8/real_time")
        budget4k = 2 * ferry_us("am_roundtrip/4096/real_time") + ferry_us("get/4096/real_time")
        nan = float("nan")
        rows.append(("obj_put_8B_us", us(obj["put/8/real_time"]), nan, None, True))
        rows.append(("obj_put_4KiB_us", us(obj["put/4096/real_time"]), nan, None, True))
        rows.append(("obj_get_8B_us", us(obj["remote_get/8/real_time"]), budget8, 1.0, True))
        rows.append(("obj_get_4KiB_us", us(obj["remote_get/4096/real_time"]), budget4k, 1.0, True))
        rows.append(("obj_view_1MiB_GBps", gbps(obj["remote_view/1048576/real_time"]), pt_gbps("get1m"), None, False))
        # the ucp_get runs just before and after the 64 MiB views
        near64m = (pt_gbps("get64m_pre") + pt_gbps("get64m_post")) / 2
        view = gbps(obj["remote_view/67108864/real_time"])
        rows.append(("obj_view_64MiB_GBps", view, near64m, 0.9, False))
        # 4 live objects per side (reads cycle through 4 blocks): for information, see object_bench.cc
        rows.append(("obj_view_64MiB_rot_GBps", gbps(obj["remote_view_rotating/67108864/real_time"]), near64m, None, False))
        # the same view against the transport get of 64 MiB between the same two processes (object_bench raw_get)
        rows.append(("obj_view_vs_raw_get", view, gbps(obj["raw_get/67108864/real_time"]), None, False))
        # ... and against the same get of data rank 1 has just rewritten (like a fresh object)
        rows.append(("obj_view_vs_raw_fresh", view, gbps(obj["raw_get_fresh/67108864/real_time"]), None, False))
        rows.append(("obj_get_64MiB_GBps", gbps(obj["remote_get/67108864/real_time"]), pt_gbps("get64m"), None, False))
    return rows

per_round = [round_rows(os.path.join(tmp, "r%d" % k)) for k in range(1, rounds + 1)]
def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")
print("%-22s %12s %12s %7s %13s  %-8s %s" % ("name", "ferry", "limit", "ratio", "ratio_range", "target", "met"))
for i, (name, _, _, target, lower) in enumerate(per_round[0]):
    fs = [r[i][1] for r in per_round]
    ls = [r[i][2] for r in per_round]
    ratios = [f / l for f, l in zip(fs, ls) if l == l and l > 0]
    ratio = med(ratios)
    rng = "%.2f..%.2f" % (min(ratios), max(ratios)) if ratios else "-"
    if target is None or ratio != ratio:
        tgt, met = "-", ""
    else:
        tgt = ("<= " if lower else ">= ") + "%g" % target
        met = "yes" if (ratio <= target if lower else ratio >= target) else "no"
    print("%-22s %12.3f %12.3f %7.2f %13s  %-8s %s" % (name, med(fs), med(ls), ratio, rng, tgt, met))
print("# limits: am/get = ucx_perftest (ucp_am_lat x2, ucp_am_bw, ucp_get -O 1, ucp_get); task rows: the same round's"
      " ucp_am_lat round trip or 500k tasks/s; obj_get_*: 2 x ferry AM round trip + 1 ferry get of that size;"
      " obj_view_64MiB*: mean of the ucp_get runs just before and after them; obj_view_vs_raw_*: limit = object_bench raw_get / raw_get_fresh")
PY
