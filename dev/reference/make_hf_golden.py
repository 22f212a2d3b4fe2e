#!/usr/bin/env python3
"""make_hf_golden.py: golden logits from Hugging Face transformers for the C++ tests.

Builds tiny random GPT2LMHeadModel, LlamaForCausalLM (GQA; llama3 RoPE scaling
with an explicit head_dim) and Qwen2ForCausalLM (q/k/v bias, tied head)
models, perturbs every parameter so that no weight sits at its default (norm
weights 1, biases 0), runs them in float32 on a fixed right-padded batch with
an attention mask, and writes to tests/data/hf/<name>/:
  config.json, model.safetensors   what transformers' save_pretrained writes
  golden.safetensors               input_ids (N, T) I64, lengths (N) I64,
                                   logits (N, T, V) F32
tests/test_hf_golden.cpp loads the model through our Hugging Face layout
(src/model/hf_layout.cpp) and matches the logits at the real positions.

Needs: pip install torch transformers safetensors   (dev tooling only)
Usage: python3 dev/reference/make_hf_golden.py [--out tests/data/hf]
"""
import argparse
import json
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

N, T = 3, 12
LENGTHS = [12, 9, 5]  # row 0 full, rows 1 and 2 right-padded


def models():
    yield "gpt2_tiny", GPT2LMHeadModel, GPT2Config(
        vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4,
        attn_pdrop=0.0, embd_pdrop=0.0, resid_pdrop=0.0)
    yield "llama_gqa", LlamaForCausalLM, LlamaConfig(
        vocab_size=101, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False)
    yield "llama3_rope_headdim", LlamaForCausalLM, LlamaConfig(
        vocab_size=101, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=64,
        rms_norm_eps=1e-5, tie_word_embeddings=True,
        rope_scaling={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8})
    yield "qwen2_bias_tied", Qwen2ForCausalLM, Qwen2Config(
        vocab_size=103, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "hf"))
    args = ap.parse_args()
    for name, cls, cfg in models():
        torch.manual_seed(1234)
        model = cls(cfg).float().eval()
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if p.dim() == 1 and "norm" in pname or "ln_" in pname and pname.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                else:
                    p.copy_(0.15 * torch.randn_like(p))
        g = torch.Generator().manual_seed(99)
        ids = torch.randint(0, cfg.vocab_size, (N, T), generator=g)
        mask = torch.zeros(N, T, dtype=torch.long)
        for n, L in enumerate(LENGTHS):
            mask[n, :L] = 1
            ids[n, L:] = 0  # padding id; masked out
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        d = os.path.join(args.out, name)
        shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(d, safe_serialization=True)
        for extra in os.listdir(d):
            if extra not in ("config.json", "model.safetensors"):
                os.remove(os.path.join(d, extra))
        save_file({"input_ids": ids.contiguous(), "lengths": torch.tensor(LENGTHS, dtype=torch.long),
                   "logits": logits.contiguous()}, os.path.join(d, "golden.safetensors"),
                  metadata={"transformers": transformers.__version__, "torch": torch.__version__})
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, "
              f"logits {tuple(logits.shape)}, max |logit| {logits.abs().max():.3f} -> {d}")


if __name__ == "__main__":
    main()
