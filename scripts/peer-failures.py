#!/usr/bin/env python3
"""peer-failures.py [--strict] JUNIT_XML — counts the peer-failure declarations in a ctest run's output.

Every declaration is one line "ferry-peer-failed: rank S declared rank P failed (timeout|error): ..."
(transport/src/common/events.h). "error" lines follow a real departure (EOF, endpoint error);
"timeout" lines are heartbeat timeouts: expected in tests that stop or cut off a rank on purpose
(their names match EXPECTED below, or the test printed one "ferry-expected-timeout:" line per
intended declaration), a false positive anywhere else. Prints the counts and every
test with an unexpected timeout. Exits 0, or with --strict 1 when there is a possible false positive
(scripts/test.sh uses --strict: a false positive of the failure detector fails the suite).
The JUnit file keeps at most --test-output-size-passed bytes of a passing test's output, so a very
chatty test may hide lines: the count is a lower bound.
"""
import re
import sys
import xml.etree.ElementTree as ET

LINE = re.compile(r"ferry-peer-failed: rank \d+ declared rank \d+ failed \((timeout|error)\)")
# A test that stops a peer on purpose inside a larger binary prints this once per intended declaration.
INTENDED = re.compile(r"ferry-expected-timeout:")
# Tests that stop a rank, cut its link or starve it past the timeout on purpose.
EXPECTED = re.compile(r"stop|sigstop|link|netns|detect|chaos|liveness|failure", re.I)


def main() -> int:
    args = sys.argv[1:]
    strict = "--strict" in args
    args = [a for a in args if a != "--strict"]
    if len(args) != 1:
        print(__doc__)
        return 2
    try:
        root = ET.parse(args[0]).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"peer-failures: cannot read {args[0]}: {e}")
        return 1 if strict else 0
    totals = {"timeout": 0, "error": 0}
    suspects = []
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        text = "".join(el.text or "" for el in case.iter() if el.tag in ("system-out", "system-err", "failure"))
        found = {"timeout": 0, "error": 0}
        for m in LINE.finditer(text):
            found[m.group(1)] += 1
        for k in totals:
            totals[k] += found[k]
        unexplained = found["timeout"] - len(INTENDED.findall(text))
        if unexplained > 0 and not EXPECTED.search(name):
            suspects.append((name, unexplained))
    false_positives = sum(n for _, n in suspects)
    print(f"peer failures declared: {totals['error']} on a departure, {totals['timeout']} by heartbeat timeout; "
          f"possible false positives (timeouts outside stop/link-down tests): {false_positives}")
    for name, n in suspects:
        print(f"  {name}: {n} timeout declaration(s)")
    return 1 if strict and false_positives else 0


if __name__ == "__main__":
    sys.exit(main())
