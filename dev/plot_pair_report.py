#!/usr/bin/env python3
"""plot_pair_report.py: the lengths in a preference-data report, to PNG.

Draws, from the JSON that prepare_pairs writes next to its output (OUTPUT.report.json) or that
`inspect pairs.bin --report-json FILE` writes:
  left   the token lengths of chosen and of rejected completions, overlaid histograms
  right  the distribution of the length difference |chosen| - |rejected| per pair, with its mean
         and median; mass right of zero is the length bias DPO learns along with the preference
one row per split (train, val). The title line carries the findings' counts.

Usage:
  python3 dev/plot_pair_report.py pairs.bin.report.json -o pair_report.png

Needs: pip install matplotlib   (dev tooling only)
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def bars(ax, lo, width, counts, **kw):
    ax.bar([lo + i * width for i in range(len(counts))], counts, width=width, align="edge", **kw)


def plot(report, out):
    splits = list(report["splits"].items())
    fig, axes = plt.subplots(len(splits), 2, figsize=(11, 3.4 * len(splits)), squeeze=False)
    for row, (name, s) in zip(axes, splits):
        h = s["histograms"]
        w = h["length_bin_width"]
        bars(row[0], 0, w, h["chosen"], alpha=0.55, label="chosen", color="tab:green")
        bars(row[0], 0, w, h["rejected"], alpha=0.55, label="rejected", color="tab:red")
        lengths = s["lengths"]
        row[0].set_title(f"{name}: completion length (p50 chosen {lengths['chosen']['p50']}, "
                         f"rejected {lengths['rejected']['p50']})", fontsize=10)
        row[0].set_xlabel("tokens")
        row[0].set_ylabel("pairs")
        row[0].legend(fontsize=8)
        bars(row[1], h["difference_lo"], h["difference_bin_width"], h["difference"], color="tab:blue", alpha=0.7)
        b = s["length_bias"]
        row[1].axvline(0, color="black", linewidth=0.8)
        row[1].axvline(b["mean_difference"], color="tab:orange", linestyle="--",
                       label=f"mean {b['mean_difference']:+.2f}")
        row[1].axvline(b["median_difference"], color="tab:purple", linestyle=":",
                       label=f"median {b['median_difference']:+.1f}")
        row[1].set_title(f"{name}: chosen - rejected (chosen longer in {100 * b['chosen_longer_share']:.0f}%, "
                         f"rejected in {100 * b['rejected_longer_share']:.0f}%)", fontsize=10)
        row[1].set_xlabel("tokens")
        row[1].legend(fontsize=8)
    found = []
    for name, s in splits:
        part = (f"{name}: {s['pairs_written']} pairs, {s['identical_tokens']['pairs']} identical, "
                f"{s['duplicate_pairs']['pairs']} duplicate, {s['duplicate_prompts']['pairs']} repeated prompts")
        if "leaked_prompts" in s:
            part += f", {s['leaked_prompts']['pairs']} prompts also in train"
        found.append(part)
    fig.suptitle("; ".join(found), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="OUTPUT.report.json from prepare_pairs, or inspect --report-json")
    ap.add_argument("-o", "--output", default="pair_report.png")
    args = ap.parse_args()
    with open(args.report) as f:
        report = json.load(f)
    if report.get("format") != "align.cu pair report":
        sys.exit(f"{args.report}: not an align.cu pair report (its 'format' is {report.get('format')!r})")
    plot(report, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
