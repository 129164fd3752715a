#!/usr/bin/env bash
# fuzz.sh — build the libFuzzer targets (tests/fuzz) with clang in build-fuzz and run each.
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET (default 10)] [target ...]
#   Seeds come from tests/fuzz/corpus/<target> (read only); new inputs go to build-fuzz/corpus.
#   A crash leaves build-fuzz/crash-<target>-* and fails the script. Long campaigns: see tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(frame_header hello keys runtime_msgs task_records object_header actor_update)
CXX=${FERRY_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
if [[ -z $CXX ]]; then
  echo "fuzz: clang++ not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  [[ ${CI:-} == true ]] && exit 1  # required in CI: a missing compiler must not look like a pass
  exit 77
fi
CC=${CXX/clang++/clang}
if [[ ! -f build-fuzz/build.ninja ]]; then
  CC=$CC CXX=$CXX cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_FUZZ=ON \
    -DFERRY_BUILD_TESTS=OFF -DFERRY_BUILD_BENCH=OFF -DFERRY_BUILD_EXAMPLES=OFF -DFERRY_WITH_MPI=OFF >/dev/null
fi
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "fuzz: $t for ${secs}s"
  rc=0
  (cd build-fuzz && exec "./tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="crash-$t-" -print_final_stats=1 "corpus/$t" "../tests/fuzz/corpus/$t") \
    >"build-fuzz/fuzz_$t.log" 2>&1 || rc=$?
  grep -E "^Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb|cov: " "build-fuzz/fuzz_$t.log" | tail -3
  if ((rc != 0)); then
    grep -E "ERROR|SUMMARY|artifact" "build-fuzz/fuzz_$t.log" >&2 || true
    echo "fuzz: $t failed (exit $rc; log build-fuzz/fuzz_$t.log)" >&2
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets ran ${secs}s each, no crash"
