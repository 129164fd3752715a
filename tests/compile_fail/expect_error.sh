#!/usr/bin/env bash
# expect_error.sh CXX SOURCE_DIR FILE REGEX — a compile-fail test: FILE must NOT compile and the
# compiler's output must match REGEX (the remedy), and FILE with -DFERRY_COMPILE_OK must compile
# (so the failure comes from the mistake under test, not from the set-up). Exit 0 pass, 1 fail.
set -uo pipefail
cxx=${1:?usage: expect_error.sh CXX SOURCE_DIR FILE REGEX} src=$2 file=$3 regex=$4
flags=(-std=c++20 -fsyntax-only -I"$src/runtime/include" -I"$src/objstore/include" -I"$src/transport/include")
if ! ok=$("$cxx" "${flags[@]}" -DFERRY_COMPILE_OK "$file" 2>&1); then
  echo "FAIL: the control (-DFERRY_COMPILE_OK) of $file does not compile:"; echo "$ok"; exit 1
fi
if out=$("$cxx" "${flags[@]}" "$file" 2>&1); then
  echo "FAIL: $file compiled, but it must be rejected"; exit 1
fi
if ! grep -Eq -- "$regex" <<<"$out"; then
  echo "FAIL: the compiler's error for $file does not contain /$regex/:"; echo "$out" | head -40; exit 1
fi
echo "$out" | grep -E -m3 -- "$regex"
echo "PASS: $file is rejected with the remedy"
