#!/usr/bin/env bash
# setup.sh — install dependencies, build ferry into ./build, and run the ping example on 2 ranks
# with the embedded launcher (ferry-run -n 2). Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
echo "--- example: build/launcher/ferry-run -n 2 build/examples/ferry_ping"
timeout 120 build/launcher/ferry-run -n 2 build/examples/ferry_ping
