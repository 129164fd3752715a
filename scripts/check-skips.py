#!/usr/bin/env python3
"""check-skips.py JUNIT_XML BUILD_DIR — list the tests CTest skipped and, under CI, fail on them.

A skipped test (exit code 77 / SKIP_RETURN_CODE) says why on a line starting with "SKIP". Locally a
skip is fine: this prints each one with its reason. Under CI (CI=true) the machine must have everything
the suite uses — Slurm, network namespaces, mpirun, UCX over shm and tcp, clang's thread-safety
analysis — so every skip fails the run, except tests labelled `optional` in CMake (LABELS optional:
needs hardware a CI machine is not expected to have). Exit 0 = acceptable, 1 = CI and a required test
was skipped, 2 = the JUnit file is missing or unreadable.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET


def optional_tests(build):
    r = subprocess.run(["ctest", "--test-dir", build, "-N", "-L", "^optional$"], capture_output=True, text=True)
    return set(re.findall(r"Test\s+#\d+: (\S+)", r.stdout))


def skip_reason(case):
    out = case.findtext("system-out") or ""
    lines = [ln.strip() for ln in out.splitlines() if ln.strip().upper().startswith("SKIP")]
    return lines[0] if lines else "(no SKIP line printed)"


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    junit, build = sys.argv[1], sys.argv[2]
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"check-skips: cannot read {junit}: {e}")
        return 2
    skipped = [(c.get("name"), skip_reason(c)) for c in root.iter("testcase") if c.find("skipped") is not None]
    ci = os.environ.get("CI", "").lower() in ("true", "1", "yes")
    optional = optional_tests(build) if skipped else set()
    bad = [(n, r) for n, r in skipped if n not in optional]
    print(f"check-skips: {len(skipped)} test(s) skipped" + (f", {len(bad)} not labelled optional" if ci else ""))
    for n, r in skipped:
        print(f"  {n}: {r}" + ("  [optional]" if n in optional else ""))
    if ci and bad:
        print("check-skips: FAIL: CI=true and the tests above were skipped; the CI machine must run them "
              "(install scripts/deps.sh, run as root so Slurm and network namespaces work)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
