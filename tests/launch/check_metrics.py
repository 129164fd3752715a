#!/usr/bin/env python3
"""check_metrics.py METRICS_DIR NRANKS NT TILE

Checks the Prometheus files written at exit (FERRY_METRICS=DIR) by a run of examples/matmul
(NRANKS ranks, NT x NT tiles of TILE x TILE doubles per rank) against the workload's known size:
per rank 2*NT^2 puts of TILE*TILE*8 bytes, NT^2*(2NT-1) tasks submitted and finished, none failed
or running, NT^2 gets, at least its tiles' bytes owned in its store; over all ranks as many tasks executed as submitted. Also checks the text
format: every sample has # HELP and # TYPE lines, names carry the ferry_ prefix, counters end in
_total, and each sample has a rank label.
"""
import os
import re
import sys

SAMPLE = re.compile(r'^(ferry_[a-z_]+)\{rank="(\d+)"\} (\S+)$')


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def parse(path):
    types, helps, values = {}, set(), {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# HELP "):
                helps.add(line.split()[2])
            elif line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                types[name] = kind
            else:
                m = SAMPLE.match(line)
                if not m:
                    fail(f"{path}: not a ferry sample line: {line!r}")
                name, rank, value = m.group(1), int(m.group(2)), float(m.group(3))
                if name not in types or name not in helps:
                    fail(f"{path}: {name} has no # TYPE / # HELP line")
                if (types[name] == "counter") != name.endswith("_total"):
                    fail(f"{path}: {name} is a {types[name]}; counters (only) end in _total")
                values[name] = value
                values["rank"] = rank
    return values


def main():
    d, nranks, nt, tile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    tasks = nt * nt * (2 * nt - 1)
    executed = 0
    for r in range(nranks):
        path = os.path.join(d, f"ferry-metrics.rank{r}.prom")
        if not os.path.exists(path):
            fail(f"{path} was not written")
        v = parse(path)
        expect = {
            "rank": r,
            "ferry_ranks": nranks,
            "ferry_puts_total": 2 * nt * nt,
            "ferry_put_bytes_total": 2 * nt * nt * tile * tile * 8,
            "ferry_tasks_submitted_total": tasks,
            "ferry_tasks_finished_total": tasks,
            "ferry_tasks_failed_total": 0,
            "ferry_tasks_retried_total": 0,
            "ferry_tasks_in_flight": 0,
            "ferry_tasks_running": 0,
            "ferry_gets_total": nt * nt,
            "ferry_get_bytes_total": nt * nt * tile * tile * 8,
            "ferry_peers_failed_total": 0,
            "ferry_spilled_bytes": 0,
        }
        for name, want in expect.items():
            if v.get(name) != want:
                fail(f"rank {r}: {name} = {v.get(name)}, expected {want}")
        if not v["ferry_store_high_water_bytes"] >= 2 * nt * nt * tile * tile * 8:
            fail(f"rank {r}: store high water {v['ferry_store_high_water_bytes']} below the bytes it put")
        # matmul still holds its tiles when it shuts down (the final file is written then).
        if not v["ferry_owned_bytes"] >= 2 * nt * nt * tile * tile * 8:
            fail(f"rank {r}: {v['ferry_owned_bytes']} owned bytes, below the tiles it put and still holds")
        if not v["ferry_remote_read_bytes_total"] > 0:
            fail(f"rank {r}: no bytes read from peers although tiles are spread over all ranks")
        executed += v["ferry_tasks_executed_total"]
    if executed != nranks * tasks:
        fail(f"{executed} tasks executed over all ranks, expected {nranks * tasks}")
    print(f"metrics ok: {nranks} ranks, {tasks} tasks each, {int(executed)} executed in all")


if __name__ == "__main__":
    main()
