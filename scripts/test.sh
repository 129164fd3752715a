#!/usr/bin/env bash
# test.sh — run the whole test suite (unit, conformance over every transport setting, launchers).
# Usage: bash scripts/test.sh [extra ctest args]   (builds first if needed; run setup.sh once before)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d build ]] || { cmake -S . -B build -G Ninja >/dev/null; }
cmake --build build -j "$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Each test has its own TIMEOUT; --timeout is the backstop for any that lacks one.
ctest --test-dir build --output-on-failure --timeout 600 "$@"
