#!/usr/bin/env bash
# borrow-cost.sh BUILD_DIR [ROUNDS]
# The cost of borrowing on the async task rate: ferry_bench_borrow on 2 ranks (ferry-run, busy
# progress over shared memory unless FERRY_PROGRESS / UCX_TLS say otherwise), ROUNDS runs
# (default 5), each giving tasks/s of 1000-task batches whose argument is a 16-byte value (plain)
# or a ref argument (borrow). Each round runs each in its own process, plain first in odd rounds and
# borrow first in even ones (on this VM whichever program starts first after a pause meets colder
# memory: bench/RESULTS.md, stop 19).
# Prints both medians with ranges, the ratio borrow / plain of the medians (target: >= 0.9, i.e. at
# most 10 % below) and the range of the per-round ratios. ~1 min.
set -euo pipefail
build=${1:?usage: borrow-cost.sh BUILD_DIR [ROUNDS]}
rounds=${2:-5}
export FERRY_PROGRESS=${FERRY_PROGRESS:-busy} UCX_TLS=${UCX_TLS:-posix,sysv,cma,self}
bench="$build/bench/ferry_bench_borrow"
[[ -x $bench ]] || { echo "missing $bench (build target ferry_bench_borrow)" >&2; exit 1; }
stats() {  # stats FORMAT VALUES...: median, min and max, each printed with FORMAT
  local fmt=$1; shift
  printf "%s\n" "$@" | sort -g | awk -v f="$fmt" '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
    printf f " " f " " f, m, v[1], v[NR]}'
}
plain=() borrow=() ratios=()
run_one() {  # run_one NAME: the tasks/s of one benchmark in its own process
  "$build/launcher/ferry-run" -n 2 --timeout 120 -- "$bench" --benchmark_format=csv --benchmark_filter="^$1/" \
    --benchmark_min_time=0.5 2>/dev/null | sed 's/^\[0\] //' | grep -E "^\"$1/"
}
for ((r = 1; r <= rounds; ++r)); do
  if ((r % 2)); then out="$(run_one plain)"$'\n'"$(run_one borrow)"; else out="$(run_one borrow)"$'\n'"$(run_one plain)"; fi
  # csv: name,iterations,real_time,cpu_time,time_unit,bytes_per_second,items_per_second,label,error_occurred,error_message,tasks_per_s
  p=$(awk -F, '/^"plain/ {print $NF}' <<<"$out") b=$(awk -F, '/^"borrow/ {print $NF}' <<<"$out")
  [[ -n $p && -n $b ]] || { echo "round $r: no result" >&2; exit 1; }
  plain+=("$p") borrow+=("$b") ratios+=("$(awk -v a="$b" -v b="$p" 'BEGIN {print a / b}')")
  printf "round %d: plain %.0f tasks/s, borrow %.0f tasks/s, ratio %.3f\n" "$r" "$p" "$b" "${ratios[-1]}"
done
read -r rm rl rh <<<"$(stats %.3f "${ratios[@]}")"
read -r pm pl ph <<<"$(stats %.0f "${plain[@]}")"; read -r bm bl bh <<<"$(stats %.0f "${borrow[@]}")"
printf "plain  %9s tasks/s [%s-%s]\nborrow %9s tasks/s [%s-%s]\nratio borrow/plain %.3f (per round: median %s, range %s-%s; target >= 0.9; %d rounds, FERRY_PROGRESS=%s UCX_TLS=%s)\n" \
  "$pm" "$pl" "$ph" "$bm" "$bl" "$bh" "$(awk -v a="$bm" -v b="$pm" 'BEGIN {print a / b}')" "$rm" "$rl" "$rh" "$rounds" \
  "$FERRY_PROGRESS" "$UCX_TLS"
