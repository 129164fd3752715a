#!/usr/bin/env python3
"""check_trace.py RANK_DIR MERGED_JSON NRANKS NT

Checks a FERRY_TRACE run of examples/matmul (NRANKS ranks, NT x NT tiles per rank) against the
Chrome Trace Event format and against the workload:
  * every rank file and the merged file parse as JSON;
  * every rank has process_name and thread_name metadata, and its "ferry" clock metadata;
  * complete events ("X") have a non-negative duration; async spans ("b"/"e") are closed
    (per rank, name and id: as many ends as begins, never an end before its begin);
  * flows: in the merged file every flow end ("f") has exactly one start ("s") with its id, no
    later than the end, and every start has an end; at least one flow crosses ranks;
  * merged events are in time order (metadata first), from every rank;
  * the workload: NRANKS * NT^3 tile_mul and NRANKS * NT^2 * (NT-1) tile_add spans, NRANKS * 2 * NT^2
    puts, NRANKS * NT^2 * (2NT-1) submits, each linked to its execution by a flow.
Prints what it checked; exits 1 with the first violation.
"""
import collections
import glob
import json
import os
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path} does not parse as JSON: {e}")


def check_rank(path, doc):
    meta = doc.get("ferry")
    if not isinstance(meta, dict) or not {"rank", "sync_us", "boot_id", "clock"} <= meta.keys():
        fail(f"{path}: missing ferry clock metadata")
    events = doc.get("traceEvents")
    if not isinstance(events, list) or not events:
        fail(f"{path}: no traceEvents")
    names = {(e.get("name"), e.get("ph")) for e in events}
    if ("process_name", "M") not in names or ("thread_name", "M") not in names:
        fail(f"{path}: process_name / thread_name metadata missing")
    open_async = collections.defaultdict(int)
    for e in sorted((e for e in events if e["ph"] != "M"), key=lambda e: e["ts"]):
        if e["ph"] == "X" and not (isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0):
            fail(f"{path}: complete event without a valid dur: {e}")
        if e["ph"] in ("b", "e"):
            key = (e["pid"], e["name"], e["id"])
            open_async[key] += 1 if e["ph"] == "b" else -1
            if open_async[key] < 0:
                fail(f"{path}: async end before its begin: {e}")
    left = [k for k, v in open_async.items() if v != 0]
    if left:
        fail(f"{path}: {len(left)} async span(s) never closed, e.g. {left[0]}")
    return meta["rank"], len(events)


def main():
    rank_dir, merged_path, nranks, nt = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    files = sorted(glob.glob(os.path.join(rank_dir, "ferry-trace.rank*.json")))
    if len(files) != nranks:
        fail(f"expected {nranks} rank files in {rank_dir}, found {len(files)}")
    ranks = sorted(check_rank(p, load(p))[0] for p in files)
    if ranks != list(range(nranks)):
        fail(f"rank files are for ranks {ranks}")

    merged = load(merged_path)
    events = merged.get("traceEvents")
    if not isinstance(events, list):
        fail("merged file has no traceEvents")
    seen_meta_end = False
    last_ts = None
    for e in events:
        if e["ph"] == "M":
            if seen_meta_end:
                fail("metadata event after timed events in the merged file")
            continue
        seen_meta_end = True
        if last_ts is not None and e["ts"] < last_ts:
            fail(f"merged events out of time order at {e}")
        last_ts = e["ts"]
    pids = {e["pid"] for e in events if e["ph"] != "M"}
    if pids != set(range(nranks)):
        fail(f"merged timed events come from ranks {sorted(pids)}, expected 0..{nranks - 1}")

    starts, ends = {}, collections.defaultdict(list)
    for e in events:
        if e["ph"] == "s":
            if e["id"] in starts:
                fail(f"two flow starts with id {e['id']}")
            starts[e["id"]] = e
        elif e["ph"] == "f":
            ends[e["id"]].append(e)
    cross = 0
    for fid, fs in ends.items():
        if len(fs) != 1:
            fail(f"flow {fid} has {len(fs)} ends")
        s = starts.get(fid)
        if s is None:
            fail(f"flow end without a start: {fs[0]}")
        if s["ts"] > fs[0]["ts"]:
            fail(f"flow {fid} ends before it starts")
        cross += s["pid"] != fs[0]["pid"]
    unended = [i for i in starts if i not in ends]
    if unended:
        fail(f"{len(unended)} flow start(s) without an end, e.g. {starts[unended[0]]}")
    if cross == 0:
        fail("no flow crosses ranks")

    count = collections.Counter(e["name"] for e in events if e["ph"] == "X")
    flows_by_name = collections.Counter(e["name"] for e in events if e["ph"] == "s")
    expect = {
        "matmul.tile_mul": nranks * nt ** 3,
        "matmul.tile_add": nranks * nt * nt * (nt - 1),
        "put": nranks * 2 * nt * nt,
        "submit": nranks * nt * nt * (2 * nt - 1),
    }
    for name, n in expect.items():
        if count[name] != n:
            fail(f"{count[name]} '{name}' spans, expected {n}")
    if flows_by_name["submit"] != expect["submit"]:
        fail(f"{flows_by_name['submit']} submit->task flows, expected {expect['submit']}")
    if count["get"] < nranks * nt * nt:
        fail(f"{count['get']} get spans, expected at least {nranks * nt * nt}")
    print(f"trace ok: {len(files)} rank files, {len(events)} merged events, {len(starts)} flows "
          f"({cross} across ranks), spans {dict(count)}")


if __name__ == "__main__":
    main()
