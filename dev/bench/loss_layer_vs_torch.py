#!/usr/bin/env python3
"""loss_layer_vs_torch.py: the loss layer of align.cu (build/bench_loss_layer)
against PyTorch doing what TRL does, in one run on one card.

The layer: hidden states h (M, C) and LM head W (V, C) -> per-token log p(target)
-> masked per-sequence sums -> DPO sigmoid loss against reference sums ->
backward into dh and dW. PyTorch variants (same shapes, same dtype as ours):
  naive    logits = h @ W.T; logits.float().log_softmax(-1).gather(...)
           (the textbook path, and TRL's when it upcasts the logits)
  trl      TRL 1.16's selective_log_softmax without its optional Triton kernel:
           logsumexp per sequence for fp32, log_softmax per sequence for bf16
Reported: median ms of --reps forward+backward steps (CUDA events) and the peak
memory the step allocates beyond its inputs and outputs (h, W and their
gradients), from torch.cuda.max_memory_allocated. Targets: align.cu's
fused layer at <= 1/10 of PyTorch's extra memory and <= 1/2 of its time at
V = 50257, T = 1024, 8 pairs.

Usage: python3 dev/bench/loss_layer_vs_torch.py [--pairs 8] [--seq 1024] [--embd 768]
       [--vocab 50257] [--reps 10] [--bench build/bench_loss_layer]
Needs torch with CUDA (dev tooling only; the product never imports Python).
"""
import argparse
import json
import subprocess
import sys

import torch
import torch.nn.functional as F


def torch_step(kind, h, W, targets, mask, ref, beta, B):
    logits = h @ W.T  # (M, V) in the input dtype
    if kind == "naive":
        logp = logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    else:  # TRL's selective_log_softmax, one sequence (T rows) at a time
        T = targets.shape[0] // (2 * B)
        rows = logits.view(2 * B, T, -1)
        idx = targets.view(2 * B, T, 1)
        if logits.dtype == torch.float32:
            sel = torch.gather(rows, -1, idx).squeeze(-1)
            lse = torch.stack([torch.logsumexp(r, dim=-1) for r in rows])
            logp = (sel - lse).reshape(-1)
        else:
            logp = torch.stack([F.log_softmax(r, dim=-1).gather(-1, i) for r, i in zip(rows, idx)]).reshape(-1).float()
    seq = (logp * mask).view(2 * B, -1).sum(-1)
    d = (seq[:B] - ref[:B]) - (seq[B:] - ref[B:])
    loss = -F.logsigmoid(beta * d).mean()
    loss.backward()


def measure(kind, dtype, M, C, V, B, reps):
    torch.manual_seed(0)
    dev = "cuda"
    h = torch.randn(M, C, device=dev, dtype=dtype, requires_grad=True)
    W = (0.02 * torch.randn(V, C, device=dev)).to(dtype).requires_grad_()
    targets = torch.randint(0, V, (M,), device=dev)
    mask = (torch.arange(M, device=dev) % 10 != 9).float()  # some padding, as in the C++ bench
    ref = torch.randn(2 * B, device=dev)
    torch_step(kind, h, W, targets, mask, ref, 0.1, B)  # warm-up; creates h.grad and W.grad (outputs)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    torch_step(kind, h, W, targets, mask, ref, 0.1, B)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        torch_step(kind, h, W, targets, mask, ref, 0.1, B)
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return {"name": f"PyTorch {kind}", "ms": times[len(times) // 2], "extra_mb": extra / 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--bench", default="build/bench_loss_layer")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("loss_layer_vs_torch: no CUDA device for torch, skipped")
        return 0
    B, M = a.pairs, 2 * a.pairs * a.seq
    ours = json.loads(subprocess.run(
        [a.bench, "--json", "--pairs", str(a.pairs), "--seq", str(a.seq), "--embd", str(a.embd), "--vocab",
         str(a.vocab), "--reps", str(a.reps)], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    print(f"loss layer, forward + backward: M = {M} rows ({B} pairs x 2 x T {a.seq}), C = {a.embd}, V = {a.vocab}, "
          f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'path':<28} {'dtype':<5} {'ms':>9} {'extra MB':>10} {'time vs torch':>14} {'memory vs torch':>16}")
    for dtype_name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        rows = []
        for kind in ("naive", "trl"):
            try:
                rows.append(measure(kind, dtype, M, a.embd, a.vocab, B, a.reps))
            except torch.cuda.OutOfMemoryError:
                rows.append({"name": f"PyTorch {kind}", "ms": float("nan"), "extra_mb": float("nan")})
            torch.cuda.empty_cache()
        best_ms = min(r["ms"] for r in rows)
        least_mb = min(r["extra_mb"] for r in rows)
        for r in [x for x in ours["results"] if x["dtype"] == dtype_name] + rows:
            print(f"{r['name']:<28} {dtype_name:<5} {r['ms']:9.3f} {r['extra_mb']:10.1f} "
                  f"{r['ms'] / best_ms:13.2f}x {r['extra_mb'] / least_mb:15.3f}x")
    print("ratios are against the faster / leaner PyTorch variant of the same dtype; "
          "targets for 'fused': time <= 0.5x, memory <= 0.1x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
