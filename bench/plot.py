#!/usr/bin/env python3
"""bench/plot.py — one PNG per figure of a suite result that was measured at
3 or more mailbox sizes: replimail's and Cyrus's values against the number
of messages (log-scale x; log-scale y too when the values span more than
20x), so that cost growth is visible.

usage: bench/plot.py SUITE.json [OUT_DIR]
  OUT_DIR defaults to SUITE.json without .json; files are <figure name>.png.
Needs python3-matplotlib (Debian; ./dev installs it).
"""
import json
import os
import sys


def series(doc):
    """{figure name: (first entry, [(n, replimail, cyrus), ...] by n)}."""
    out = {}
    for f in doc["figures"]:
        out.setdefault(f["name"], (f, []))[1].append((f["n"], f["replimail"], f["cyrus"]))
    return {name: (f, sorted(points)) for name, (f, points) in out.items()}


def plot(doc, out_dir, min_points=3):
    """Writes the PNGs; returns their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, (f, points) in sorted(series(doc).items()):
        if len({n for n, _, _ in points}) < min_points:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for label, idx, style in (("replimail", 1, "o-"), ("Cyrus 3.6", 2, "s--")):
            xs = [p[0] for p in points if p[idx] is not None]
            ys = [p[idx] for p in points if p[idx] is not None]
            if xs:
                ax.plot(xs, ys, style, label=label)
        ax.set_xscale("log")
        values = [v for p in points for v in p[1:] if v]
        if values and max(values) > 20 * min(values):
            ax.set_yscale("log")
        ax.set_xlabel("messages (n)")
        ax.set_ylabel("%s (%s is better)" % (f["unit"], f["better"]))
        ax.set_title("%s\n%s" % (name, f["title"]), fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, name + ".png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    out_dir = sys.argv[2] if len(sys.argv) == 3 else sys.argv[1][:-len(".json")]
    for path in plot(doc, out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
