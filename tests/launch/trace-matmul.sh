#!/usr/bin/env bash
# trace-matmul.sh TRANSPORT
#   TRANSPORT: ucx-tcp | ucx-shm | tcp
# Runs examples/matmul on 2 ranks under ferry-run --progress with FERRY_TRACE and FERRY_METRICS,
# then checks (every step bounded in time):
#   * the per-rank traces and `ferry-trace merge` output against the Chrome Trace Event format
#     and the workload (check_trace.py);
#   * each rank's Prometheus file against the workload's known size (check_metrics.py);
#   * ferry-run's end-of-job summary: one line per rank with the task counts.
set -uo pipefail
tl=$1
build=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must point to the build tree}
here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=${FERRY_PROGRESS:-blocking} FERRY_BOOTSTRAP_TIMEOUT_MS=30000
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
n=2 size=384 tile=96 nt=4

FERRY_TRACE=$work/trace FERRY_METRICS=$work/metrics timeout 120 \
  "$build/launcher/ferry-run" -n $n --timeout 100 --progress -- \
  "$build/examples/ferry_matmul" --n $size --tile $tile >"$work/out" 2>&1
rc=$?
cat "$work/out"
[[ $rc == 0 ]] || { echo "FAIL: ferry-run exited $rc"; exit 1; }
for r in $(seq 0 $((n - 1))); do
  grep -q "^ferry-run:   rank $r: 112 tasks submitted (112 finished, 0 failed)" "$work/out" ||
    { echo "FAIL: no end-of-job summary line for rank $r"; exit 1; }
done
timeout 60 "$build/launcher/ferry-trace" merge "$work/trace" -o "$work/job.json" || { echo "FAIL: merge"; exit 1; }
timeout 60 python3 "$here/check_trace.py" "$work/trace" "$work/job.json" $n $nt || exit 1
timeout 60 python3 "$here/check_metrics.py" "$work/metrics" $n $nt $tile || exit 1
echo "trace-matmul $tl ok"
