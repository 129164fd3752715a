#!/usr/bin/env bash
# ft-recovery.sh BUILD_DIR [ROUNDS] — fault-tolerance cost: the chaos DAG workload
# (tests/chaos/chaos_dag.cc; ~22 s fault-free on the idle 2-core machine, mostly its 800 ms tasks) on 4 ranks under
# ferry-run --keep-going, fault-free and with rank 2 SIGKILLed at 40 % of the fault-free time,
# alternating in every round. Both runs are traced (FERRY_TRACE) so they pay the same overhead.
# Per round it prints both times, their ratio (target <= 1.5), whether the checksums match, and,
# from the kill run's merged trace, the times from rank 0's detection of the death (peer_failed
# instant) to its first task resubmission ("retry" instant) and to the start of the first
# re-executed task on any rank (target <= 100 ms). Then medians and ranges over the rounds.
# Settings: FERRY_TRANSPORT/UCX_TLS (default UCX shared memory), BENCH_ARGS (workload arguments),
# ROUNDS (default 2: a full run takes ~2.5 min).
set -uo pipefail
build=${1:?usage: ft-recovery.sh BUILD_DIR [ROUNDS]}
rounds=${2:-2}
args=(${BENCH_ARGS:---blocks 16 --block-mib 16 --rounds 6 --task-ms 800})
export FERRY_TRANSPORT=${FERRY_TRANSPORT:-ucx} UCX_TLS=${UCX_TLS:-posix,sysv,cma,self}
export FERRY_PROGRESS=${FERRY_PROGRESS:-blocking} FERRY_EXECUTOR_THREADS=${FERRY_EXECUTOR_THREADS:-2}
export FERRY_STORE_BYTES=${FERRY_STORE_BYTES:-2G} UCX_WARN_UNUSED_ENV_VARS=n
run=$build/launcher/ferry-run dag=$build/tests/chaos/ferry_chaos_dag trace=$build/launcher/ferry-trace
for b in "$run" "$dag" "$trace"; do [[ -x $b ]] || { echo "missing $b (build ferry-run ferry_chaos_dag ferry-trace)" >&2; exit 2; }; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
field() { sed -n "s/^\(\[[0-9]*\] \)\{0,1\}chaos: $1 \([0-9a-f]*\).*/\2/p" "$2" | head -1; }

# latencies MERGED.json -> "detect_to_retry_ms detect_to_rerun_ms" (or "- -")
latencies() {
  python3 - "$1" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
ev = ev["traceEvents"] if isinstance(ev, dict) else ev
det = [e["ts"] for e in ev if e.get("name") == "peer_failed" and e.get("pid") == 0]
if not det:
    print("- -"); sys.exit()
t0 = min(det)
retries = [e for e in ev if e.get("name") == "retry" and e.get("pid") == 0 and e["ts"] >= t0]
if not retries:
    print("- -"); sys.exit()
t1 = min(e["ts"] for e in retries)
ids = {e.get("args", {}).get("object") for e in retries}
reruns = [e["ts"] for e in ev if e.get("ph") == "X" and e.get("name", "").startswith("chaos.")
          and e.get("args", {}).get("object") in ids and e["ts"] >= t1]
print("%.1f %s" % ((t1 - t0) / 1000.0, "%.1f" % ((min(reruns) - t0) / 1000.0) if reruns else "-"))
PY
}

once() {  # once clean|kill ROUND -> "ms checksum [detect_retry detect_rerun]"
  local out=$tmp/$1.out dir=$tmp/trace.$1 pids=$tmp/pids.$1
  rm -rf "$dir" "$pids"; mkdir -p "$dir" "$pids"
  FERRY_TRACE=$dir FERRY_CHAOS_PIDDIR=$pids timeout 600 "$run" -n 4 --timeout 500 --keep-going -- "$dag" "${args[@]}" \
    >"$out" 2>&1 &
  local job=$!
  if [[ $1 == kill ]]; then
    for _ in $(seq 1 600); do [[ -s $pids/rank.2 ]] && break; sleep 0.05; done
    sleep "$(awk -v ms="$clean_ms" 'BEGIN { printf "%.3f", ms * 0.4 / 1000 }')"
    kill -KILL "$(cat "$pids/rank.2")" 2>/dev/null || echo "warning: the kill missed" >&2
  fi
  wait "$job" || { echo "run $1 failed:" >&2; cat "$out" >&2; exit 1; }
  local lat=""
  if [[ $1 == kill ]]; then "$trace" merge "$dir" -o "$tmp/merged.json" >/dev/null 2>&1 && lat=$(latencies "$tmp/merged.json"); fi
  echo "$(field elapsed "$out") $(field checksum "$out") ${lat:-- -}"
}

declare -a t_clean t_kill ratios d_retry d_rerun
for ((r = 1; r <= rounds; r++)); do
  read -r clean_ms clean_sum _ <<<"$(once clean)"
  read -r kill_ms kill_sum dr drr <<<"$(once kill)"
  ratio=$(awk -v a="$kill_ms" -v b="$clean_ms" 'BEGIN { printf "%.2f", a / b }')
  same=$([[ $clean_sum == "$kill_sum" ]] && echo identical || echo DIFFERENT)
  echo "round $r: fault-free ${clean_ms} ms, one kill ${kill_ms} ms, ratio ${ratio}, checksums ${same};" \
       "detection -> first retry ${dr} ms, -> first re-executed task ${drr} ms"
  t_clean+=("$clean_ms"); t_kill+=("$kill_ms"); ratios+=("$ratio"); d_retry+=("$dr"); d_rerun+=("$drr")
done
stats() {  # stats NAME UNIT values... -> "NAME: median M (range LO..HI) UNIT"
  local name=$1 unit=$2; shift 2
  printf '%s\n' "$@" | grep -v '^-$' | sort -g | awk -v n="$name" -v u="$unit" \
    '{ v[NR] = $1 } END { if (!NR) { print n ": no data"; exit } m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
       printf "%s: median %s (range %s..%s) %s over %d rounds\n", n, m, v[1], v[NR], u, NR }'
}
echo "workload: ${args[*]}; 4 ranks; FERRY_TRANSPORT=$FERRY_TRANSPORT UCX_TLS=$UCX_TLS; $(date -u +%F)"
stats "fault-free" ms "${t_clean[@]}"
stats "one kill" ms "${t_kill[@]}"
stats "ratio one kill / fault-free (target <= 1.5)" "" "${ratios[@]}"
stats "detection -> first retry" ms "${d_retry[@]}"
stats "detection -> first re-executed task start (target <= 100)" ms "${d_rerun[@]}"
