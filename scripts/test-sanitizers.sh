#!/usr/bin/env bash
# test-sanitizers.sh — bounded sanitizer runs of the tests (CI calls it from test.sh).
#   build-asan: GCC -O1 -g -fsanitize=address,undefined; unit, objstore, runtime in-process
#               tests, the security tests and the TCP-backend multi-process suites
#               (conformance.tcp, runtime.objects.tcp; UCX itself is not instrumented).
#   build-tsan: GCC -O1 -g -fsanitize=thread; the in-process tests (unit, runtime
#               in-process, security: two TCP-backend ranks as threads).
#   then scripts/fuzz.sh (each fuzz target FERRY_FUZZ_SECONDS, default 5).
# Usage: bash scripts/test-sanitizers.sh [asan] [tsan] [fuzz]   (default: all three)
# Any sanitizer report fails the test that triggered it (halt_on_error / -fno-sanitize-recover).
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
((${#parts[@]})) || parts=(asan tsan fuzz)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
# UCX's memory hooks (libucm: mmap/madvise relocation) crash under the sanitizers' own
# interceptors (seen: SIGSEGV in ucm_madvise from TSan's rwlock interceptor at thread start).
export UCX_MEM_MMAP_HOOK_MODE=none UCX_MEM_MALLOC_HOOKS=no UCX_MEM_EVENTS=no

configure() {  # dir sanitizers
  [[ -f $1/build.ninja ]] && return
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1 -g" -DFERRY_SANITIZE="$2" \
    -DFERRY_BUILD_BENCH=OFF -DFERRY_BUILD_EXAMPLES=OFF -DFERRY_WITH_MPI=OFF >/dev/null
}

run_part() {  # name dir sanitizers include-regex exclude-regex targets...
  local name=$1 dir=$2 san=$3 regex=$4 exclude=$5
  shift 5
  local t0=$SECONDS
  configure "$dir" "$san"
  cmake --build "$dir" -j "$(nproc)" --target "$@"
  ctest --test-dir "$dir" --output-on-failure --timeout 600 -R "$regex" -E "$exclude"
  echo "sanitizers: $name done in $((SECONDS - t0)) s"
}

for p in "${parts[@]}"; do
  case $p in
    asan) run_part asan build-asan address,undefined \
            '^(unit\.|objstore\.|runtime\.|security\.|conformance\.tcp$)' \
            '^runtime\.(objects\.(ucx|tcp\.)|tasks\.)|thread_safety|^security\.listeners' \
            ferry_unit ferry_objstore_test ferry_runtime_unit ferry_runtime_objects ferry_security ferry_conformance ;;
    tsan) run_part tsan build-tsan thread '^(unit\.|runtime\.|security\.)' \
            '^runtime\.(objects|tasks)\.|thread_safety|^security\.listeners' \
            ferry_unit ferry_runtime_unit ferry_security ;;
    fuzz) bash scripts/fuzz.sh "${FERRY_FUZZ_SECONDS:-5}" ;;
    *) echo "test-sanitizers: unknown part '$p' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
