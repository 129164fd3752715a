#!/usr/bin/env bash
# test.sh — run the whole test suite (unit, conformance over every transport setting, launchers).
# Usage: bash scripts/test.sh [extra ctest args]   (builds first if needed; run setup.sh once before)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d build ]] || { cmake -S . -B build -G Ninja >/dev/null; }
cmake --build build -j "$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The one-node Slurm recipes live in ../shared beside the clone (CI has it); without them srun cases skip.
[[ -d ../shared/recipes ]] && export FERRY_SLURM_RECIPES=${FERRY_SLURM_RECIPES:-$(cd ../shared/recipes && pwd)}
# Each test has its own TIMEOUT; --timeout is the backstop for any that lacks one.
ctest --test-dir build --output-on-failure --timeout 600 "$@"
# Sanitizer builds (ASan+UBSan, TSan) of a bounded test set and short fuzz runs (scripts/test-sanitizers.sh),
# for a full run (no ctest arguments) with FERRY_SANITIZERS=on (its CI time is not measured yet).
if (($# == 0)) && [[ ${FERRY_SANITIZERS:-off} == on ]]; then bash scripts/test-sanitizers.sh; fi
