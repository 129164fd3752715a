#!/usr/bin/env bash
# sort-out-of-core.sh BUILD_DIR [SIZE] [RANKS] [STORE]
# ferry-sort on more data than the object stores hold (default 10G of records, 2 ranks, a 1G store
# per rank), out of core through the object store's spilling (FERRY_SPILL_DIR=$SORT_BENCH_DIR/spill;
# SORT_OOC_MODE=spill-dir uses the shuffle's own --spill-dir files instead), validated, beside dd
# reading and writing the same bytes in the same run. An out-of-core sort's limit is about two passes over the disk (read + write everything
# twice); the dd figure is 2 x (dd read of the input files + dd write of as many bytes). Both write
# through the page cache (no fdatasync), and reads may be served from it in both. Prints
#   size ranks store ferry_s dd_two_pass_s ratio          (target: ratio <= 3)
# Data goes to $SORT_BENCH_DIR (default /tmp/ferry-sort-ooc; needs ~3x SIZE free), removed at the end.
set -euo pipefail
build=${1:?usage: sort-out-of-core.sh BUILD_DIR [SIZE] [RANKS] [STORE]}
size=${2:-10G} n=${3:-2} store=${4:-1G}
dir=${SORT_BENCH_DIR:-/tmp/ferry-sort-ooc}
export UCX_TLS=${UCX_TLS:-posix,sysv,cma,self} FERRY_TRANSPORT=${FERRY_TRANSPORT:-ucx} FERRY_BOOTSTRAP_TIMEOUT_MS=600000
trap 'rm -rf "$dir"' EXIT
records=$(( $(numfmt --from=iec "$size") / 100 ))
rm -rf "$dir"; mkdir -p "$dir"
"$build/launcher/ferry-run" -n "$n" -- "$build/shuffle/ferry-gensort" --output "$dir/in" --records "$records" \
  --files "$n" >/dev/null
mkdir -p "$dir/spill"
mode=(); [[ ${SORT_OOC_MODE:-store} == spill-dir ]] && mode=(--spill-dir "$dir/spill")
FERRY_STORE_BYTES=$store FERRY_SPILL_DIR=$dir/spill "$build/launcher/ferry-run" -n "$n" -- "$build/shuffle/ferry-sort" \
  --input "$dir/in" --output "$dir/out" "${mode[@]}" | tee "$dir/sort.log" >&2
ferry_s=$(awk '/sort_seconds/ {print $NF}' "$dir/sort.log")
[[ -n $ferry_s ]] || { echo "ferry-sort failed" >&2; exit 1; }
"$build/launcher/ferry-run" -n "$n" -- "$build/shuffle/ferry-valsort" --output "$dir/out" --input "$dir/in" \
  --records "$records" >"$dir/val.log" || true
cat "$dir/val.log" >&2
grep -q ' ok$' "$dir/val.log" || { echo "output did not validate" >&2; exit 1; }
rm -rf "$dir/out"
t0=$(date +%s.%N)
for f in "$dir"/in/*; do dd if="$f" of=/dev/null bs=4M status=none; done
dd if=/dev/zero of="$dir/dd-out" bs=4M count=$(( records * 100 / (4 << 20) )) status=none
t1=$(date +%s.%N)
dd_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", 2 * (b - a)}')
printf "%-5s %5s %5s %8s %13s %6s\n" size ranks store ferry_s dd_two_pass_s ratio
printf "%-5s %5s %5s %8.3f %13.3f %6.2f\n" "$size" "$n" "$store" "$ferry_s" "$dd_s" \
  "$(awk -v f="$ferry_s" -v d="$dd_s" 'BEGIN {print f / d}')"
