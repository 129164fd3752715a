#!/usr/bin/env bash
# install-consumer.sh BUILD_DIR SOURCE_DIR — installs the build into a temporary prefix, builds
# examples/out-of-tree against it with find_package(ferry) and, separately, with pkg-config, then runs
# both consumers on 2 ranks with the installed ferry-run. Bounded; cleans up.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
timeout 120 cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
timeout 300 cmake -S "$src/examples/out-of-tree" -B "$tmp/b" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
timeout 300 cmake --build "$tmp/b" >/dev/null
export FERRY_TRANSPORT=${FERRY_TRANSPORT:-tcp}
out=$(timeout 60 "$tmp/prefix/bin/ferry-run" -n 2 -- "$tmp/b/hello_ferry")
echo "$out"
[[ $(grep -c 'hello ok' <<<"$out") == 2 ]]
# pkg-config consumer
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig"
timeout 300 g++ -std=c++20 -O1 -o "$tmp/hello_pc" "$src/examples/out-of-tree/hello.cc" $(pkg-config --cflags --static --libs ferry)
out=$(timeout 60 "$tmp/prefix/bin/ferry-run" -n 2 -- "$tmp/hello_pc")
echo "$out"
[[ $(grep -c 'hello ok' <<<"$out") == 2 ]]
echo "PASS: find_package(ferry) and pkg-config consumers built and ran"
