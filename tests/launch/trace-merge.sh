#!/usr/bin/env bash
# trace-merge.sh — ferry-trace merge on hand-made rank files (no ferry run needed):
#   * two hosts (different boot ids): rank 1 is shifted by sync_0 - sync_1 and the job starts at 0;
#   * one object read twice: each read gets its own flow start (new id), both linked;
#   * a flow end without a start is dropped; events come out in time order, metadata first;
#   * a malformed rank file and an empty directory are errors (exit 1), bad usage exits 2.
set -uo pipefail
build=${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must point to the build tree}
tool=$build/launcher/ferry-trace
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/empty" "$work/bad"
python3 - "$work/in" <<'PY'
import json, sys
d = sys.argv[1]
def rank(r, boot, sync, events):
    meta = [{"name": "process_name", "ph": "M", "pid": r, "args": {"name": f"rank {r}"}},
            {"name": "thread_name", "ph": "M", "pid": r, "tid": 1, "args": {"name": "main"}}]
    doc = {"displayTimeUnit": "ns", "ferry": {"rank": r, "size": 2, "host": f"h{r}", "boot_id": boot,
           "clock": "CLOCK_MONOTONIC", "sync_us": sync, "start_us": 0, "wall_start_ns": 0, "dropped_events": 0},
           "traceEvents": meta + events}
    json.dump(doc, open(f"{d}/ferry-trace.rank{r}.json", "w"))
X = lambda pid, name, ts, dur: {"name": name, "cat": "ferry", "ph": "X", "pid": pid, "tid": 1, "ts": ts, "dur": dur}
F = lambda pid, ph, ts, fid: {"name": "object", "cat": "flow", "ph": ph, "pid": pid, "tid": 1, "ts": ts, "id": fid,
                              **({"bp": "e"} if ph == "f" else {})}
rank(0, "boot-a", 1000.0, [X(0, "put", 1100, 10), F(0, "s", 1109, "0x2a")])
rank(1, "boot-b", 5000.0, [X(1, "get", 5200, 10), F(1, "f", 5209, "0x2a"),
                           X(1, "get", 5300, 10), F(1, "f", 5309, "0x2a"), F(1, "f", 5400, "0x2b")])
PY
"$tool" merge "$work/in" -o "$work/job.json" || { echo "FAIL: merge exited $?"; exit 1; }
python3 - "$work/job.json" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
ev = doc["traceEvents"]
def fail(m):
    print("FAIL: " + m); sys.exit(1)
if doc["ferry"]["offsets_us"] != [0.0, -4000.0]:
    fail(f"offsets {doc['ferry']['offsets_us']}, expected [0, -4000]")
phs = [e["ph"] for e in ev]
if phs[:4] != ["M"] * 4 or "M" in phs[4:]:
    fail("metadata is not first")
timed = [e for e in ev if e["ph"] != "M"]
if [e["ts"] for e in timed] != sorted(e["ts"] for e in timed):
    fail("events not in time order")
gets = [e["ts"] for e in timed if e["name"] == "get"]
if [e["ts"] for e in timed if e["name"] == "put"] != [0] or gets != [100, 200]:
    fail(f"shifted times wrong: put at {[e['ts'] for e in timed if e['name'] == 'put']}, gets at {gets}")
starts = [e for e in timed if e["ph"] == "s"]
ends = [e for e in timed if e["ph"] == "f"]
if len(starts) != 2 or len(ends) != 2 or sorted(s["id"] for s in starts) != sorted(f["id"] for f in ends) \
        or len({s["id"] for s in starts}) != 2:
    fail(f"object fan-out not split into two linked flows: {starts} {ends}")
if doc["ferry"]["unlinked_flow_events"] != 1:
    fail("the unpartnered flow end was not dropped")
print("merge ok")
PY
echo '{"traceEvents": [' > "$work/bad/ferry-trace.rank0.json"
"$tool" merge "$work/bad" >/dev/null 2>"$work/err"; rc=$?
[[ $rc == 1 ]] && grep -q "not JSON" "$work/err" || { echo "FAIL: malformed file gave rc $rc: $(cat "$work/err")"; exit 1; }
"$tool" merge "$work/empty" >/dev/null 2>&1; rc=$?
[[ $rc == 1 ]] || { echo "FAIL: empty directory gave rc $rc"; exit 1; }
"$tool" >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || { echo "FAIL: usage error gave rc $rc"; exit 1; }
echo "trace-merge ok"
