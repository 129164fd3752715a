#!/usr/bin/env bash
# spill-bandwidth.sh BUILD_DIR [ROUNDS] [STORE] [DIR]
# Spill write and restore bandwidth of the object store beside dd to the same directory, in the
# same run: per round, ferry_spill_bench (one rank, FERRY_STORE_BYTES=STORE, default 512M; spills
# about STORE of 32 MiB objects, then fdatasync of each spill file; then restores them) and dd writing as many bytes with
# conv=fdatasync and reading them back, ferry first in odd rounds and dd first in even ones. Prints
# per round (with the two ratios) and then, per direction, the median and range in MB/s over ROUNDS
# (default 5), the ratio of the medians (target: >= 0.8) and the per-round ratios' median and range.
# DIR (default $FERRY_SPILL_DIR, else $TMPDIR, else /tmp) must have ~2x STORE free; the bench's
# files are removed at the end. Takes well under 3 min with the defaults on an idle machine.
set -euo pipefail
build=${1:?usage: spill-bandwidth.sh BUILD_DIR [ROUNDS] [STORE] [DIR]}
rounds=${2:-5} store=${3:-512M}
dir=${4:-${FERRY_SPILL_DIR:-${TMPDIR:-/tmp}}}
work=$(mktemp -d "$dir/ferry-spill-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
bench="$build/bench/ferry_spill_bench"
[[ -x $bench ]] || { echo "missing $bench (build target ferry_spill_bench)" >&2; exit 1; }

mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.1f", b / s / 1e6}'; }
stats() {  # stats FORMAT VALUES...: median, min and max, each printed with FORMAT
  local fmt=$1; shift
  printf "%s\n" "$@" | sort -g | awk -v f="$fmt" '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
    printf f " " f " " f, m, v[1], v[NR]}'
}
fw=() dw=() fr=() dr=() do=() wq=() rq=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
printf "%5s %14s %14s %14s %14s %8s %8s\n" round spill_MBps dd_write_MBps restore_MBps dd_read_MBps w_ratio r_ratio
count=0  # dd's 4 MiB blocks: as many bytes as ferry spilled (the same every round)
run_ferry() {
  local line wbytes ws rbytes rs
  line=$(FERRY_STORE_BYTES=$store FERRY_SPILL_DIR=$work "$bench")
  read -r _ wbytes _ ws _ rbytes _ rs _ <<<"$line"
  fw+=("$(mbps "$wbytes" "$ws")") fr+=("$(mbps "$rbytes" "$rs")")
  count=$(( wbytes / (4 << 20) ))
}
run_dd() {
  local ddw ddr
  ddw=$(LC_ALL=C dd if=/dev/zero of="$work/dd.bin" bs=4M count="$count" conv=fdatasync 2>&1 | awk '/copied/ {print $(NF-3)}')
  ddr=$(LC_ALL=C dd if="$work/dd.bin" of=/dev/null bs=4M 2>&1 | awk '/copied/ {print $(NF-3)}')
  # The same read into a buffer of the objects' size (32 MiB): larger than this VM's caches, as a
  # restore's destination in the store is.
  ddo=$(LC_ALL=C dd if="$work/dd.bin" of=/dev/null bs=32M 2>&1 | awk '/copied/ {print $(NF-3)}')
  rm -f "$work/dd.bin"
  dw+=("$(mbps $((count * (4 << 20))) "$ddw")") dr+=("$(mbps $((count * (4 << 20))) "$ddr")")
  do+=("$(mbps $((count * (4 << 20))) "$ddo")")
}
# ferry first in odd rounds, dd first in even ones: on this VM whichever starts first after a
# pause meets colder memory (freed memory goes back to the host; bench/RESULTS.md, stop 19).
for ((r = 1; r <= rounds; ++r)); do
  if ((r % 2)); then run_ferry; run_dd; else run_dd; run_ferry; fi
  wq+=("$(ratio "${fw[-1]}" "${dw[-1]}")") rq+=("$(ratio "${fr[-1]}" "${dr[-1]}")")
  printf "%5d %14s %14s %14s %14s %8s %8s\n" "$r" "${fw[-1]}" "${dw[-1]}" "${fr[-1]}" "${dr[-1]}" "${wq[-1]}" "${rq[-1]}"
done
read -r fwm fwl fwh <<<"$(stats %.1f "${fw[@]}")"; read -r dwm dwl dwh <<<"$(stats %.1f "${dw[@]}")"
read -r frm frl frh <<<"$(stats %.1f "${fr[@]}")"; read -r drm drl drh <<<"$(stats %.1f "${dr[@]}")"
printf "\n%-8s %22s %22s %6s\n" what "ferry MB/s med [range]" "dd MB/s med [range]" ratio
printf "%-8s %8s [%s-%s] %9s [%s-%s] %6.2f\n" write "$fwm" "$fwl" "$fwh" "$dwm" "$dwl" "$dwh" \
  "$(awk -v a="$fwm" -v b="$dwm" 'BEGIN {print a / b}')"
printf "%-8s %8s [%s-%s] %9s [%s-%s] %6.2f\n" restore "$frm" "$frl" "$frh" "$drm" "$drl" "$drh" \
  "$(awk -v a="$frm" -v b="$drm" 'BEGIN {print a / b}')"
read -r wqm wql wqh <<<"$(stats %.2f "${wq[@]}")"; read -r rqm rql rqh <<<"$(stats %.2f "${rq[@]}")"
read -r dom dol doh <<<"$(stats %.1f "${do[@]}")"
echo "per-round ratios: write median $wqm [$wql-$wqh], restore median $rqm [$rql-$rqh]"
echo "dd read with bs=32M (the objects' size): $dom MB/s [$dol-$doh]; restore / that: $(ratio "$frm" "$dom")"
echo "($rounds rounds, store $store, directory $dir; target ratio >= 0.8)"
