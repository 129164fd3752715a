#!/usr/bin/env bash
# data-limits.sh — bulk-data figures of ferry beside their limits, same machine, same run, ROUNDS times:
#   obj_get_64MiB_GBps        get() of a fresh 64 MiB object into a fresh vector (ferry_bench_object
#                             remote_get) vs ucx_perftest ucp_get 64 MiB; target >= 0.8
#   obj_get_64MiB_notun_GBps  the same without glibc.malloc.hugetlb (FERRY_MALLOC_TUNING=n: what
#                             mpirun/srun ranks get) vs the same ucp_get
#   obj_get_vs_fresh_copy     the same get() vs a plain copy of 64 MiB into a fresh vector prepared like
#                             get()'s result (fresh_value_copy: the page-fault floor of any get into a
#                             fresh value, which ucp_get into its reused buffer does not pay)
#   obj_view_64MiB_GBps       the zero-copy view() of the same objects vs the same ucp_get (for information)
#   store_first_over_later_*  a job's first pass through 1 GiB of its store (put + get + drop of 64 MiB
#                             objects, ferry_bench_store_first_use) over its later passes; target <= 1.2;
#                             shm = UCX-allocated shared-memory arena (FERRY_UCX_ALLOCATE=y) with FERRY_STORE_PREFAULT=0,
#                             shm_prefault = the same with the default prefaulter, anon_thp = anonymous
#                             arena with huge pages (FERRY_UCX_ALLOCATE=n); "init_ms" rows give start-up
#   plain_first_ms_thp / _4k  the same first-over-later ratio for plain anonymous memory (ferry_first_touch:
#                             mmap + memset, no ferry), with and without MADV_HUGEPAGE: the machine's floor
#   tcp_get_64MiB_GBps        UCX_TLS=tcp: the transport's one-sided get of 64 MiB (ferry_bench_transport)
#   tcp_view_64MiB_GBps       UCX_TLS=tcp: view() of a fresh 64 MiB object
#   tcpbackend_get_64MiB_GBps FERRY_TRANSPORT=tcp: the transport's get of 64 MiB
#                             ... each against Open MPI over TCP (ferry_mpi_bw, --mca btl tcp,self), target >= 0.9
# Each line: name ferry limit ratio ratio_range target met (medians over rounds; ratio = median of the
# per-round ratios). Usage: bench/data-limits.sh [BUILD_DIR]   Env: ROUNDS (3), MIN_TIME (0.3), STORE_MIB (1024)
# A full run takes ~2-3 min on an idle 2-core machine; MIN_TIME=0.01 ROUNDS=1 STORE_MIB=256 checks the script.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
ROUNDS=${ROUNDS:-3} MIN_TIME=${MIN_TIME:-0.3} STORE_MIB=${STORE_MIB:-1024}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "data-limits: ROUNDS must be a positive integer" >&2; exit 2; }
RUN="$BUILD/launcher/ferry-run" OBJ="$BUILD/bench/ferry_bench_object" TB="$BUILD/bench/ferry_bench_transport"
FIRST="$BUILD/bench/ferry_bench_store_first_use" MPIBW="$BUILD/bench/ferry_mpi_bw"
for f in "$RUN" "$OBJ" "$TB" "$FIRST"; do [[ -x $f ]] || { echo "data-limits: $f not built" >&2; exit 2; }; done
command -v ucx_perftest >/dev/null || { echo "data-limits: ucx_perftest missing (apt-get install ucx-utils)" >&2; exit 2; }
have_mpi=1; { [[ -x $MPIBW ]] && command -v mpirun >/dev/null; } || have_mpi=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 UCX_WARN_UNUSED_ENV_VARS=n
export FERRY_PROGRESS=${FERRY_PROGRESS:-busy}
SHM_TLS=posix,sysv,cma,self
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
PORT=$((20000 + RANDOM % 20000))

# perftest OUT TLS: ucp_get of 64 MiB -> "<GB/s>" in OUT (nan on failure)
perftest() {
  local out=$1 srv final; PORT=$((PORT + 1))
  UCX_TLS=$2 timeout 120 ucx_perftest -p "$PORT" >/dev/null 2>&1 & srv=$!
  for _ in $(seq 50); do [[ $(ss -ltn "sport = :$PORT" 2>/dev/null) == *LISTEN* ]] && break; sleep 0.1; done
  final=$(UCX_TLS=$2 timeout 120 ucx_perftest 127.0.0.1 -p "$PORT" -t ucp_get -s 67108864 -n 40 -w 5 2>&1 | grep '^Final:' | tail -1) || true
  wait "$srv" || true
  # Final: iters typical avg max bw_typical(MB/s) bw_avg(MB/s) ...; MB = 2^20 bytes
  if [[ -n $final ]]; then awk '{printf "%.4f\n", $(NF-2) * 1048576 / 1e9}' <<<"$final" >"$out"; else echo nan >"$out"; fi
}
# gbench OUT ENV... -- BIN FILTER: one ferry benchmark under ferry-run -n 2 -> JSON in OUT
gbench() {
  local out=$1 envs=(); shift
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 600 "$RUN" -n 2 --no-tag-output -- "$1" --benchmark_filter="$2" --benchmark_format=json \
    --benchmark_out="$out" --benchmark_out_format=json --benchmark_min_time="$MIN_TIME" >"$out.log" 2>&1 \
    || { tail -20 "$out.log" >&2; echo '{"benchmarks": []}' >"$out"; }
}
# first_use OUT ENV...: store_first_use summary line -> OUT
first_use() {
  local out=$1; shift
  env "$@" FERRY_STORE_BYTES=$((STORE_MIB + 256))M timeout 600 "$RUN" -n 1 --no-tag-output -- "$FIRST" "$STORE_MIB" 3 \
    >"$out.log" 2>&1 || tail -5 "$out.log" >&2
  grep 'summary' "$out.log" >"$out" || echo "" >"$out"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) host=$(hostname) cores=$(nproc) rounds=$ROUNDS load=$(cut -d' ' -f1-3 /proc/loadavg)" \
  "thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null) shmem_thp=$(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null)"
[[ $have_mpi == 1 ]] || echo "# ferry_mpi_bw or mpirun missing: TCP rows have no limit"
for ((r = 1; r <= ROUNDS; r++)); do
  d="$TMP/r$r"; mkdir -p "$d"
  perftest "$d/ucp_get_shm" "$SHM_TLS"
  gbench "$d/obj.json" UCX_TLS=$SHM_TLS FERRY_TRANSPORT=ucx FERRY_STORE_BYTES=2G -- "$OBJ" '(remote_get|remote_view|fresh_value_copy)/67108864'
  gbench "$d/obj_notun.json" UCX_TLS=$SHM_TLS FERRY_TRANSPORT=ucx FERRY_STORE_BYTES=2G FERRY_MALLOC_TUNING=n -- "$OBJ" 'remote_get/67108864'
  first_use "$d/first_shm" UCX_TLS=$SHM_TLS FERRY_TRANSPORT=ucx FERRY_UCX_ALLOCATE=y FERRY_STORE_PREFAULT=0
  first_use "$d/first_shm_prefault" UCX_TLS=$SHM_TLS FERRY_TRANSPORT=ucx FERRY_UCX_ALLOCATE=y
  first_use "$d/first_anon_thp" UCX_TLS=$SHM_TLS FERRY_TRANSPORT=ucx FERRY_UCX_ALLOCATE=n
  "$BUILD/bench/ferry_first_touch" "$STORE_MIB" 1 >"$d/touch_thp" 2>&1 || true
  "$BUILD/bench/ferry_first_touch" "$STORE_MIB" 0 >"$d/touch_4k" 2>&1 || true
  gbench "$d/tcp_get.json" UCX_TLS=tcp FERRY_TRANSPORT=ucx FERRY_PROGRESS=blocking -- "$TB" 'get/67108864'
  gbench "$d/tcp_view.json" UCX_TLS=tcp FERRY_TRANSPORT=ucx FERRY_PROGRESS=blocking FERRY_STORE_BYTES=2G -- "$OBJ" 'remote_view/67108864'
  gbench "$d/tcpb_get.json" FERRY_TRANSPORT=tcp FERRY_PROGRESS=blocking -- "$TB" 'get/67108864'
  if [[ $have_mpi == 1 ]]; then
    timeout 300 mpirun --oversubscribe --mca btl tcp,self --mca pml ob1 -n 2 "$MPIBW" 67108864 10 2 >"$d/mpi_tcp" 2>&1 || true
  fi
  echo "# round $r of $ROUNDS done" >&2
done

python3 - "$TMP" "$ROUNDS" <<'PY'
import json, os, re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
nan = float("nan")
def gb(path, name):
    try:
        for b in json.load(open(path))["benchmarks"]:
            if re.sub(r"/min_warmup_time:[^/]*", "", b["name"]) == name and "bytes_per_second" in b:
                return b["bytes_per_second"] / 1e9
    except (OSError, ValueError, KeyError):
        pass
    return nan
def num(path):
    try:
        return float(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return nan
def field(path, key):
    try:
        m = re.search(r"\b%s=([0-9.]+)" % key, open(path).read())
        return float(m.group(1)) if m else nan
    except OSError:
        return nan
def rows(d):
    p = lambda n: os.path.join(d, n)
    ucp = num(p("ucp_get_shm"))
    mpi = field(p("mpi_tcp"), "GBps")
    out = [("obj_get_64MiB_GBps", gb(p("obj.json"), "remote_get/67108864/real_time"), ucp, 0.8, False),
           ("obj_get_64MiB_notun_GBps", gb(p("obj_notun.json"), "remote_get/67108864/real_time"), ucp, 0.8, False),
           ("obj_get_vs_fresh_copy", gb(p("obj.json"), "remote_get/67108864/real_time"),
            gb(p("obj.json"), "fresh_value_copy/67108864/real_time"), None, False),
           ("obj_view_64MiB_GBps", gb(p("obj.json"), "remote_view/67108864/real_time"), ucp, None, False)]
    for k in ("shm", "shm_prefault", "anon_thp"):
        f = p("first_" + k)
        out.append(("store_first_ms_" + k, field(f, "first_ms"), field(f, "later_ms"), 1.2, True))
        out.append(("store_init_ms_" + k, field(f, "init_ms"), nan, None, True))
    for k in ("thp", "4k"):  # the same first/later ratio of plain memory, no ferry: the machine's floor
        f = p("touch_" + k)
        out.append(("plain_first_ms_" + k, field(f, "first_ms"), field(f, "later_ms"), None, True))
    out += [("tcp_get_64MiB_GBps", gb(p("tcp_get.json"), "get/67108864/real_time"), mpi, 0.9, False),
            ("tcp_view_64MiB_GBps", gb(p("tcp_view.json"), "remote_view/67108864/real_time"), mpi, 0.9, False),
            ("tcpbackend_get_64MiB_GBps", gb(p("tcpb_get.json"), "get/67108864/real_time"), mpi, 0.9, False)]
    return out
per = [rows(os.path.join(tmp, "r%d" % k)) for k in range(1, rounds + 1)]
def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else nan
print("%-26s %10s %10s %7s %13s  %-8s %s" % ("name", "ferry", "limit", "ratio", "ratio_range", "target", "met"))
for i, (name, _, _, target, lower) in enumerate(per[0]):
    fs = [r[i][1] for r in per]; ls = [r[i][2] for r in per]
    ratios = [f / l for f, l in zip(fs, ls) if f == f and l == l and l > 0]
    ratio = med(ratios)
    rng = "%.2f..%.2f" % (min(ratios), max(ratios)) if ratios else "-"
    fr = "%.2f..%.2f" % (min(x for x in fs if x == x), max(x for x in fs if x == x)) if any(x == x for x in fs) else "-"
    tgt, met = "-", ""
    if target is not None and ratio == ratio:
        tgt = ("<= " if lower else ">= ") + "%g" % target
        met = "yes" if (ratio <= target if lower else ratio >= target) else "no"
    print("%-26s %10.3f %10.3f %7.2f %13s  %-8s %s   (ferry range %s)" % (name, med(fs), med(ls), ratio, rng, tgt, met, fr))
print("# limits: obj_* (but obj_get_vs_fresh_copy: fresh_value_copy): ucx_perftest ucp_get 64 MiB over %s; store_first_ms_*: the later passes of the same"
      " process (ms, lower is better); tcp*: Open MPI 64 MiB receive over btl tcp (ferry_mpi_bw)" % "posix,sysv,cma,self")
PY
