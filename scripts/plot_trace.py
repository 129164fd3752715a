#!/usr/bin/env python3
"""plot_trace.py JOB_JSON OUT_PNG [--title TEXT]

Renders a merged ferry trace (`ferry-trace merge DIR > job.json`) as a timeline picture: one lane
per thread of each rank, complete spans as bars coloured by name, remote fetches as bars on a
"fetches" lane per rank, and submit -> task flows as thin arrows. Needs python3-matplotlib
(Debian). Perfetto (ui.perfetto.dev) shows the same file interactively.
"""
import argparse
import collections
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("job")
    ap.add_argument("out")
    ap.add_argument("--title", default="ferry trace")
    args = ap.parse_args()
    with open(args.job) as f:
        events = json.load(f)["traceEvents"]

    thread_names = {}
    for e in events:
        if e["ph"] == "M" and e["name"] == "thread_name":
            thread_names[(e["pid"], e["tid"])] = e["args"]["name"]
    spans = [e for e in events if e["ph"] == "X" and e["dur"] > 0]
    lanes_used = sorted({(e["pid"], e["tid"]) for e in spans})
    fetch_lanes = sorted({e["pid"] for e in events if e["ph"] in ("b", "e")})
    lanes = [(p, t) for p, t in lanes_used] + [(p, "fetch") for p in fetch_lanes]
    lanes.sort(key=lambda l: (l[0], 1 if l[1] == "fetch" else 0, str(l[1])))
    row = {lane: i for i, lane in enumerate(lanes)}

    palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
    colour = {}

    def col(name):
        if name not in colour:
            colour[name] = palette[len(colour) % len(palette)]
        return colour[name]

    fig, ax = plt.subplots(figsize=(13, 1.2 + 0.45 * len(lanes)))
    scale = 1e-3  # us -> ms
    by_name = collections.defaultdict(list)
    for e in spans:
        by_name[e["name"]].append((row[(e["pid"], e["tid"])], e["ts"] * scale, e["dur"] * scale))
    open_fetch = {}
    for e in sorted((e for e in events if e["ph"] in ("b", "e")), key=lambda e: e["ts"]):
        key = (e["pid"], e["name"], e["id"])
        if e["ph"] == "b":
            open_fetch[key] = e["ts"]
        elif key in open_fetch:
            t0 = open_fetch.pop(key)
            by_name[e["name"]].append((row[(e["pid"], "fetch")], t0 * scale, (e["ts"] - t0) * scale))
    for name, bars in sorted(by_name.items(), key=lambda kv: -len(kv[1])):
        ax.broken_barh([(x, max(w, 0.002)) for _, x, w in bars], (0, 0), color=col(name))  # legend handle
        for r, x, w in bars:
            ax.broken_barh([(x, max(w, 0.002))], (r - 0.38, 0.76), color=col(name), alpha=0.85,
                           linewidth=0.3, edgecolor="white")
    handles = [plt.Rectangle((0, 0), 1, 1, color=col(n)) for n in colour]
    ax.legend(handles, list(colour), loc="upper right", fontsize=8, ncol=min(4, len(colour)))

    starts = {e["id"]: e for e in events if e["ph"] == "s" and e["name"] == "submit"}
    for e in events:
        if e["ph"] == "f" and e["name"] == "submit" and e["id"] in starts:
            s = starts[e["id"]]
            if s["pid"] == e["pid"]:
                continue  # draw only flows that cross ranks (the rest crowd the picture)
            ax.annotate("", xy=(e["ts"] * scale, row[(e["pid"], e["tid"])]),
                        xytext=(s["ts"] * scale, row[(s["pid"], s["tid"])]),
                        arrowprops=dict(arrowstyle="->", color="#555555", lw=0.4, alpha=0.5))

    labels = []
    for p, t in lanes:
        labels.append(f"rank {p} fetches" if t == "fetch" else f"rank {p} {thread_names.get((p, t), t)}")
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time since the first event (ms)")
    ax.set_title(args.title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}: {len(spans)} spans on {len(lanes)} lanes")


if __name__ == "__main__":
    main()
