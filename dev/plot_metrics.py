#!/usr/bin/env python3
"""plot_metrics.py: training curves from metrics.jsonl, and the demo's reward–KL frontier, to PNG.

Usage:
  python3 dev/plot_metrics.py RUN_DIR [RUN_DIR ...] -o curves.png
      loss, rewards/chosen and rewards/rejected, rewards/margins, rewards/accuracies per step
      (eval_ points overlaid), one line per run
  python3 dev/plot_metrics.py --frontier demo_out/frontier.tsv -o frontier.png
      true reward against KL(policy || reference), one point per model

Needs: pip install matplotlib   (dev tooling only)
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_jsonl(path):
    train, evals = [], []
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            (evals if any(k.startswith("eval_") for k in row) else train).append(row)
    return train, evals


def curves(runs, out):
    panels = [("loss", "loss"), ("rewards/chosen", "rewards (chosen solid, rejected dashed)"),
              ("rewards/margins", "rewards/margins"), ("rewards/accuracies", "rewards/accuracies")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for run in runs:
        train, evals = read_jsonl(os.path.join(run, "metrics.jsonl"))
        label = os.path.basename(os.path.normpath(run))
        for ax, (key, title) in zip(axes.flat, panels):
            steps = [r["step"] for r in train if key in r]
            if not steps:
                continue
            line, = ax.plot(steps, [r[key] for r in train if key in r], label=label)
            if key == "rewards/chosen":
                ax.plot(steps, [r["rewards/rejected"] for r in train], "--", color=line.get_color())
            ek = "eval_" + key
            if any(ek in r for r in evals):
                ax.plot([r["step"] for r in evals if ek in r], [r[ek] for r in evals if ek in r], "o",
                        color=line.get_color(), markersize=4)
            ax.set_title(title)
            ax.set_xlabel("step")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("training (lines) and evaluation (dots)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def frontier(path, out):
    rows = [line.rstrip("\n").split("\t") for line in open(path)][1:]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, reward, _acc, _margin, kl in rows:
        ax.scatter(float(kl), float(reward))
        ax.annotate(name, (float(kl), float(reward)), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("KL(policy || reference)")
    ax.set_ylabel("true reward of sampled completions")
    ax.set_title("reward–KL frontier")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", help="run directories holding metrics.jsonl")
    ap.add_argument("--frontier", help="frontier.tsv written by the demo")
    ap.add_argument("-o", "--output", required=True, help="PNG to write")
    args = ap.parse_args()
    if args.frontier:
        frontier(args.frontier, args.output)
    elif args.runs:
        curves(args.runs, args.output)
    else:
        ap.error("give run directories or --frontier")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
