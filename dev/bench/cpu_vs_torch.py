#!/usr/bin/env python3
"""cpu_vs_torch.py: our float32 CPU reference against PyTorch on the same model, same run.

Runs build/bench_cpu_model (forward + backward of CpuModel<float>) and then
the same step in PyTorch on the CPU: transformers' GPT2LMHeadModel (or
LlamaForCausalLM) with identical shapes, dropout off, float32, eager
attention, logits -> log_softmax -> gather of the targets -> weighted sum ->
backward, exactly the per-token log-prob work our backward contract covers.
Both use all cores (torch.set_num_threads(os.cpu_count()), OpenMP for ours).
Prints tokens/s for each and the ratio ours / PyTorch.

Needs: pip install torch transformers   (dev tooling only)
Usage: python3 dev/bench/cpu_vs_torch.py [--layers 6 --embd 256 --heads 4 --seq 256 --rows 4 --vocab 50257]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch


def torch_tokens_per_s(args):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
    if args.arch == "gpt2":
        cfg = GPT2Config(vocab_size=args.vocab, n_positions=args.seq, n_embd=args.embd, n_layer=args.layers,
                         n_head=args.heads, attn_pdrop=0.0, embd_pdrop=0.0, resid_pdrop=0.0)
        model = GPT2LMHeadModel(cfg)
    else:
        ffn = (8 * args.embd // 3 + 63) // 64 * 64
        cfg = LlamaConfig(vocab_size=args.vocab, hidden_size=args.embd, intermediate_size=ffn,
                          num_hidden_layers=args.layers, num_attention_heads=args.heads,
                          num_key_value_heads=args.heads, max_position_embeddings=args.seq,
                          tie_word_embeddings=True)
        model = LlamaForCausalLM(cfg)
    model.config._attn_implementation = args.torch_attn
    model = model.float().train()
    torch.manual_seed(2)
    ids = torch.randint(0, args.vocab, (args.rows, args.seq))
    targets = torch.roll(ids, -1, dims=1)
    weights = torch.full((args.rows, args.seq), 1.0 / (args.rows * args.seq))
    weights[:, -1] = 0.0
    times = []
    for i in range(args.warmup + args.iters):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        logits = model(input_ids=ids).logits
        logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        (logp * weights).sum().backward()
        dt = time.perf_counter() - t0
        print(f"torch step {i + 1}/{args.warmup + args.iters}: {dt * 1000:.1f} ms{' (warm-up)' if i < args.warmup else ''}",
              flush=True)
        if i >= args.warmup:
            times.append(dt)
    return args.rows * args.seq / statistics.median(times)


def ours_tokens_per_s(args, env=None):
    cmd = [args.binary, "--arch", args.arch, "--vocab", str(args.vocab), "--layers", str(args.layers),
           "--heads", str(args.heads), "--embd", str(args.embd), "--seq", str(args.seq), "--rows", str(args.rows),
           "--iters", str(args.iters), "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    print(out, end="")
    core = re.search(r"OPENBLAS_CORETYPE=(\w+)", out)
    return float(re.search(r"tokens_per_s=([\d.]+)", out).group(1)), re.search(r"blas_kernels=(\w+)", out).group(1), \
        core.group(1) if core else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "bench_cpu_model"))
    ap.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"])
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--embd", type=int, default=256)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--torch-attn", default="eager", choices=["eager", "sdpa"])
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.torch_attn} attention")
    rows = [ours_tokens_per_s(args)]
    if rows[0][2]:  # OpenBLAS fell back to generic kernels: also measure with the ones it advises
        print(f"\n-- again with OPENBLAS_CORETYPE={rows[0][2]} --")
        rows.append(ours_tokens_per_s(args, dict(os.environ, OPENBLAS_CORETYPE=rows[0][2])))
    theirs = torch_tokens_per_s(args)
    print(f"\n{args.arch}, L={args.layers}, C={args.embd}, T={args.seq}, N={args.rows}, V={args.vocab}, "
          f"{os.cpu_count()} cores, float32, forward+backward")
    print(f"{'':34}{'tokens/s':>10}{'vs PyTorch':>12}")
    for tps, kernels, _ in rows:
        print(f"{'align.cu (OpenBLAS ' + kernels + ')':34}{tps:10.1f}{tps / theirs:12.2f}")
    print(f"{'PyTorch ' + torch.__version__ + ' (' + args.torch_attn + ')':34}{theirs:10.1f}{1.0:12.2f}")


if __name__ == "__main__":
    sys.exit(main())
