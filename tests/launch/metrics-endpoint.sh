#!/usr/bin/env bash
# metrics-endpoint.sh TRANSPORT
# Runs ferry_metrics_probe on 2 ranks under ferry-run --progress with FERRY_METRICS_PORT and
# FERRY_METRICS set and, while the ranks wait:
#   * scrapes http://127.0.0.1:P+R/metrics of both ranks and checks the probe's known workload;
#   * sends SIGUSR1 to ferry-run (forwarded to the ranks) and checks both .prom files appear;
#   * checks a --progress status line with all 40 tasks done and both ranks reporting;
# then releases the ranks and checks the end-of-job summary. Every wait is bounded.
set -uo pipefail
tl=$1
build=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must point to the build tree}
here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=${FERRY_PROGRESS:-blocking} FERRY_BOOTSTRAP_TIMEOUT_MS=30000
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(bash "$here/../../scripts/free-port-pair.sh") || { echo "FAIL: no free port pair"; exit 1; }

# No timeout(1) wrapper: $pid must be ferry-run itself (it gets the SIGUSR1); its --timeout bounds
# the ranks and ctest's TIMEOUT bounds this script.
FERRY_METRICS_PORT=$port FERRY_METRICS=$work/metrics FERRY_PROBE_RELEASE=$work/release \
  "$build/launcher/ferry-run" -n 2 --timeout 100 --progress -- \
  "$build/tests/launch/ferry_metrics_probe" >"$work/out" 2>&1 &
pid=$!
wait_for() {  # wait_for SECONDS CMD...: polls CMD every 0.2 s
  local until=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < until)) || return 1
    kill -0 "$pid" 2>/dev/null || { "$@"; return; }
    sleep 0.2
  done
}
fail() { echo "FAIL: $*"; cat "$work/out"; exit 1; }
wait_for 60 bash -c "grep -q 'ready 0' '$work/out' && grep -q 'ready 1' '$work/out'" ||
  fail "the ranks did not reach the wait"

python3 - "$port" <<'PY' || fail "scraped metrics do not match the workload"
import re, sys, urllib.request
port = int(sys.argv[1])
for r in (0, 1):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port + r}/metrics", timeout=10).read().decode()
    v = {m.group(1): float(m.group(3)) for m in re.finditer(r'^(ferry_[a-z_]+)\{rank="(\d+)"\} (\S+)$', body, re.M)
         if int(m.group(2)) == r}
    want = {"ferry_up": 1, "ferry_puts_total": 10, "ferry_put_bytes_total": 10000, "ferry_tasks_submitted_total": 20,
            "ferry_tasks_finished_total": 20, "ferry_tasks_executed_total": 20, "ferry_gets_total": 30,
            "ferry_tasks_in_flight": 0, "ferry_ranks": 2}
    for k, w in want.items():
        if v.get(k) != w:
            print(f"rank {r}: {k} = {v.get(k)}, expected {w}")
            sys.exit(1)
print("scrape ok")
PY

kill -USR1 "$pid"
wait_for 20 bash -c "[[ -s '$work/metrics/ferry-metrics.rank0.prom' && -s '$work/metrics/ferry-metrics.rank1.prom' ]]" ||
  fail "SIGUSR1 did not make both ranks write their metrics file"
grep -q '^ferry_tasks_finished_total{rank="1"} 20$' "$work/metrics/ferry-metrics.rank1.prom" ||
  fail "rank 1's SIGUSR1 metrics file lacks its finished tasks"
wait_for 20 grep -q 'tasks 40 done, 0 in flight (0 running), 0 failed .* 2/2 ranks reporting' "$work/out" ||
  fail "no --progress status line with all 40 tasks done"

touch "$work/release"
wait "$pid"; rc=$?; pid=
[[ $rc == 0 ]] || fail "ferry-run exited $rc"
for r in 0 1; do
  grep -q "rank $r/2: metrics probe ok" "$work/out" || fail "rank $r did not finish ok"
  grep -q "^ferry-run:   rank $r: 20 tasks submitted (20 finished, 0 failed), 20 executed, 30 gets" "$work/out" ||
    fail "no summary line for rank $r"
done
echo "metrics-endpoint $tl ok"
