#!/usr/bin/env python3
"""thread_safety.py CLANGXX SOURCE_DIR BUILD_DIR — clang's -Wthread-safety over every annotated file.

GCC ignores the FERRY_GUARDED_BY / FERRY_REQUIRES / ... annotations (thread_annotations.h), so this
test runs clang's analysis (syntax only) over every library source file that uses them, directly or
through a header it includes (transitively). The file list is computed, not written down: annotations
added anywhere in the libraries are checked without touching this test. Include paths and defines come
from BUILD_DIR/compile_commands.json. The files are checked in parallel, one clang per CPU.

The locks of the ownership core, the Core and the two task roles must stay annotated: REQUIRED names the headers
that must declare FERRY_GUARDED_BY members; one that no longer does fails the test (rather than
silently dropping out of the analysis).

Exit 0: every checked file is clean. Exit 1: a thread-safety warning (printed), a REQUIRED header
without annotations, or nothing to check.
Exit 77 (CTest SKIP_RETURN_CODE): clang++ is not installed (scripts/deps.sh installs it).
"""
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

MARKERS = re.compile(r"thread_annotations\.h|FERRY_(?:PT_)?GUARDED_BY|FERRY_REQUIRES|FERRY_EXCLUDES|"
                     r"FERRY_ACQUIRE|FERRY_RELEASE|FERRY_CAPABILITY|FERRY_SCOPED_CAPABILITY")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
LIBRARY_DIRS = ("transport", "objstore", "runtime", "launcher", "shuffle")  # tests, bench, examples: not analysed
SOURCE_EXT = (".h", ".hpp", ".cc", ".cpp")
REQUIRED = ("runtime/src/ownership.h", "runtime/src/core.h", "runtime/src/task_owner.h", "runtime/src/task_executor.h")
GUARDED = re.compile(r"FERRY_(?:PT_)?GUARDED_BY\(")


def library_files(src):
    for top in LIBRARY_DIRS:
        for root, _, names in os.walk(os.path.join(src, top)):
            for n in names:
                if n.endswith(SOURCE_EXT):
                    yield os.path.join(root, n)


def annotated_closure(files):
    """Files that use an annotation, plus every file that includes one of them (to a fixpoint)."""
    text = {}
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            text[f] = fh.read()
    marked = {f for f, t in text.items() if MARKERS.search(t)}
    while True:
        names = {os.path.basename(f) for f in marked}
        more = {f for f, t in text.items() if f not in marked and
                any(os.path.basename(i) in names for i in INCLUDE.findall(t))}
        if not more:
            return marked
        marked |= more


def flags_for(entry):
    """-I/-isystem/-D/-std flags of one compile_commands entry."""
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    keep, i = [], 1
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-D") and i + 1 < len(args):
            keep += [a, args[i + 1]]
            i += 2
            continue
        if a.startswith(("-I", "-isystem", "-D", "-std=")):
            keep.append(a)
        i += 1
    return keep


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    clang, src, build = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
    if not clang or clang.endswith("NOTFOUND") or not shutil.which(clang):
        print("SKIP: clang++ not found; install clang (scripts/deps.sh)")
        return 77
    with open(os.path.join(build, "compile_commands.json")) as fh:
        commands = {os.path.realpath(e["file"]): e for e in json.load(fh)}
    for req in REQUIRED:
        path = os.path.join(src, req)
        with open(path, encoding="utf-8", errors="replace") as fh:
            if not GUARDED.search(fh.read()):
                print(f"FAIL: {req} declares no FERRY_GUARDED_BY member: its locks are no longer analysed")
                return 1
    closure = annotated_closure(list(library_files(src)))
    units = sorted(f for f in closure if f.endswith((".cc", ".cpp")) and os.path.realpath(f) in commands)
    if not units:
        print("FAIL: no annotated translation unit found (annotations gone, or compile_commands.json stale)")
        return 1
    def check(f):
        cmd = [clang, "-fsyntax-only", "-Wthread-safety", "-Wthread-safety-beta", "-Werror"]
        cmd += flags_for(commands[os.path.realpath(f)]) + [f]
        return f, subprocess.run(cmd, capture_output=True, text=True)

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for f, r in pool.map(check, units):
            print(("ok   " if r.returncode == 0 else "FAIL ") + os.path.relpath(f, src))
            if r.returncode != 0:
                failed += 1
                print(r.stdout + r.stderr)
    print(f"{len(units) - failed}/{len(units)} annotated translation units clean under clang -Wthread-safety")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
