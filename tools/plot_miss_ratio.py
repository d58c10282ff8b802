#!/usr/bin/python3
"""Draws kvcache-sim's CSV as miss ratio against cache size, one line per policy (and one panel
per trace). Usage: kvcache-plot.py results.csv out.png"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: kvcache-plot.py results.csv out.png")
    series = defaultdict(lambda: defaultdict(list))
    with open(sys.argv[1]) as f:
        for row in csv.DictReader(f):
            series[row["trace"]][row["policy"]].append(
                (int(row["cache_size_objects"]), float(row["miss_ratio"])))
    traces = sorted(series)
    cols = min(3, len(traces))
    rows = (len(traces) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    for ax, trace in zip(axes.flat, traces):
        for policy, points in sorted(series[trace].items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=policy)
        ax.set_title(trace)
        ax.set_xlabel("cache size (objects)")
        ax.set_ylabel("miss ratio")
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(traces):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
