#!/usr/bin/env bash
# compare-limits.sh — run ferry's transport and task benchmarks beside ucx_perftest, same machine, same UCX_TLS,
# same run, and print one line per figure:  name  ferry_value  limit_value  ratio  target
#   ratio = ferry/limit for times (lower is better), ferry/limit for rates (higher is better).
# Usage: bench/compare-limits.sh [BUILD_DIR]
# Env:   UCX_TLS (default posix,sysv,cma,self)   FERRY_PROGRESS (default busy)   REPS (perftest iterations scale)
#        MIN_TIME (--benchmark_min_time of the ferry benchmarks, default 0.3; tiny values only check the script)
# Needs: ucx_perftest (ucx-utils), python3, a build with ferry-run, ferry_bench_transport, ferry_bench_task, ferry_bench_object
#        (without ferry_bench_task the task rows are left out, with a note).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
export UCX_TLS=${UCX_TLS:-posix,sysv,cma,self}
export FERRY_PROGRESS=${FERRY_PROGRESS:-busy}
export FERRY_TRANSPORT=ucx
RUN="$BUILD/launcher/ferry-run"; BENCH="$BUILD/bench/ferry_bench_transport"; TASK_BENCH="$BUILD/bench/ferry_bench_task"
OBJECT_BENCH="$BUILD/bench/ferry_bench_object"
MIN_TIME=${MIN_TIME:-0.3}
for f in "$RUN" "$BENCH"; do [[ -x $f ]] || { echo "compare-limits: $f not built" >&2; exit 2; }; done
command -v ucx_perftest >/dev/null || { echo "compare-limits: ucx_perftest missing (apt-get install ucx-utils)" >&2; exit 2; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
PORT=$((20000 + RANDOM % 20000))

# perftest NAME TEST SIZE ITERS [EXTRA perftest options] -> writes "<lat_avg_us> <bw_MBps> <msg_rate>" to $TMP/NAME
perftest() {
  local name=$1 test=$2 size=$3 iters=$4 srv out; shift 4
  PORT=$((PORT + 1))
  timeout 120 ucx_perftest -p "$PORT" >"$TMP/$name.srv" 2>&1 & srv=$!
  for _ in $(seq 50); do   # wait until the server listens (bounded)
    [[ $(ss -ltn "sport = :$PORT" 2>/dev/null) == *LISTEN* ]] && break; sleep 0.1; done
  out=$(timeout 120 ucx_perftest 127.0.0.1 -p "$PORT" -t "$test" -s "$size" -n "$iters" -w $((iters / 10 + 1)) "$@" 2>&1) || true
  wait "$srv" || true
  local final; final=$(grep '^Final:' <<<"$out" | tail -1 || true)
  [[ -n $final ]] || { echo "compare-limits: ucx_perftest $test failed:" >&2; echo "$out" | tail -5 >&2; echo "nan nan nan" >"$TMP/$name"; return; }
  awk '{print $4, $6, $8}' <<<"$final" >"$TMP/$name"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) UCX_TLS=$UCX_TLS FERRY_PROGRESS=$FERRY_PROGRESS host=$(hostname) cores=$(nproc)"
timeout 600 "$RUN" -n 2 --no-tag-output -- "$BENCH" --benchmark_format=json --benchmark_out="$TMP/ferry.json" \
  --benchmark_out_format=json --benchmark_min_time="$MIN_TIME" >"$TMP/ferry.txt" 2>&1 || { tail -20 "$TMP/ferry.txt" >&2; exit 1; }
if [[ -x $TASK_BENCH ]]; then
  timeout 900 "$RUN" -n 2 --no-tag-output -- "$TASK_BENCH" --benchmark_format=json --benchmark_out="$TMP/task.json" \
    --benchmark_out_format=json --benchmark_min_time="$MIN_TIME" >"$TMP/task.txt" 2>&1 || { tail -20 "$TMP/task.txt" >&2; exit 1; }
else
  echo "# $TASK_BENCH not built: task rows left out"
fi

if [[ -x $OBJECT_BENCH ]]; then  # 64 MiB objects in batches of 4 on each side: a 2 GiB arena is plenty
  FERRY_STORE_BYTES=${FERRY_STORE_BYTES:-2G} timeout 900 "$RUN" -n 2 --no-tag-output -- "$OBJECT_BENCH" \
    --benchmark_format=json --benchmark_out="$TMP/object.json" --benchmark_out_format=json \
    --benchmark_min_time="$MIN_TIME" >"$TMP/object.txt" 2>&1 || { tail -20 "$TMP/object.txt" >&2; exit 1; }
else
  echo "# $OBJECT_BENCH not built: object rows left out"
fi

perftest am_lat ucp_am_lat 8 200000
perftest am_bw ucp_am_bw 8 1000000
# -O 1: one get outstanding, so the figure is a latency (the default pipelines gets and amortizes them)
# Over UCX_TLS=tcp a get is emulated with AMs and one outstanding get costs ~1 ms in ucx_perftest
# (seen with UCX 1.13.1, -E poll too): fewer iterations keep the run bounded.
small=200000; [[ ,$UCX_TLS, == *,tcp,* ]] && small=3000
perftest get8 ucp_get 8 "$small" -O 1
perftest get4k ucp_get 4096 "$((small / 2))" -O 1
perftest get1m ucp_get 1048576 2000
perftest get64m ucp_get 67108864 60

python3 - "$TMP" <<'PY'
import json, sys, os
tmp = sys.argv[1]
def load(path):  # Google Benchmark JSON -> {name: benchmark}
    return {b["name"]: b for b in json.load(open(path))["benchmarks"]}
def us(b):  # a benchmark's real time in microseconds
    return b["real_time"] * {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
bench = load(os.path.join(tmp, "ferry.json"))
def pt(name):
    return [float(x) for x in open(os.path.join(tmp, name)).read().split()]
def ferry_us(name):
    return us(bench[name])
rows = []
# ucp_am_lat reports one-way latency: the round trip is twice that.
rows.append(("am_roundtrip_8B_us", ferry_us("am_roundtrip/8/real_time"), 2 * pt("am_lat")[0], "<= 1.5"))
rows.append(("am_rate_8B_Mmsgps", bench["am_rate/8/real_time"]["items_per_second"] / 1e6, pt("am_bw")[2] / 1e6, ">= 0.5"))
rows.append(("get_8B_us", ferry_us("get/8/real_time"), pt("get8")[0], "<= 2"))
rows.append(("get_4KiB_us", ferry_us("get/4096/real_time"), pt("get4k")[0], "<= 2"))
# ucx_perftest prints MB/s with MB = 2^20 bytes.
for key, size, label in (("get1m", 1048576, "get_1MiB_GBps"), ("get64m", 67108864, "get_64MiB_GBps")):
    ferry = bench["get/%d/real_time" % size]["bytes_per_second"] / 1e9
    rows.append((label, ferry, pt(key)[1] * 1048576 / 1e9, ">= 0.9"))
# Tasks (issue 4): sync RTT against the raw UCX AM round trip of this run; async rate against a fixed target.
task_json = os.path.join(tmp, "task.json")
if os.path.exists(task_json):
    task = load(task_json)
    def task_us(name):
        return us(task[name])
    am_rtt = 2 * pt("am_lat")[0]
    rows.append(("task_sync_rtt_us", task_us("task_sync_rtt/real_time"), am_rtt, "<= 3"))
    rows.append(("actor_call_rtt_us", task_us("actor_call_rtt/real_time"), am_rtt, "-"))
    rows.append(("chain_link_us", task_us("chain/100/real_time") / 100, am_rtt, "-"))
    rows.append(("task_async_per_s", task["task_async/10000/real_time"]["tasks_per_s"], 500000.0, ">= 1"))
    rows.append(("task_async_all_per_s", task["task_async_all/20000/real_time"]["tasks_per_s"], 500000.0, "-"))
# Objects (issue 3): a small remote get against "2 AM round trips + 1 get" of ferry's own transport in
# this run; 64 MiB zero-copy reads (view) against ucp_get; put and the copying get for information.
obj_json = os.path.join(tmp, "object.json")
if os.path.exists(obj_json):
    obj = load(obj_json)
    def obj_us(name):
        return us(obj[name])
    budget8 = 2 * ferry_us("am_roundtrip/8/real_time") + ferry_us("get/8/real_time")
    budget4k = 2 * ferry_us("am_roundtrip/4096/real_time") + ferry_us("get/4096/real_time")
    rows.append(("obj_put_8B_us", obj_us("put/8/real_time"), float("nan"), "-"))
    rows.append(("obj_put_4KiB_us", obj_us("put/4096/real_time"), float("nan"), "-"))
    rows.append(("obj_get_8B_us", obj_us("remote_get/8/real_time"), budget8, "<= 1 (2 AM RTT + get)"))
    rows.append(("obj_get_4KiB_us", obj_us("remote_get/4096/real_time"), budget4k, "<= 1 (2 AM RTT + get)"))
    rows.append(("obj_view_1MiB_GBps", obj["remote_view/1048576/real_time"]["bytes_per_second"] / 1e9,
                 pt("get1m")[1] * 1048576 / 1e9, "-"))
    rows.append(("obj_view_64MiB_GBps", obj["remote_view/67108864/real_time"]["bytes_per_second"] / 1e9,
                 pt("get64m")[1] * 1048576 / 1e9, ">= 0.9"))
    rows.append(("obj_get_64MiB_GBps", obj["remote_get/67108864/real_time"]["bytes_per_second"] / 1e9,
                 pt("get64m")[1] * 1048576 / 1e9, "- (copy out)"))
print("%-22s %12s %12s %8s  %s" % ("name", "ferry", "limit", "ratio", "target"))
for name, f, l, target in rows:
    ratio = f / l if l == l and l > 0 else float("nan")
    print("%-22s %12.3f %12.3f %8.2f  %s" % (name, f, l, ratio, target))
PY
