#!/usr/bin/env bash
# sort-vs-mpi.sh BUILD_DIR [ROUNDS]
# ferry-sort against the MPI_Alltoallv sample sort (bench/mpi_sample_sort.cc) on the same input in
# the same run, file to file for both (each program times itself from before its first read to
# after its last write). For each case "SIZE:RANKS" of $CASES (default "1G:2 1G:4 4G:2"): generate
# the input once (ferry-gensort, uniform keys), then ROUNDS times (default 3) run ferry-sort under
# ferry-run and the MPI sort under mpirun, alternating which goes first; the first round of each is validated
# (ferry-valsort: order, count, checksum against the input). Prints
#   size ranks ferry_s mpi_s ratio          (medians; ratio = ferry_s / mpi_s, target <= 1.0)
# and the ranges and per-round ratios on a "range" line. Data goes to $SORT_BENCH_DIR (default /tmp/ferry-sort-bench),
# removed at the end. Transport: $UCX_TLS (default posix,sysv,cma,self) for ferry, Open MPI's
# defaults for MPI; FERRY_STORE_BYTES is set from the size (2 x a rank's share + 256M) unless given.
set -euo pipefail
build=${1:?usage: sort-vs-mpi.sh BUILD_DIR [ROUNDS]}
rounds=${2:-3}
cases=${CASES:-"1G:2 1G:4 4G:2"}
dir=${SORT_BENCH_DIR:-/tmp/ferry-sort-bench}
export UCX_TLS=${UCX_TLS:-posix,sysv,cma,self} FERRY_TRANSPORT=${FERRY_TRANSPORT:-ucx}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 FERRY_BOOTSTRAP_TIMEOUT_MS=600000
trap 'rm -rf "$dir"' EXIT
bytes() { numfmt --from=iec "$1"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
span() { sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }

# seconds LOG SUMMARY KEY WHAT: shows LOG's SUMMARY lines on stderr and prints the value after
# KEY; exits naming WHAT when there is none (the run failed).
seconds() {
  grep -h "$2" "$1" | sed 's/^/# /' >&2 || true
  local t
  t=$(awk -v k="$3" '$0 ~ k {print $NF}' "$1")
  [[ -n $t ]] || { echo "$4 failed ($c round $r)" >&2; exit 1; }
  echo "$t"
}
# run_ferry / run_mpi: one timed run each into $dir/out-*, appending its seconds to fs / ms.
run_ferry() {
  FERRY_STORE_BYTES=$store "$build/launcher/ferry-run" -n "$n" -- "$build/shuffle/ferry-sort" \
    --input "$dir/in" --output "$dir/out-ferry" >"$dir/ferry.log" || true
  fs+=("$(seconds "$dir/ferry.log" 'ferry-sort:' sort_seconds ferry-sort)") || exit 1
}
run_mpi() {
  # The MPI ranks get the malloc setting ferry-run gives ferry's ranks (huge pages for large
  # buffers), so neither side pays 4 KiB first-touch faults the other does not.
  GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1} \
  mpirun --oversubscribe -x GLIBC_TUNABLES -n "$n" "$build/bench/ferry_mpi_sample_sort" --input "$dir/in" \
    --output "$dir/out-mpi" >"$dir/mpi.log" || true
  ms+=("$(seconds "$dir/mpi.log" 'mpi_sample_sort:' mpi_sort_seconds 'mpi sample sort')") || exit 1
}

printf "%-5s %5s %8s %8s %6s\n" size ranks ferry_s mpi_s ratio
for c in $cases; do
  size=${c%%:*} n=${c##*:}
  records=$(( $(bytes "$size") / 100 ))
  rm -rf "$dir"; mkdir -p "$dir"
  "$build/launcher/ferry-run" -n "$n" -- "$build/shuffle/ferry-gensort" --output "$dir/in" --records "$records" \
    --files "$n" >/dev/null
  store=${FERRY_STORE_BYTES:-$(( 2 * records * 100 / n + (256 << 20) ))}
  fs=() ms=()
  for r in $(seq "$rounds"); do
    rm -rf "$dir/out-ferry" "$dir/out-mpi"
    # Who runs first alternates: on a VM that hands freed memory back to the host, a program that
    # starts right after another one's exit reuses its warm pages, and the first after a pause
    # (generation, validation) pays a hypervisor fault per fresh page.
    if ((r % 2)); then run_ferry; run_mpi; else run_mpi; run_ferry; fi
    echo "# round $r: $size $n ranks: ferry ${fs[-1]} s, mpi ${ms[-1]} s" >&2
    if [[ $r == 1 ]]; then
      for o in out-ferry out-mpi; do
        "$build/launcher/ferry-run" -n "$n" -- "$build/shuffle/ferry-valsort" --output "$dir/$o" --input "$dir/in" \
          --records "$records" | grep -q ' ok$' || { echo "$o did not validate ($c)" >&2; exit 1; }
      done
    fi
  done
  f=$(printf "%s\n" "${fs[@]}" | median) m=$(printf "%s\n" "${ms[@]}" | median)
  printf "%-5s %5s %8.3f %8.3f %6.2f\n" "$size" "$n" "$f" "$m" "$(awk -v f="$f" -v m="$m" 'BEGIN {print f / m}')"
  pr=$(for i in "${!fs[@]}"; do awk -v f="${fs[$i]}" -v m="${ms[$i]}" 'BEGIN {printf "%.2f\n", f / m}'; done)
  echo "range $size $n: ferry $(printf "%s\n" "${fs[@]}" | span) s, mpi $(printf "%s\n" "${ms[@]}" | span) s over $rounds rounds;" \
    "per-round ratios $(echo "$pr" | span), median $(echo "$pr" | median)"
done
