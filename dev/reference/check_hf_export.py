#!/usr/bin/env python3
"""check_hf_export.py: transformers loads what export_hf writes, with the same logits.

For each tiny model in tests/data/hf/: build/import_hf -> model.bin ->
build/export_hf (fp32, and bf16) -> AutoModelForCausalLM.from_pretrained on the
exported directory -> logits on the golden batch, compared with the golden
logits transformers computed on the original weights. fp32 must agree to
1e-5 relative (the weights are copied exactly); bf16 to the rounding of 8-bit
mantissas (reported, bounded at 5e-2).

Needs: pip install torch transformers safetensors   (dev tooling only)
Usage: python3 dev/reference/check_hf_export.py [--build build]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    failures = 0
    for name in ("gpt2_tiny", "llama_gqa", "llama3_rope_headdim", "qwen2_bias_tied"):
        src = os.path.join(ROOT, "tests", "data", "hf", name)
        golden = load_file(os.path.join(src, "golden.safetensors"))
        with tempfile.TemporaryDirectory() as tmp:
            model_bin = os.path.join(tmp, "m.bin")
            subprocess.run([os.path.join(args.build, "import_hf"), src, "-o", model_bin], check=True,
                           capture_output=True)
            for dtype, bound in (("fp32", 1e-5), ("bf16", 5e-2)):
                out = os.path.join(tmp, f"export_{dtype}")
                subprocess.run([os.path.join(args.build, "export_hf"), model_bin, "-o", out, "--dtype", dtype],
                               check=True, capture_output=True)
                model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
                ids, lengths = golden["input_ids"], golden["lengths"]
                mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
                with torch.no_grad():
                    logits = model(input_ids=ids, attention_mask=mask).logits
                ref = golden["logits"]
                err = max(float((logits[n, :L] - ref[n, :L]).abs().max()) for n, L in enumerate(lengths.tolist()))
                rel = err / float(ref.abs().max())
                ok = rel <= bound
                failures += not ok
                print(f"{name:22s} {dtype}: {type(model).__name__}, max relative logit error {rel:.2e} "
                      f"{'ok' if ok else 'FAIL'} (bound {bound:g})")
    print("all exports load in transformers with matching logits" if not failures else f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
