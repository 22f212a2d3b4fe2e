#!/usr/bin/env python3
"""tokenizer_vs_hf.py: align.cu's tokenizer against Hugging Face tokenizers, one thread, same run.

Both encode every line of dev/bench/tokenizer_corpus.txt with each golden
tokenizer.json (tests/data/tokenizers/*): ours through build/bench_tokenizer,
HF through Tokenizer.encode_batch with RAYON_NUM_THREADS=1 (its fastest
single-thread path: no per-call Python overhead). Token counts must agree;
prints MB/s for both and the ratio.

Needs: pip install tokenizers   (dev tooling only)
"""
import os
import re
import subprocess
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402  (after the thread settings)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
    corpus = os.path.join(ROOT, "dev", "bench", "tokenizer_corpus.txt")
    files = [os.path.join(ROOT, "tests", "data", "tokenizers", n, "tokenizer.json")
             for n in ("gpt2_style", "llama3_style", "qwen2_style", "spm_style")]
    out = subprocess.run([os.path.join(ROOT, "build", "bench_tokenizer"), *files, "--corpus", corpus], check=True,
                         capture_output=True, text=True).stdout
    ours = {m.group(1): (float(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"file=(\S+) mb_per_s=([\d.]+) tokens=(\d+)", out)}
    lines = open(corpus, encoding="utf-8", newline="").read().split("\n")  # keep \r as C++ does
    nbytes = sum(len(line.encode()) for line in lines)
    print(f"corpus: {len(lines)} lines, {nbytes / 1e6:.2f} MB; one thread each")
    print(f"{'tokenizer':14}{'align.cu MB/s':>15}{'HF MB/s':>10}{'ratio':>8}")
    for f in files:
        best, tokens = 1e30, 0
        for _ in range(3):
            tok = Tokenizer.from_file(f)
            t0 = time.perf_counter()
            enc = tok.encode_batch(lines, add_special_tokens=False)
            best = min(best, time.perf_counter() - t0)
            tokens = sum(len(e.ids) for e in enc)
        hf = nbytes / best / 1e6
        mb, our_tokens = ours[f]
        name = os.path.basename(os.path.dirname(f))
        agree = "" if our_tokens == tokens else f"  TOKEN COUNTS DIFFER: {our_tokens} vs {tokens}"
        print(f"{name:14}{mb:15.2f}{hf:10.2f}{mb / hf:8.2f}{agree}")


if __name__ == "__main__":
    sys.exit(main())
