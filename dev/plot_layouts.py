#!/usr/bin/env python3
"""plot_layouts.py: draws the attention masks of the three batch layouts
(padded, packed, shared) for two small pairs, as docs/training.md shows them.

The rule drawn is the one of src/model/batch.hpp: key column j is visible to
query column t iff seq_start[t] <= j <= t or prefix_start[t] <= j < prefix_end[t].
Dev tooling only (matplotlib):  python3 dev/plot_layouts.py -o docs/img/layouts.png
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap

# Two pairs: (prompt, chosen, rejected) lengths.
PAIRS = [(4, 3, 2), (2, 2, 3)]
# Colours: hidden, prompt, chosen, rejected, padding.
CMAP = ListedColormap(["#ffffff", "#8da0cb", "#66c2a5", "#fc8d62", "#dddddd"])


def segment_rows(kind):
    """Rows of the layout: per row a list of (columns, role) runs, and per column its rule."""
    rows = []
    if kind == "padded":
        for side in (1, 2):
            for p, c, r in PAIRS:
                rows.append([(p, 1), (c if side == 1 else r, side + 1)])
        width = max(sum(n for n, _ in row) for row in rows)
        for row in rows:
            row.append((width - sum(n for n, _ in row), 4))
    elif kind == "packed":
        seqs = [[(p, 1), (c, 2)] for p, c, r in PAIRS] + [[(p, 1), (r, 3)] for p, c, r in PAIRS]
        rows = [seqs[0] + seqs[3], seqs[1] + seqs[2] + [(2, 4)]]  # the batch is rectangular: 12 columns
    else:
        rows = [[(p, 1), (c, 2), (r, 3)] for p, c, r in PAIRS]
        rows = [rows[0] + rows[1]]
    return rows


def rule(kind, row):
    """Per column: (seq_start, prefix_start, prefix_end, role)."""
    cols = []
    col = 0
    if kind == "padded":
        for n, role in row:
            for _ in range(n):
                cols.append((0, 0, 0, role))
        return cols
    # packed / shared: units back to back
    i = 0
    while i < len(row):
        start = col
        if row[i][1] == 4:  # padding
            for _ in range(row[i][0]):
                cols.append((col, col, col, 4))
                col += 1
            i += 1
        elif kind == "packed":
            units = row[i : i + 2]
            i += 2
            for n, role in units:
                for _ in range(n):
                    cols.append((start, start, start, role))
                    col += 1
        else:
            (p, _), (c, _), (r, _) = row[i : i + 3]
            i += 3
            for _ in range(p + c):
                cols.append((start, start, start, 1 if len(cols) - start < p else 2))
                col += 1
            for _ in range(r):
                cols.append((start + p + c, start, start + p, 3))
                col += 1
    return cols


def mask(kind, row):
    cols = rule(kind, row)
    T = len(cols)
    m = [[0] * T for _ in range(T)]
    for t, (s, ps, pe, role) in enumerate(cols):
        for j in range(T):
            if role == 4:
                m[t][j] = 4 if j == t else 0
            elif s <= j <= t or ps <= j < pe:
                m[t][j] = role
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="docs/img/layouts.png")
    args = ap.parse_args()
    kinds = ["padded", "packed", "shared"]
    panels = [(k, row) for k in kinds for row in segment_rows(k)]
    total = sum(len(rule(k, r)) for k, r in panels)
    tallest = max(len(rule(k, r)) for k, r in panels)
    cell = 0.2  # inches per column, the same in every panel
    fig, axes = plt.subplots(1, len(panels), figsize=(cell * total + 0.3 * len(panels), cell * tallest + 1.4),
                             gridspec_kw={"width_ratios": [len(rule(k, r)) for k, r in panels]})
    for ax, (k, row) in zip(axes, panels):
        m = mask(k, row)
        ax.imshow(m, cmap=CMAP, vmin=0, vmax=4, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_xlabel(f"{len(m)} columns", fontsize=8)
        for x in range(len(m) + 1):
            ax.axvline(x - 0.5, color="#bbbbbb", lw=0.3)
            ax.axhline(x - 0.5, color="#bbbbbb", lw=0.3)
    counts = {k: sum(1 for kk, _ in panels if kk == k) for k in kinds}
    i = 0
    for k in kinds:
        cols = sum(len(rule(k, r)) for kk, r in panels if kk == k)
        axes[i].set_title(f"{k}: {counts[k]} row{'s' if counts[k] > 1 else ''}, {cols} columns", fontsize=9, loc="left")
        i += counts[k]
    handles = [plt.Rectangle((0, 0), 1, 1, color=CMAP(v)) for v in (1, 2, 3, 4)]
    fig.legend(handles, ["prompt", "chosen", "rejected", "padding"], loc="lower center", ncol=4, fontsize=8,
               frameon=False)
    fig.suptitle("query (row) sees key (column): two pairs, prompt/chosen/rejected lengths 4/3/2 and 2/2/3",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 0.93))
    fig.savefig(args.output, dpi=130)
    print(args.output)


if __name__ == "__main__":
    main()
