#!/usr/bin/env python3
"""plot_trace.py JOB_JSON OUT_PNG [--title TEXT]

Renders a merged ferry trace (`ferry-trace merge DIR > job.json`) as a timeline picture: one lane
per thread of each rank, complete spans as bars coloured by name, async spans (remote fetches,
argument fetches) as translucent bars on one lane per rank and kind (darker = more in flight), and submit -> task flows as thin arrows. Needs python3-matplotlib
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

    # Async spans (remote and argument fetches, which wait for task outputs still being computed)
    # overlap: one lane per rank and name, drawn translucent, so darker means more in flight.
    asyncs, open_async = [], {}
    for e in sorted((e for e in events if e["ph"] in ("b", "e")), key=lambda e: e["ts"]):
        key = (e["pid"], e["name"], e["id"])
        if e["ph"] == "b":
            open_async[key] = e["ts"]
        elif key in open_async:
            t0 = open_async.pop(key)
            asyncs.append(((e["pid"], e["name"]), e["name"], t0, e["ts"] - t0))
    packed = asyncs

    lanes = sorted({(e["pid"], e["tid"]) for e in spans} | {lane for lane, _, _, _ in packed},
                   key=lambda l: (l[0], isinstance(l[1], str), str(l[1])))
    row = {lane: i for i, lane in enumerate(lanes)}

    palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
    colour = {}

    def col(name):
        if name not in colour:
            colour[name] = palette[len(colour) % len(palette)]
        return colour[name]

    fig, ax = plt.subplots(figsize=(13, 1.8 + 0.4 * len(lanes)))
    scale = 1e-3  # us -> ms
    by_name = collections.defaultdict(list)
    for e in spans:
        by_name[e["name"]].append((row[(e["pid"], e["tid"])], e["ts"] * scale, e["dur"] * scale))
    for name, bars in sorted(by_name.items(), key=lambda kv: -len(kv[1])):
        for r, x, w in bars:
            ax.broken_barh([(x, max(w, 0.002))], (r - 0.38, 0.76), color=col(name), alpha=0.85,
                           linewidth=0.3, edgecolor="white")
    for lane, name, t0, dur in packed:
        ax.broken_barh([(t0 * scale, max(dur * scale, 0.002))], (row[lane] - 0.38, 0.76), color=col(name),
                       alpha=0.12, linewidth=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=col(n)) for n in colour]
    ax.legend(handles, list(colour), loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8,
              ncol=len(colour), frameon=False)

    starts = {e["id"]: e for e in events if e["ph"] == "s" and e["name"] == "submit"}
    for e in events:
        if e["ph"] == "f" and e["name"] == "submit" and e["id"] in starts:
            s = starts[e["id"]]
            if s["pid"] == e["pid"]:
                continue  # draw only flows that cross ranks (the rest crowd the picture)
            ax.annotate("", xy=(e["ts"] * scale, row[(e["pid"], e["tid"])]),
                        xytext=(s["ts"] * scale, row[(s["pid"], s["tid"])]),
                        arrowprops=dict(arrowstyle="->", color="#555555", lw=0.4, alpha=0.5))

    labels = [f"rank {p} {t}" if isinstance(t, str) else f"rank {p} {thread_names.get((p, t), t)}"
              for p, t in lanes]
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
