#!/usr/bin/env bash
# launcher_cases.sh CASE — end-to-end checks of ferry-run and of the bootstrap under real launchers.
# Needs: FERRY_RUN (ferry-run), PROBE (ferry_launcher_probe), MPI_PROBE (ferry_launcher_mpi_probe,
# only for the MPI cases). The srun case starts a private Slurm with scripts/slurm-local-up.sh.
# Exit 0 = pass, 1 = fail (with the reason), 77 = skipped (with the reason). Every launch runs
# under `timeout`, so nothing here can hang; each case also checks how long it took.
set -uo pipefail
case_name=${1:?usage: launcher_cases.sh CASE}
: "${FERRY_RUN:?FERRY_RUN must point to ferry-run}" "${PROBE:?PROBE must point to ferry_launcher_probe}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 FERRY_BOOTSTRAP_TIMEOUT_MS=${FERRY_BOOTSTRAP_TIMEOUT_MS:-20000}
unset FERRY_BOOTSTRAP FERRY_RENDEZVOUS_DIR FERRY_RANK FERRY_SIZE
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-launcher-cases.XXXXXX")
cleanup_extra=:
trap 'eval "$cleanup_extra"; rm -rf "$work"' EXIT
out=$work/out err=$work/err

fail() { echo "FAIL [$case_name]: $*"; echo "--- stdout:"; cat "$out" 2>/dev/null; echo "--- stderr:"; cat "$err" 2>/dev/null; exit 1; }
skip() { echo "SKIP [$case_name]: $*"; exit 77; }
now_ms() { date +%s%3N; }
# run SECONDS cmd... : runs under timeout, stdout->$out, stderr->$err; sets rc and took_ms.
run() { local t=$1; shift; local t0; t0=$(now_ms); timeout "$t" "$@" >"$out" 2>"$err"; rc=$?; took_ms=$(( $(now_ms) - t0 )); }
expect_rc() { [[ $rc == "$1" ]] || fail "expected exit code $1, got $rc"; }
expect_faster() { (( took_ms < $1 )) || fail "took ${took_ms} ms, expected under $1 ms"; }
has() { grep -qF -- "$2" "$1" || fail "expected '$2' in $(basename "$1")"; }
has_not() { ! grep -qF -- "$2" "$1" || fail "did not expect '$2' in $(basename "$1")"; }
# Rank pids printed as "pid <n>" must be gone, with their whole process group (zombies waiting
# for init to reap them are dead already; allow 2 s for the kernel to finish SIGKILL delivery).
live_members() { local q st; for q in $(pgrep -g "$1" 2>/dev/null); do
  st=$(awk '{print $3}' "/proc/$q/stat" 2>/dev/null); [[ -z $st || $st == Z ]] || echo "$q:$st"; done; }
expect_gone() { local p n; for p in $(sed -n 's/.*pid \([0-9]*\)$/\1/p' "$out"); do
  n=40; while (( n-- > 0 )) && [[ -n $(live_members "$p") ]]; do sleep 0.05; done
  [[ -z $(live_members "$p") ]] || fail "process group $p still has live members: $(live_members "$p")"; done; }
# wait_for FILE TEXT COUNT SECONDS : bounded poll until TEXT appears COUNT times in FILE.
wait_for() { local n=$(( $4 * 20 )); while (( n-- > 0 )); do
  (( $(grep -cF -- "$2" "$1" 2>/dev/null || true) >= $3 )) && return 0; sleep 0.05; done; fail "timed out waiting for '$2'"; }
need_mpirun() { command -v mpirun >/dev/null || skip "mpirun is not installed"; }

case $case_name in
  probe3)  # 3 ranks, inherited launcher variables must not confuse detection
    PMIX_NAMESPACE=bogus PMIX_RANK=5 OMPI_COMM_WORLD_SIZE=7 SLURM_STEP_ID=0 SLURM_NTASKS=9 \
      run 60 "$FERRY_RUN" -n 3 "$PROBE"
    expect_rc 0
    for r in 0 1 2; do has "$out" "[$r] rank $r/3 via ferry-run (local rendezvous) ok"; done
    [[ $(grep -c ' ok$' "$out") == 3 ]] || fail "expected exactly 3 ok lines" ;;

  output)  # prefixes, stdout/stderr kept apart, partial last lines, long lines, --no-tag-output
    run 30 "$FERRY_RUN" -n 2 -- sh -c 'echo out$FERRY_RANK; echo err$FERRY_RANK >&2; printf "tail$FERRY_RANK"'
    expect_rc 0
    for r in 0 1; do has "$out" "[$r] out$r"; has "$out" "[$r] tail$r"; has "$err" "[$r] err$r"; done
    has_not "$out" "err0"; has_not "$err" "out0"
    run 30 "$FERRY_RUN" -n 1 -- sh -c 'head -c 200000 /dev/zero | tr "\0" x; echo; echo after'
    expect_rc 0
    [[ $(grep -c '^\[0\] x' "$out") -ge 2 ]] || fail "a 200 kB line should be forwarded in prefixed pieces"
    has "$out" "[0] after"
    run 30 "$FERRY_RUN" --no-tag-output -n 2 -- sh -c 'echo plain$FERRY_RANK'
    expect_rc 0
    grep -qx plain0 "$out" && grep -qx plain1 "$out" || fail "--no-tag-output should forward lines unchanged"
    echo from-stdin >"$work/in"
    run 30 "$FERRY_RUN" -n 2 -- sh -c 'cat; echo done' <"$work/in"  # stdin goes to rank 0 only
    expect_rc 0; has "$out" "[0] from-stdin"; has "$out" "[1] done"
    [[ $(grep -c from-stdin "$out") == 1 ]] || fail "only rank 0 should read ferry-run's stdin" ;;

  environment)  # what a rank sees; launcher variables stripped; rendezvous dir removed afterwards
    PMIX_NAMESPACE=x PMIX_RANK=0 PMI_RANK=1 OMPI_COMM_WORLD_SIZE=4 OMPI_MCA_foo=1 FERRY_BOOTSTRAP=single \
      FERRY_RANK=7 FERRY_TRANSPORT=ucx run 30 "$FERRY_RUN" -n 2 --transport tcp -- \
      sh -c 'env | grep -E "^(FERRY_|PMIX_|PMI_|OMPI_)" | sort; test -d "$FERRY_RENDEZVOUS_DIR" && echo dir-exists'
    expect_rc 0
    for r in 0 1; do
      for v in FERRY_RANK=$r FERRY_SIZE=2 FERRY_LOCAL_RANK=$r FERRY_LOCAL_SIZE=2 FERRY_TRANSPORT=tcp \
               OMPI_ALLOW_RUN_AS_ROOT=1 dir-exists; do has "$out" "[$r] $v"; done
    done
    for v in PMIX_ PMI_RANK OMPI_COMM_WORLD OMPI_MCA FERRY_BOOTSTRAP= FERRY_RANK=7 FERRY_TRANSPORT=ucx; do has_not "$out" "$v"; done
    dir=$(sed -n 's/^\[0\] FERRY_RENDEZVOUS_DIR=//p' "$out")
    [[ -n $dir && ! -e $dir ]] || fail "rendezvous dir '$dir' should have been removed" ;;

  exit_status)  # rank 1 exits 3: ferry-run exits 3 at once, sleeping ranks killed with their children
    run 30 "$FERRY_RUN" -n 3 -- sh -c 'echo pid $$; if [ "$FERRY_RANK" = 1 ]; then sleep 0.3; exit 3; fi; sleep 30'
    expect_rc 3; expect_faster 5000
    grep -qE '^ferry-run: rank 1 \(pid [0-9]+\) exited with status 3; killing the remaining 2 rank\(s\)$' "$err" ||
      fail "missing the one-line failure report"
    [[ $(grep -c '^ferry-run:' "$err") == 1 ]] || fail "expected exactly one ferry-run line"
    expect_gone ;;

  killed_by_signal)  # a rank dies by SIGKILL: exit 128+9
    run 30 "$FERRY_RUN" -n 2 -- sh -c 'echo pid $$; if [ "$FERRY_RANK" = 1 ]; then sleep 0.3; kill -KILL $$; fi; sleep 30'
    expect_rc 137; expect_faster 5000
    has "$err" "was killed by signal 9 (Killed); killing the remaining 1 rank(s)"
    expect_gone ;;

  timeout)
    run 30 "$FERRY_RUN" --timeout 1 -n 2 -- sh -c 'echo pid $$; sleep 30'
    expect_rc 124; expect_faster 6000
    (( took_ms >= 900 )) || fail "the timeout fired after only $took_ms ms"
    has "$err" "timeout of 1 s expired"
    expect_gone ;;

  missing_program)  # not found / not executable / exec failure in the child: 127, no hang
    run 10 "$FERRY_RUN" -n 2 ferry-no-such-program-xyz
    expect_rc 127; expect_faster 3000; has "$err" "not found in PATH"
    printf 'not a program\n' >"$work/plain"
    run 10 "$FERRY_RUN" -n 2 "$work/plain"
    expect_rc 127; has "$err" "not executable"
    printf '#!/nonexistent/interpreter\n' >"$work/badinterp"; chmod +x "$work/badinterp"
    run 10 "$FERRY_RUN" -n 2 "$work/badinterp"
    expect_rc 127; expect_faster 5000; has "$err" "cannot execute" ;;

  usage)
    run 10 "$FERRY_RUN" -n 0 true; expect_rc 2
    run 10 "$FERRY_RUN" -n 2; expect_rc 2; has "$err" "no program given"
    run 10 "$FERRY_RUN" --transport pigeon -n 1 true; expect_rc 2
    run 10 "$FERRY_RUN" -n 1 -- true; expect_rc 0 ;;

  signals)  # SIGTERM to ferry-run reaches the ranks; ranks ignoring it get SIGKILL after the grace
    t0=$(now_ms)
    timeout 30 "$FERRY_RUN" -n 2 -- sh -c 'trap "echo got-term; exit 0" TERM; echo pid $$; while :; do sleep 0.05; done' \
      >"$out" 2>"$err" & fr=$!
    cleanup_extra="kill -KILL $fr 2>/dev/null"
    wait_for "$out" "pid " 2 10
    kill -TERM "$(pgrep -P "$fr")"; wait "$fr"; rc=$?; took_ms=$(( $(now_ms) - t0 ))
    expect_rc 143; expect_faster 8000
    has "$out" "[0] got-term"; has "$out" "[1] got-term"; has "$err" "received SIGTERM; forwarding it to 2 rank(s)"
    expect_gone
    timeout 30 "$FERRY_RUN" -n 2 -- sh -c 'trap "" INT TERM; echo pid $$; while :; do sleep 0.05; done' \
      >"$out" 2>"$err" & fr=$!
    cleanup_extra="kill -KILL $fr 2>/dev/null"
    wait_for "$out" "pid " 2 10
    t0=$(now_ms); kill -INT "$(pgrep -P "$fr")"; wait "$fr"; rc=$?; took_ms=$(( $(now_ms) - t0 ))
    expect_rc 137; expect_faster 6000
    (( took_ms >= 1500 )) || fail "SIGKILL came after $took_ms ms, before the grace period"
    has "$err" "ms after SIGINT; sending SIGKILL"
    expect_gone ;;

  stalled_rank)  # the local rendezvous fails cleanly when a rank never arrives
    FERRY_BOOTSTRAP_TIMEOUT_MS=1000 run 30 "$FERRY_RUN" -n 2 "$PROBE" --stall-rank 1 --stall-seconds 20
    expect_rc 1; expect_faster 8000
    has "$err" "[0] probe 0/2: FAILED"; has "$err" "bootstrap_failed"; has "$err" "ranks [1] did not arrive" ;;

  mpirun_probe)  # PMIx path under Open MPI's mpirun
    need_mpirun
    run 60 mpirun --oversubscribe -n 2 "$PROBE"
    expect_rc 0
    for r in 0 1; do has "$out" "rank $r/2 via PMIx (mpirun) ok"; done ;;

  mpirun_mpi_probe)
    need_mpirun; : "${MPI_PROBE:?MPI_PROBE must point to ferry_launcher_mpi_probe}"
    run 60 mpirun --oversubscribe -n 3 "$MPI_PROBE"
    expect_rc 0
    for r in 0 1 2; do has "$out" "rank $r/3 via MPI communicator ok"; done ;;

  mpirun_pmix_timeout)  # a PMIx fence bounded by PMIX_TIMEOUT
    need_mpirun
    run 60 mpirun --oversubscribe -n 2 -x FERRY_BOOTSTRAP_TIMEOUT_MS=2000 "$PROBE" --stall-rank 1 --stall-seconds 25
    [[ $rc != 0 ]] || fail "mpirun should fail when a rank stalls"
    expect_faster 15000
    has "$err" "probe 0/2: FAILED"; has "$err" "bootstrap_failed"; has "$err" "PMIx_Fence" ;;

  srun)  # one-node Slurm from the recipes: PMIx under srun, the no-PMIx error, ferry-run inside srun
    recipes=$(cd "$(dirname "$0")/../../scripts" && pwd)
    [[ $(id -u) == 0 ]] || skip "the private Slurm needs root"
    command -v slurmctld >/dev/null && command -v srun >/dev/null || skip "Slurm is not installed"
    port=$(bash "$recipes/free-port-pair.sh") || fail "no free port pair for Slurm"
    export SLURM_LOCAL_DIR=/tmp/ferry-launcher-slurm.$$ SLURM_LOCAL_PORT=$port
    export SLURM_CONF=$SLURM_LOCAL_DIR/etc/slurm.conf
    cleanup_extra='timeout 60 bash "$recipes/slurm-local-down.sh" >/dev/null 2>&1'
    timeout 60 bash "$recipes/slurm-local-up.sh" >"$out" 2>"$err" || fail "slurm-local-up.sh failed"
    srun_() { run 60 srun --overcommit --immediate=30 "$@"; }
    srun_ --mpi=pmix -n 2 "$PROBE"
    expect_rc 0; for r in 0 1; do has "$out" "rank $r/2 via PMIx (srun) ok"; done
    srun_ --mpi=none -n 2 "$PROBE"
    [[ $rc != 0 ]] || fail "srun --mpi=none must not succeed"
    has "$err" "use srun --mpi=pmix"
    srun_ --mpi=pmix -n 1 "$FERRY_RUN" -n 2 "$PROBE"
    expect_rc 0; for r in 0 1; do has "$out" "rank $r/2 via ferry-run (local rendezvous) ok"; done
    if [[ -n ${MPI_PROBE:-} ]]; then
      srun_ --mpi=pmix -n 2 "$MPI_PROBE"
      expect_rc 0; for r in 0 1; do has "$out" "rank $r/2 via MPI communicator ok"; done
    fi ;;

  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo "PASS [$case_name] (${took_ms:-?} ms for the last launch)"
