#!/usr/bin/env python3
"""make_trl_golden.py: golden losses, metrics and gradients from TRL itself.

For each case, TRL's own code computes the loss, the logged metrics and (by
autograd) the gradient of the loss with respect to the logits, from a fixed
batch of random logits:
  * DPO family: trl.DPOTrainer._compute_loss (TRL main), with precomputed
    reference log-probs and a stand-in for TRL's fused LM head that returns the
    same per-token fields (log_probs, entropy, mean_logits, is_top1,
    log_sum_sq_probs) computed in float64 with torch (definitions from
    trl/kernels/chunked_logprob.py; is_top1 follows torch.argmax's first-index
    rule). The trainer object is built with __new__ and the attributes that
    _compute_loss reads, so no model, tokenizer or dataset is involved.
  * ORPO: trl.experimental.orpo.ORPOTrainer.get_batch_loss_metrics.
  * SimPO: trl.experimental.cpo.CPOTrainer.get_batch_loss_metrics (loss_type simpo).
  * cDPO (sigmoid with label smoothing), which TRL main no longer applies: the
    dpo_loss method of TRL v0.27, read from its source file with `ast` and run
    on the same sums (--trl027 points at `pip install --target DIR trl==0.27.0`).
Writes tests/data/trl/: inputs.safetensors (logits and masks of each input
set), grads.safetensors (d loss / d logits per case) and cases.json.

Needs: pip install torch trl; pip install --no-deps --target /tmp/trl027 trl==0.27.0
Usage: python3 dev/reference/make_trl_golden.py [--out tests/data/trl] [--trl027 /tmp/trl027]
"""
import argparse
import ast
import json
import os
import textwrap
from collections import defaultdict
from types import SimpleNamespace

import torch
import torch.nn.functional as F
import trl
from safetensors.torch import save_file
from trl.experimental.cpo import CPOTrainer
from trl.experimental.orpo import ORPOTrainer
from trl.trainer.dpo_trainer import DPOTrainer
from trl.trainer.utils import FusedCausalLMOutput

B, T, V = 4, 8, 16  # pairs, positions per row (T - 1 predicted), vocabulary


class Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather_for_metrics(x):
        return x

    @staticmethod
    def gather(x):
        return x


def make_inputs(kind, seed):
    """A preference batch: 2B rows, chosen first; prompt, completion, right padding."""
    g = torch.Generator().manual_seed(seed)
    N = 2 * B
    ids = torch.randint(1, V, (N, T), generator=g)
    lengths = torch.randint(5, T + 1, (N,), generator=g)
    prompt = torch.randint(2, 4, (B,), generator=g).repeat(2)  # a pair shares its prompt length
    if kind == "len1":
        prompt = torch.minimum(prompt, lengths - 1)
        lengths = prompt + 1  # one completion token per row
    attention = (torch.arange(T)[None, :] < lengths[:, None]).long()
    completion = ((torch.arange(T)[None, :] >= prompt[:, None]) & (attention == 1)).long()
    ids = ids * attention
    logits = 2.0 * torch.randn(N, T - 1, V, generator=g, dtype=torch.float64)
    # Make about half of the targets likely, so that mean_token_accuracy is neither 0 nor 1.
    boost = 4.0 * (torch.rand(N, T - 1, generator=g) < 0.5).double()
    logits.scatter_add_(-1, ids[:, 1:, None], boost[..., None])
    # Reference sums near the policy's (or far from it for "large"): Δ = policy - reference.
    lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1) * completion[:, 1:]
    spread = 3000.0 if kind == "large" else 3.0
    ref = lp.sum(1) + spread * torch.randn(N, generator=g, dtype=torch.float64)
    return dict(input_ids=ids, attention_mask=attention, completion_mask=completion, logits=logits,
                ref_chosen_logps=ref[:B].clone(), ref_rejected_logps=ref[B:].clone())


def per_token_fields(logits, labels):
    """What TRL's fused LM head returns, in float64: zero where the label is -100."""
    mask = labels != -100
    safe = labels.clamp(min=0)
    logp_all = torch.log_softmax(logits, -1)
    log_probs = logp_all.gather(-1, safe[..., None]).squeeze(-1)
    with torch.no_grad():
        p = logp_all.exp()
        entropy = -(p * logp_all).sum(-1)
        log_sum_sq = torch.logsumexp(2 * logp_all, -1)
        mean_logits = logits.mean(-1)
        is_top1 = logits.argmax(-1) == safe
    z = lambda x: x.masked_fill(~mask, 0)  # noqa: E731
    return FusedCausalLMOutput(log_probs=z(log_probs), entropy=z(entropy), log_sum_sq_probs=z(log_sum_sq),
                               mean_logits=z(mean_logits), is_top1=is_top1 & mask, label_mask=mask)


def run_dpo(inp, cfg, dtype):
    tr = DPOTrainer.__new__(DPOTrainer)
    tr.accelerator = Accelerator()
    tr.model = SimpleNamespace(training=True)
    tr.aux_loss_enabled = False
    tr.precompute_ref_logps = True
    tr.beta = cfg["beta"]
    tr.loss_types = cfg["loss_type"]
    tr.loss_weights = cfg.get("loss_weights") or [1.0] * len(tr.loss_types)
    tr.ld_alpha = cfg.get("ld_alpha")
    tr.f_divergence_type = cfg.get("f_divergence_type", "reverse_kl")
    tr.f_alpha_divergence_coef = cfg.get("f_alpha_divergence_coef", 0.5)
    tr.label_smoothing = cfg.get("label_smoothing", 0.0)
    tr.use_weighting = cfg.get("use_weighting", False)
    tr.args = SimpleNamespace(discopop_tau=cfg.get("discopop_tau", 0.05), gradient_checkpointing_kwargs=None)
    tr._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    tr._total_train_tokens = 0
    tr._tp_size = 1
    logits = inp["logits"].to(dtype).clone().requires_grad_(True)

    def model(labels=None, fused_lm_head=False, **kwargs):
        assert fused_lm_head
        return per_token_fields(logits, labels[:, 1:])

    batch = {k: inp[k] for k in ("input_ids", "attention_mask", "completion_mask")}
    batch["ref_chosen_logps"] = inp["ref_chosen_logps"].to(dtype)
    batch["ref_rejected_logps"] = inp["ref_rejected_logps"].to(dtype)
    loss = tr._compute_loss(model, batch, False)
    loss.backward()
    metrics = {k: float(v[-1]) for k, v in tr._metrics["train"].items() if k != "num_tokens"}
    return float(loss), metrics, logits.grad.double()


def pair_batch(inp):
    """The chosen_/rejected_ dict that TRL's ORPO and CPO trainers read."""
    ids, att, comp = inp["input_ids"], inp["attention_mask"], inp["completion_mask"]
    labels = ids.masked_fill(comp == 0, -100)
    out = {}
    for name, rows in (("chosen", slice(0, B)), ("rejected", slice(B, 2 * B))):
        out[f"{name}_input_ids"] = ids[rows]
        out[f"{name}_attention_mask"] = att[rows]
        out[f"{name}_labels"] = labels[rows]
    return out


def run_pairwise(cls, inp, cfg, extra):
    tr = cls.__new__(cls)
    tr.accelerator = Accelerator()
    tr.is_encoder_decoder = False
    tr.padding_value = 0
    tr.pad_token_id = 0
    tr.label_pad_token_id = -100
    tr.aux_loss_enabled = False
    tr.beta = cfg["beta"]
    for k, v in extra.items():
        setattr(tr, k, v)
    logits = inp["logits"].clone().requires_grad_(True)
    full = torch.cat([logits, torch.zeros(2 * B, 1, V, dtype=logits.dtype)], 1)  # the last position predicts nothing
    model = lambda *a, **k: SimpleNamespace(logits=full)  # noqa: E731
    loss, metrics = tr.get_batch_loss_metrics(model, pair_batch(inp), train_eval="train")
    loss.backward()
    metrics = {k: float(v) for k, v in metrics.items()}
    # TRL's ORPO/CPO average the logits over every position of the rows, prompt and padding included; align.cu
    # reports DPO's definition (completion tokens only) everywhere, so these two are not compared.
    metrics.pop("logits/chosen", None)
    metrics.pop("logits/rejected", None)
    return float(loss), metrics, logits.grad.double()


def load_v027_dpo_loss(path):
    """TRL v0.27's DPOTrainer.dpo_loss, taken from its source without importing the package."""
    src = open(os.path.join(path, "trl", "trainer", "dpo_trainer.py")).read()
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "dpo_loss":
            code = textwrap.dedent(ast.get_source_segment(src, node))
            ns = {"torch": torch, "F": F, "FDivergenceType": SimpleNamespace(ALPHA_DIVERGENCE="alpha_divergence",
                                                                             JS_DIVERGENCE="js_divergence")}
            exec(code.replace("self,", "self,", 1), ns)  # noqa: S102 - our own pinned dev dependency
            return ns["dpo_loss"]
    raise SystemExit(f"dpo_loss not found in {path}")


def run_cdpo_v027(dpo_loss, inp, cfg):
    """cDPO as v0.27 computes it: its dpo_loss on the completion sums, mean over pairs."""
    logits = inp["logits"].clone().requires_grad_(True)
    fields = per_token_fields(logits, inp["input_ids"][:, 1:].masked_fill(inp["completion_mask"][:, 1:] == 0, -100))
    sums = fields.log_probs.sum(1)
    self = SimpleNamespace(beta=cfg["beta"], label_smoothing=cfg["label_smoothing"], reference_free=False,
                           f_divergence_type="reverse_kl", accelerator=Accelerator())
    losses, chosen_rewards, rejected_rewards = dpo_loss(self, sums[:B], sums[B:], inp["ref_chosen_logps"],
                                                        inp["ref_rejected_logps"], loss_type="sigmoid")
    loss = losses.mean()
    loss.backward()
    metrics = {"rewards/chosen": float(chosen_rewards.mean()), "rewards/rejected": float(rejected_rewards.mean()),
               "rewards/margins": float((chosen_rewards - rejected_rewards).mean()),
               "rewards/accuracies": float((chosen_rewards > rejected_rewards).double().mean()),
               "logps/chosen": float(sums[:B].mean()), "logps/rejected": float(sums[B:].mean())}
    return float(loss), metrics, logits.grad.double()


def cases():
    dpo_losses = ["sigmoid", "robust", "ipo", "hinge", "exo_pair", "nca_pair", "bco_pair", "sppo_hard", "apo_zero",
                  "apo_down", "discopop", "sigmoid_norm", "aot", "aot_unpaired", "sft"]
    out = []
    for inputs in ("random", "len1"):
        for lt in dpo_losses:
            cfg = {"loss_type": [lt], "beta": 0.1}
            if lt == "exo_pair":
                cfg["label_smoothing"] = 1e-3
            if lt in ("robust", "aot", "aot_unpaired"):
                cfg["label_smoothing"] = 0.2
            out.append((f"{lt}_{inputs}", inputs, "dpo", cfg))
    # Overflow territory: |β·d| ~ 300 (e^300 overflows float32, e^700 double's naive sigmoid).
    for lt in ("sigmoid", "robust", "hinge", "nca_pair", "bco_pair", "aot", "apo_zero", "sigmoid_norm", "sft"):
        cfg = {"loss_type": [lt], "beta": 0.1, "label_smoothing": 0.1 if lt in ("robust", "aot") else 0.0}
        out.append((f"{lt}_large", "large", "dpo", cfg))
    for f in ("forward_kl", "js_divergence"):
        for lt in ("sigmoid", "ipo", "hinge", "robust", "discopop", "sigmoid_norm"):
            cfg = {"loss_type": [lt], "beta": 0.2, "f_divergence_type": f,
                   "label_smoothing": 0.1 if lt == "robust" else 0.0}
            out.append((f"{lt}_{f}", "random", "dpo", cfg))
    # TRL main's alpha divergence clamps through a dtype table without float64: float32 golden.
    for lt in ("sigmoid", "ipo"):
        out.append((f"{lt}_alpha_divergence_f32", "random", "dpo32",
                    {"loss_type": [lt], "beta": 0.2, "f_divergence_type": "alpha_divergence",
                     "f_alpha_divergence_coef": 0.3}))
    out.append(("mpo_sigmoid_bco_sft", "random", "dpo",
                {"loss_type": ["sigmoid", "bco_pair", "sft"], "loss_weights": [0.8, 0.2, 1.0], "beta": 0.1}))
    out.append(("rpo_sigmoid_sft", "random", "dpo", {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5],
                                                      "beta": 0.1}))
    out.append(("ld_dpo_alpha0.3", "random", "dpo", {"loss_type": ["sigmoid", "sft"], "beta": 0.1, "ld_alpha": 0.3}))
    out.append(("wpo_sigmoid", "random", "dpo", {"loss_type": ["sigmoid"], "beta": 0.1, "use_weighting": True}))
    # (sft with use_weighting raises inside TRL main: an in-place multiply on an expanded tensor.)
    out.append(("wpo_ipo_bco", "random", "dpo", {"loss_type": ["ipo", "bco_pair"], "loss_weights": [1.0, 0.5],
                                                  "beta": 0.3, "use_weighting": True}))
    for inputs in ("random", "len1"):
        out.append((f"orpo_{inputs}", inputs, "orpo", {"loss_type": ["orpo"], "beta": 0.1}))
        out.append((f"simpo_{inputs}", inputs, "simpo", {"loss_type": ["simpo"], "beta": 2.0, "simpo_gamma": 0.5}))
    out.append(("simpo_smoothed", "random", "simpo",
                {"loss_type": ["simpo"], "beta": 2.5, "simpo_gamma": 1.0, "label_smoothing": 0.1}))
    for eps in (0.1, 0.3):
        out.append((f"cdpo_v027_eps{eps}", "random", "cdpo_v027",
                    {"loss_type": ["sigmoid"], "beta": 0.1, "label_smoothing": eps}))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "trl"))
    ap.add_argument("--trl027", default="/tmp/trl027")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    inputs = {"random": make_inputs("random", 1), "len1": make_inputs("len1", 2), "large": make_inputs("large", 3)}
    v027 = load_v027_dpo_loss(args.trl027)
    tensors, grads, meta = {}, {}, []
    for name, inp in inputs.items():
        for k, v in inp.items():
            tensors[f"{name}.{k}"] = v.contiguous()
    for name, inp_name, trainer, cfg in cases():
        inp = inputs[inp_name]
        if trainer in ("dpo", "dpo32"):
            loss, metrics, grad = run_dpo(inp, cfg, torch.float32 if trainer == "dpo32" else torch.float64)
        elif trainer == "orpo":
            loss, metrics, grad = run_pairwise(ORPOTrainer, inp, cfg, {})
        elif trainer == "simpo":
            loss, metrics, grad = run_pairwise(CPOTrainer, inp, cfg, {
                "loss_type": "simpo", "simpo_gamma": cfg["simpo_gamma"], "cpo_alpha": 0.0, "alpha": 0.0,
                "label_smoothing": cfg.get("label_smoothing", 0.0)})
        else:
            loss, metrics, grad = run_cdpo_v027(v027, inp, cfg)
        grads[name] = grad.contiguous()
        meta.append({"name": name, "inputs": inp_name, "source": trainer, "config": cfg, "loss": loss,
                     "metrics": metrics,
                     # ORPO's odds_ratio_loss casts to float32 (`.float()`), and dpo32 runs in float32.
                     "precision": "float32" if trainer in ("dpo32", "orpo") else "float64"})
        print(f"{name:32s} loss {loss:+.6f}  " + " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())[:4]))
    save_file(tensors, os.path.join(args.out, "inputs.safetensors"), metadata={"trl": trl.__version__})
    save_file(grads, os.path.join(args.out, "grads.safetensors"), metadata={"trl": trl.__version__})
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"trl_version": trl.__version__, "torch_version": torch.__version__, "B": B, "T": T, "V": V,
                   "cases": meta}, f, indent=1)
    print(f"{len(meta)} cases -> {args.out}")


if __name__ == "__main__":
    main()
