#!/usr/bin/env bash
# borrow-cost.sh BUILD_DIR [ROUNDS]
# The cost of borrowing on the async task rate: ferry_bench_borrow on 2 ranks (ferry-run, busy
# progress over shared memory unless FERRY_PROGRESS / UCX_TLS say otherwise), ROUNDS runs
# (default 5), each giving tasks/s of 1000-task batches whose argument is a 16-byte value (plain)
# or a ref the executor borrows (borrow). Prints both medians with ranges and the ratio
# borrow / plain of the medians (target: >= 0.9, i.e. at most 10 % below). ~1 min.
set -euo pipefail
build=${1:?usage: borrow-cost.sh BUILD_DIR [ROUNDS]}
rounds=${2:-5}
export FERRY_PROGRESS=${FERRY_PROGRESS:-busy} UCX_TLS=${UCX_TLS:-posix,sysv,cma,self}
bench="$build/bench/ferry_bench_borrow"
[[ -x $bench ]] || { echo "missing $bench (build target ferry_bench_borrow)" >&2; exit 1; }
stats() { printf "%s\n" "$@" | sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
  printf "%.0f %.0f %.0f", m, v[1], v[NR]}'; }
plain=() borrow=()
for ((r = 1; r <= rounds; ++r)); do
  out=$("$build/launcher/ferry-run" -n 2 --timeout 120 -- "$bench" --benchmark_format=csv \
        --benchmark_min_time=0.5 2>/dev/null | sed 's/^\[0\] //' | grep -E '^"(plain|borrow)/')
  # csv: name,iterations,real_time,cpu_time,time_unit,bytes_per_second,items_per_second,label,error_occurred,error_message,tasks_per_s
  p=$(awk -F, '/^"plain/ {print $NF}' <<<"$out") b=$(awk -F, '/^"borrow/ {print $NF}' <<<"$out")
  [[ -n $p && -n $b ]] || { echo "round $r: no result" >&2; exit 1; }
  plain+=("$p") borrow+=("$b")
  printf "round %d: plain %.0f tasks/s, borrow %.0f tasks/s\n" "$r" "$p" "$b"
done
read -r pm pl ph <<<"$(stats "${plain[@]}")"; read -r bm bl bh <<<"$(stats "${borrow[@]}")"
printf "plain  %9s tasks/s [%s-%s]\nborrow %9s tasks/s [%s-%s]\nratio borrow/plain %.3f (target >= 0.9; %d rounds, FERRY_PROGRESS=%s UCX_TLS=%s)\n" \
  "$pm" "$pl" "$ph" "$bm" "$bl" "$bh" "$(awk -v a="$bm" -v b="$pm" 'BEGIN {print a / b}')" "$rounds" \
  "$FERRY_PROGRESS" "$UCX_TLS"
