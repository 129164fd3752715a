#!/usr/bin/env python3
"""startup_profile.py [T0_US] < ferry-run output with FERRY_STARTUP_PROFILE=1

Reduces the ranks' "ferry-startup rank=R phase=P t_us=T" lines to one row per phase, in the
order of the phases' medians: median, slowest rank's time (ms since T0_US, the launch time,
or else the earliest mark) and which rank that was. The slowest rank's timeline is what the
job waits for."""
import re
import statistics
import sys

pat = re.compile(r"ferry-startup rank=(\d+) phase=(\w+) t_us=(\d+)")
marks = {}
for line in sys.stdin:
    m = pat.search(line)
    if m:
        marks.setdefault(m.group(2), {})[int(m.group(1))] = int(m.group(3))
if not marks:
    sys.exit("no ferry-startup lines (set FERRY_STARTUP_PROFILE=1)")
t0 = int(sys.argv[1]) if len(sys.argv) > 1 else min(min(v.values()) for v in marks.values())
rows = []
for phase, by_rank in marks.items():
    ms = {r: (t - t0) / 1000 for r, t in by_rank.items()}
    slow = max(ms, key=ms.get)
    rows.append((statistics.median(ms.values()), phase, ms[slow], slow, len(ms)))
print(f"{'phase':<18} {'ranks':>5} {'median ms':>10} {'slowest ms':>11} {'slowest rank':>13}")
for med, phase, worst, rank, n in sorted(rows):
    print(f"{phase:<18} {n:>5} {med:>10.0f} {worst:>11.0f} {rank:>13}")
