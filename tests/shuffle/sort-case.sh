#!/usr/bin/env bash
# sort-case.sh LAUNCHER TRANSPORT NRANKS CASE
#   LAUNCHER:  ferry-run | mpirun | srun
#   TRANSPORT: ucx-tcp | ucx-shm | tcp
#   CASE:      uniform | skew        generate -> ferry-sort -> ferry-valsort (count, order, checksum)
#              store-full            a store that cannot hold what must be in it at once: ferry-sort
#                                    must stop with a message naming the sizes and FERRY_STORE_BYTES
#                                    (and exit non-zero), both through its estimate and
#                                    (--no-store-check, a map block larger than the store) through
#                                    the runtime
#              spill                 data twice the ranks' stores together, out of core through the
#                                    object store's spilling (FERRY_SPILL_DIR): completes, validates,
#                                    spilled (metrics) and leaves no spill files
#              spill-dir             the same through the shuffle's own --spill-dir files
# Sizes are small (a few MB, several rounds of maps). Every step is bounded. Exit 77 = skipped.
set -uo pipefail
launcher=$1 tl=$2 n=$3 case=$4
build=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must point to the build tree}
src=${FERRY_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
ferry_transport_setting "$tl"
export FERRY_PROGRESS=${FERRY_PROGRESS:-adaptive} FERRY_BOOTSTRAP_TIMEOUT_MS=60000
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/ferry-sort-test.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

case $launcher in
  ferry-run) launch() { timeout 150 "$build/launcher/ferry-run" -n "$n" --timeout 140 -- "$@"; } ;;
  mpirun)
    command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
    launch() { timeout 150 mpirun --oversubscribe -n "$n" -x FERRY_TRANSPORT -x UCX_TLS -x FERRY_PROGRESS \
                 -x FERRY_STORE_BYTES -x FERRY_BOOTSTRAP_TIMEOUT_MS "$@"; } ;;
  srun)
    recipes=$src/scripts
    command -v slurmctld >/dev/null && command -v munged >/dev/null ||
      { echo "SKIP: Slurm is not installed (slurmctld, munged: scripts/deps.sh)"; exit 77; }
    [[ $(id -u) == 0 ]] || { echo "SKIP: the private Slurm needs root"; exit 77; }
    port=$(bash "$recipes/free-port-pair.sh") || { echo "FAIL: no free port pair for Slurm"; exit 1; }
    export SLURM_LOCAL_DIR=/tmp/ferry-slurm-$$ SLURM_LOCAL_PORT=$port
    cleanup() { bash "$recipes/slurm-local-down.sh" >/dev/null 2>&1; rm -rf "$work"; }
    timeout 60 bash "$recipes/slurm-local-up.sh" >"$work/slurm.log" 2>&1 ||
      { cat "$work/slurm.log"; echo "FAIL: slurm-local-up"; exit 1; }
    export SLURM_CONF=$SLURM_LOCAL_DIR/etc/slurm.conf
    launch() { timeout 150 srun --mpi=pmix --overcommit --immediate=30 -n "$n" "$@"; } ;;
  *) echo "unknown launcher $launcher" >&2; exit 2 ;;
esac

fail() { echo "FAIL: $*"; exit 1; }
records=60000   # 6 MB
[[ $case == spill* ]] && records=120000
skew=; [[ $case == skew ]] && skew=--skew
launch "$build/shuffle/ferry-gensort" --output "$work/in" --records $records --files 3 --seed 7 $skew \
  >"$work/gen.log" 2>&1 || { rc=$?; cat "$work/gen.log"; fail "ferry-gensort exited $rc"; }
cat "$work/gen.log"
grep -q "ferry-gensort: $records records.* ok" "$work/gen.log" || fail "ferry-gensort printed no success line"

case $case in
  uniform|skew)
    # 512 KiB chunks: 12 maps, several rounds; partitions = ranks + 1 (a rank reduces two)
    launch "$build/shuffle/ferry-sort" --input "$work/in" --output "$work/out" --chunk 512K \
      --partitions $((n + 1)) --maps-per-round 2 >"$work/sort.log" 2>&1 || { rc=$?; cat "$work/sort.log"; fail "ferry-sort exited $rc"; }
    cat "$work/sort.log"
    grep -q "ferry-sort: $records records.* ok" "$work/sort.log" || fail "ferry-sort printed no success line"
    [[ $(ls "$work/out" | wc -l) == $((n + 1)) ]] || fail "expected $((n + 1)) output files, got $(ls "$work/out")"
    launch "$build/shuffle/ferry-valsort" --output "$work/out" --input "$work/in" --records $records \
      >"$work/val.log" 2>&1 || { rc=$?; cat "$work/val.log"; fail "ferry-valsort exited $rc (output invalid)"; }
    cat "$work/val.log"
    grep -q "ferry-valsort: $records records in $((n + 1)) file(s) in order, count and checksum equal the input's.* ok" \
      "$work/val.log" || fail "ferry-valsort printed no success line" ;;
  store-full)
    export FERRY_STORE_BYTES=2M
    launch "$build/shuffle/ferry-sort" --input "$work/in" --output "$work/out" --chunk 512K >"$work/sort.log" 2>&1
    rc=$?; cat "$work/sort.log"
    [[ $rc != 0 && $rc != 124 ]] || fail "ferry-sort with a 2 MiB store exited $rc (expected a clean error)"
    grep -q "object store cannot hold what this out-of-core sort needs at once: 5 MiB of records.* FERRY_STORE_BYTES gives 2 MiB; raise FERRY_STORE_BYTES" \
      "$work/sort.log" || fail "no message naming the sizes and the remedy"
    # One map's block (1 MiB, one partition) is larger than the whole 512 KiB store: no spilling helps.
    FERRY_STORE_BYTES=512K launch "$build/shuffle/ferry-sort" --input "$work/in" --output "$work/out" --chunk 1M \
      --partitions 1 --no-store-check >"$work/sort2.log" 2>&1
    rc=$?; cat "$work/sort2.log"
    [[ $rc != 0 && $rc != 124 ]] || fail "ferry-sort --no-store-check with a 2 MiB store exited $rc (expected an error)"
    grep -q "ferry-sort: error: .*store_full.*FERRY_STORE_BYTES" "$work/sort2.log" ||
      fail "the runtime's store_full error did not reach the user" ;;
  spill)
    # 2-3 ranks x 3 MiB < 11.4 MiB of records: out of core through the object store's spilling.
    export FERRY_STORE_BYTES=3M FERRY_SPILL_DIR=$work/spill FERRY_METRICS=$work/metrics
    mkdir -p "$work/spill" "$work/metrics"
    launch "$build/shuffle/ferry-sort" --input "$work/in" --output "$work/out" --chunk 128K \
      >"$work/sort.log" 2>&1 || { rc=$?; cat "$work/sort.log"; fail "ferry-sort (store spilling) exited $rc"; }
    cat "$work/sort.log"
    grep -q "ferry-sort: $records records.* ok" "$work/sort.log" || fail "ferry-sort printed no success line"
    [[ -z $(ls -A "$work/spill") ]] || fail "spill directories left behind: $(ls "$work/spill")"
    spills=$(cat "$work"/metrics/*.prom | awk '/^ferry_spills_total/ {s += $NF} END {print s + 0}')
    restores=$(cat "$work"/metrics/*.prom | awk '/^ferry_restores_total/ {s += $NF} END {print s + 0}')
    echo "spills $spills restores $restores"
    [[ $spills -gt 0 && $restores -gt 0 ]] || fail "the store did not spill and restore (spills $spills, restores $restores)"
    unset FERRY_METRICS
    launch "$build/shuffle/ferry-valsort" --output "$work/out" --input "$work/in" --records $records \
      >"$work/val.log" 2>&1 || { rc=$?; cat "$work/val.log"; fail "ferry-valsort exited $rc (output invalid)"; }
    cat "$work/val.log"
    grep -q "count and checksum equal the input's.* ok" "$work/val.log" || fail "ferry-valsort printed no success line" ;;
  spill-dir)
    export FERRY_STORE_BYTES=3M   # 2-4 ranks x 3 MiB < 11.4 MiB of records
    launch "$build/shuffle/ferry-sort" --input "$work/in" --output "$work/out" --chunk 256K --spill-dir "$work/spill" \
      >"$work/sort.log" 2>&1 || { rc=$?; cat "$work/sort.log"; fail "ferry-sort --spill-dir exited $rc"; }
    cat "$work/sort.log"
    grep -q "ferry-sort: $records records.* ok" "$work/sort.log" || fail "ferry-sort printed no success line"
    [[ -z $(ls -A "$work/spill") ]] || fail "spill files left behind: $(ls "$work/spill")"
    launch "$build/shuffle/ferry-valsort" --output "$work/out" --input "$work/in" --records $records \
      >"$work/val.log" 2>&1 || { rc=$?; cat "$work/val.log"; fail "ferry-valsort exited $rc (output invalid)"; }
    cat "$work/val.log"
    grep -q "count and checksum equal the input's.* ok" "$work/val.log" || fail "ferry-valsort printed no success line" ;;
  *) echo "unknown case $case" >&2; exit 2 ;;
esac
echo "PASS: $launcher $tl $n ranks $case"
