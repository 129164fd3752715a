#!/usr/bin/env bash
# test.sh — run the whole test suite (unit, conformance over every transport setting, launchers).
# Usage: bash scripts/test.sh [extra ctest args]   (builds first if needed; run setup.sh once before)
# Needs nothing outside the repository: the one-node Slurm and the network-namespace hosts some tests
# use are started by scripts/slurm-local-up.sh and scripts/netns-up.sh (root needed for both).
# A test that cannot run here is reported skipped with its reason; under CI (CI=true) a skipped test
# fails the run unless it is labelled `optional` (scripts/check-skips.py).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d build ]] || { cmake -S . -B build -G Ninja >/dev/null; }
cmake --build build -j "$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p build/Testing  # (ctest makes it too, but the logs below are opened before it runs)
junit=$PWD/build/Testing/ctest-junit.xml
bg_junit=$PWD/build/Testing/ctest-junit-background.xml
rm -f "$junit" "$bg_junit"
# Each test has its own TIMEOUT; --timeout is the backstop for any that lacks one.
# The JUnit file keeps each test's output (up to 64 KiB; with --durations, per-case times): where time goes.
ctest_args=(--test-dir build --output-on-failure --timeout 600 --test-output-size-passed 65536)
rc=0
san_parts=()
sanitizers=${FERRY_SANITIZERS:-$([[ ${CI:-} == true ]] && echo on || echo off)}
if (($# == 0)) && [[ $sanitizers == on ]]; then
  read -ra san_parts <<<"${FERRY_SANITIZER_PARTS:-asan tsan}"
  # Their fresh builds (minutes of CPU) run at SCHED_IDLE beside the suite: they only get the CPU
  # the tests leave idle, and yield it to them at once. Their tests run after the suite (below).
  # Their budget starts with the suite, so they get twice the test phase's (FERRY_SANITIZER_BUDGET_S).
  FERRY_SANITIZER_BUDGET_S=$((2 * ${FERRY_SANITIZER_BUDGET_S:-1200})) \
    chrt --idle 0 bash scripts/test-sanitizers.sh --build-only "${san_parts[@]}" >build/Testing/sanitizer-build.log 2>&1 &
  san_build=$!
fi
juns=("$junit")
if (($# == 0)); then
  # The whole suite: the tests labelled `background` (they mostly wait: an idle driver) run in a
  # second ctest beside the main one, which runs the others one at a time.
  ctest "${ctest_args[@]}" -L '^background$' --output-junit "$bg_junit" >build/Testing/background.log 2>&1 &
  bg=$!
  ctest "${ctest_args[@]}" -LE '^background$' --output-junit "$junit" || rc=$?
  bg_rc=0
  wait "$bg" || bg_rc=$?
  echo "--- tests labelled background (build/Testing/background.log):"
  grep -E "Test +#|tests passed|tests failed|\*\*\*" build/Testing/background.log || true
  ((bg_rc == 0)) || rc=$bg_rc
  [[ ! -f $bg_junit ]] || juns+=("$bg_junit")
else
  ctest "${ctest_args[@]}" --output-junit "$junit" "$@" || rc=$?
fi
for j in "${juns[@]}"; do
  python3 scripts/check-skips.py "$j" build || { [[ $rc != 0 ]] || rc=1; }
  # Peer-failure declarations in the run's output: a heartbeat timeout outside the tests that stop,
  # starve or cut off a rank on purpose is a false positive of the failure detector, and fails the run.
  python3 scripts/peer-failures.py --strict "$j" || { [[ $rc != 0 ]] || rc=1; }
done
# Sanitizer legs (scripts/test-sanitizers.sh): ASan+UBSan of the unit, in-process and TCP
# multi-process tests, TSan of the in-process tests, each bounded by FERRY_SANITIZER_BUDGET_S.
# On by default under CI (CI=true), else with FERRY_SANITIZERS=on; only for a full run (no ctest
# arguments). FERRY_SANITIZER_PARTS picks the legs (default "asan tsan"; "fuzz" adds the fuzzers).
# Each leg's tests start as soon as its tree is built (the builds run one after another), so the
# first leg's tests run beside the next leg's build, which takes the CPU they leave idle.
if ((${#san_parts[@]})); then
  san_log=build/Testing/sanitizer-build.log
  for part in "${san_parts[@]}"; do
    while ! grep -q "^sanitizers: $part built" "$san_log" && kill -0 "$san_build" 2>/dev/null; do sleep 1; done
    if ! grep -q "^sanitizers: $part built" "$san_log"; then
      tail -40 "$san_log"
      echo "sanitizers: the $part build failed ($san_log)" >&2
      rc=1
      break
    fi
    grep -E "^sanitizers: $part built" "$san_log" || true
    bash scripts/test-sanitizers.sh "$part" || rc=1
  done
  wait "$san_build" || { echo "sanitizers: the builds failed ($san_log)" >&2; rc=1; }
fi
exit "$rc"
