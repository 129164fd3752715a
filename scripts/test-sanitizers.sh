#!/usr/bin/env bash
# test-sanitizers.sh — bounded sanitizer runs of the tests (CI: scripts/test.sh runs asan and tsan).
#   build-asan: clang -O1 -g1 -fsanitize=address,undefined; unit, objstore, runtime unit and
#               in-process tests (the loopback simulation included), the security tests and the
#               TCP-backend multi-process suites (conformance.tcp, runtime.objects.tcp, runtime.spill.tcp; UCX itself
#               is not instrumented).
#   build-tsan: clang -O1 -g1 -fsanitize=thread; the in-process tests only (runtime unit, in-process,
#               fault tolerance and actor faults: N runtimes as threads over the loopback
#               transport, the simulation).
#   fuzz:       scripts/fuzz.sh (each fuzz target FERRY_FUZZ_SECONDS, default 5).
# Usage: bash scripts/test-sanitizers.sh [--build-only] [asan] [tsan] [fuzz]   (default: all three)
#   --build-only: configure and build the parts' targets, run nothing (scripts/test.sh builds them
#   beside the main suite at SCHED_IDLE priority, then runs this again for the tests).
# Any sanitizer report fails the test that triggered it (halt_on_error / -fno-sanitize-recover).
# Time budget: FERRY_SANITIZER_BUDGET_S (default 1200) bounds all parts together, builds included
# (fresh builds in CI: no ccache there); what is still running when it runs out is stopped and the
# run fails naming the part, so a slower suite shows up as a failure rather than a longer CI.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=false
if [[ ${1:-} == --build-only ]]; then
  build_only=true
  shift
fi
parts=("$@")
((${#parts[@]})) || parts=(asan tsan fuzz)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
# Stress tests move a quarter of their bytes and run a quarter of their seeds (ferry_test/volume.h):
# instrumented code and fresh pages make volume slow here, and every path is still taken.
export FERRY_TEST_VOLUME=${FERRY_TEST_VOLUME:-0.25}
# UCX's memory hooks (libucm: mmap/madvise relocation) crash under the sanitizers' own
# interceptors (seen: SIGSEGV in ucm_madvise from TSan's rwlock interceptor at thread start).
export UCX_MEM_MMAP_HOOK_MODE=none UCX_MEM_MALLOC_HOOKS=no UCX_MEM_EVENTS=no

# clang (scripts/deps.sh installs clang-14 and its sanitizer runtimes): it compiles the
# instrumented code several times faster than GCC, whose UBSan instrumentation alone costs ~40 %.
# FERRY_SANITIZER_CXX overrides; GCC is used when no clang is installed (outside CI).
CXX_SAN=${FERRY_SANITIZER_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
if [[ -z $CXX_SAN ]]; then
  [[ ${CI:-} == true ]] && { echo "sanitizers: clang++ not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
  CXX_SAN=$(command -v g++ || command -v c++)
fi
CC_SAN=${CXX_SAN/clang++/clang}
[[ $CC_SAN != "$CXX_SAN" ]] || CC_SAN=$(command -v gcc || command -v cc)
configure() {  # dir sanitizers
  if [[ -f $1/build.ninja ]]; then  # reused unless it was configured with another compiler
    grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=$CXX_SAN\$" "$1/CMakeCache.txt" && return
    rm -rf "$1"
  fi
  CC=$CC_SAN CXX=$CXX_SAN cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1 -g1" \
    -DFERRY_SANITIZE="$2" -DFERRY_BUILD_BENCH=OFF -DFERRY_BUILD_EXAMPLES=OFF -DFERRY_WITH_MPI=OFF >/dev/null
}

budget=${FERRY_SANITIZER_BUDGET_S:-1200}
left() { echo $((budget - SECONDS)); }
bounded() {  # bounded NAME CMD...: CMD within what is left of the budget
  local name=$1 rc=0
  shift
  (($(left) > 0)) || { echo "sanitizers: $name: the ${budget} s budget (FERRY_SANITIZER_BUDGET_S) is used up" >&2; return 1; }
  timeout --kill-after=10 "$(left)" "$@" || rc=$?
  ((rc != 124 && rc != 137)) || echo "sanitizers: $name: stopped at the ${budget} s budget (FERRY_SANITIZER_BUDGET_S)" >&2
  return "$rc"
}

run_part() {  # name dir sanitizers include-regex exclude-regex targets...
  local name=$1 dir=$2 san=$3 regex=$4 exclude=$5
  shift 5
  local t0=$SECONDS
  configure "$dir" "$san"
  bounded "$name build" cmake --build "$dir" -j "$(nproc)" --target "$@" || return 1
  local t1=$SECONDS
  if $build_only; then
    echo "sanitizers: $name built in $((t1 - t0)) s"
    return 0
  fi
  # Two at a time: the multi-process suites among them are RUN_SERIAL (they run alone).
  bounded "$name tests" ctest --test-dir "$dir" --output-on-failure --timeout 600 -j "$(nproc)" -R "$regex" \
    -E "$exclude" || return 1
  echo "sanitizers: $name done in $((SECONDS - t0)) s (build $((t1 - t0)) s, tests $((SECONDS - t1)) s)"
}

failed=()
for p in "${parts[@]}"; do
  case $p in
    asan) run_part asan build-asan address,undefined \
            '^(unit\.|objstore\.|runtime\.|security\.|conformance\.tcp$)' \
            '^runtime\.(objects\.(ucx|tcp\.)|spill\.ucx|tasks\.|borrow\.)|thread_safety|^security\.listeners' \
            ferry_unit ferry_objstore_test ferry_runtime_unit ferry_runtime_in_process ferry_runtime_objects \
            ferry_runtime_ft ferry_runtime_actor_faults ferry_runtime_spill ferry_security ferry_conformance \
            || failed+=(asan) ;;
    tsan) run_part tsan build-tsan thread '^runtime\.' '^runtime\.(objects|tasks|borrow|spill)\.|thread_safety' \
            ferry_runtime_unit ferry_runtime_in_process ferry_runtime_ft ferry_runtime_actor_faults || failed+=(tsan) ;;
    fuzz) if $build_only; then echo "sanitizers: fuzz built in 0 s (scripts/fuzz.sh builds its targets when run)"
          else bounded fuzz bash scripts/fuzz.sh "${FERRY_FUZZ_SECONDS:-5}" || failed+=(fuzz); fi ;;
    *) echo "test-sanitizers: unknown part '$p' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
((${#failed[@]} == 0)) || { echo "sanitizers: failed: ${failed[*]}" >&2; exit 1; }
