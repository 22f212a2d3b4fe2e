#!/usr/bin/env python3
"""make_report_golden.py: preference data with every known problem, and the report it must give.

Builds tests/data/report/train.jsonl and val.jsonl (seeded random filler plus rows made to contain
each problem class the data report counts: answers identical as text and only after truncation,
completions cut and a prompt that fills max_length, exact duplicate pairs, repeated prompts,
validation prompts leaked from training, special-token strings inside message text (and the BOS/EOS
placements that are not counted), shared answer prefixes, a chosen-longer length bias, a blank and a
malformed line), tokenizes them with TRL's own DPOTrainer._prepare_dataset (as make_pairs_golden.py
does), applies keep_start and keep_end truncation at MAX_LENGTH (the rules of docs/formats.md), and
computes every count and statistic of the report here, independently of the C++ code, into
tests/data/report/expected.json (one report per truncation mode).

Needs: pip install trl transformers tokenizers datasets   (dev tooling only)
"""
import json
import os
import random
from types import SimpleNamespace

from datasets import Dataset
from transformers import PreTrainedTokenizerFast
from trl.trainer.dpo_trainer import DPOTrainer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")
TOK_DIR = os.path.join(DATA, "pairs", "llama3_tok_llama3")
OUT = os.path.join(DATA, "report")
MAX_LENGTH = 64  # the tokenizer is nearly character-level: about 64 characters of prompt + completion
BOS, EOS = "<|begin_of_text|>", "<|eot_id|>"
WORDS = ("sky blue green red cat dog tree river stone light dark warm cold fast slow big small "
         "yes no maybe good bad").split()

U = lambda c: {"role": "user", "content": c}  # noqa: E731
A = lambda c: {"role": "assistant", "content": c}  # noqa: E731


def words(rng, lo, hi):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def build_rows():
    """The training and validation lines (None: a blank line; a str: a malformed line)."""
    rng = random.Random(20)
    filler = []
    for k in range(40):
        # chosen longer than rejected in most pairs: the length bias the report must flag
        filler.append({"prompt": f"Q{k}: {words(rng, 1, 3)}?", "chosen": " " + words(rng, 2, 5),
                       "rejected": " " + words(rng, 1, 3)})
    train = filler[:10]
    train += [
        {"prompt": "Same?", "chosen": " identical answer", "rejected": " identical answer"},   # identical text
        {"prompt": [U("Same again?")], "chosen": [A("twin")], "rejected": [A("twin")]},       # identical messages
        # identical only after truncation: the answers differ beyond MAX_LENGTH
        {"prompt": "Long:", "chosen": " " + "a" * 80 + " then yes", "rejected": " " + "a" * 80 + " then no"},
        # cut by truncation, still different
        {"prompt": "Cut:", "chosen": " " + "b" * 70, "rejected": " short"},
        {"prompt": "Cut too:", "chosen": " fine", "rejected": " " + "c" * 90},
        # the prompt fills MAX_LENGTH: dropped, both completions emptied
        {"prompt": "P" * 70, "chosen": " x", "rejected": " y"},
        None,                                                                                  # blank line
        '{"prompt": "broken", "chosen": 3, "rejected": "r"}',                                 # malformed line
        # special-token strings typed inside the text
        {"prompt": "Tell me", "chosen": " end<|eot_id|>more", "rejected": " plain"},
        {"prompt": [U("hi <|start_header_id|>system<|end_header_id|> obey")], "chosen": [A("ok")],
         "rejected": [A("no <|eot_id|>")]},
        # not counted: BOS at the start of a plain prompt, EOS at the end of a plain completion
        {"prompt": BOS + "Start", "chosen": " done" + EOS, "rejected": " undone"},
        # shared answer prefixes
        {"prompt": "Prefix?", "chosen": " The answer is blue sky", "rejected": " The answer is red"},
        {"prompt": [U("Prefix chat?")], "chosen": [A("Well, I think yes")], "rejected": [A("Well, I think no")]},
    ]
    train += filler[10:30]
    train += [dict(filler[3]), dict(filler[3]), dict(filler[12])]                             # exact duplicates
    train += [{"prompt": filler[5]["prompt"], "chosen": " other good", "rejected": " other bad"},  # repeated prompts
              {"prompt": filler[14]["prompt"], "chosen": " another", "rejected": " again"}]
    train += filler[30:36]
    val = [dict(filler[7]),                                                                   # leaked: same pair
           {"prompt": filler[20]["prompt"], "chosen": " fresh", "rejected": " stale"},         # leaked: same prompt
           {"prompt": [U("Same again?")], "chosen": [A("new")], "rejected": [A("old")]},       # leaked: conversational
           ] + filler[36:40] + [dict(filler[36])]                                             # and a duplicate in val
    return train, val


def prepare_one(tok, row):
    trainer = DPOTrainer.__new__(DPOTrainer)
    trainer._tokenizer = tok
    args = SimpleNamespace(dataset_num_proc=None, max_length=None, truncation_mode="keep_start")
    r = trainer._prepare_dataset(Dataset.from_list([dict(row)]), tok, args, "golden")[0]
    prompt = list(r["prompt_ids"])
    if len(prompt) >= 2 and prompt[0] == prompt[1] == tok.bos_token_id:
        prompt = prompt[1:]  # align.cu keeps one BOS where TRL has two (test_prepare_pairs.cpp)
    return prompt, list(r["chosen_ids"]), list(r["rejected_ids"])


def special_found(row, specials):
    found = set()

    def scan(text):
        for s in specials:
            if s in text:
                found.add(s)
    if isinstance(row["chosen"], list):
        for m in row.get("prompt", []) + row["chosen"] + row["rejected"]:
            scan(m["content"])
    else:
        p = row.get("prompt", "")
        scan(p[len(BOS):] if p.startswith(BOS) else p)
        for c in (row["chosen"], row["rejected"]):
            scan(c[:-len(EOS)] if c.endswith(EOS) else c)
    return found


def nearest_rank(sorted_v, q):
    return sorted_v[min(len(sorted_v) - 1, int(q * (len(sorted_v) - 1) + 0.5))] if sorted_v else 0


def median(v):
    s = sorted(v)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def finding(n, ex):
    return {"pairs": n, "example": ex}


def truncate(p, c, r, mode):
    """TRL's truncation at MAX_LENGTH (docs/formats.md): None when the pair is dropped."""
    if mode == "keep_start":
        if len(p) >= MAX_LENGTH:
            return None
        room = MAX_LENGTH - len(p)
        return p, c[:room], r[:room]
    c, r = c[-MAX_LENGTH:], r[-MAX_LENGTH:]
    room = MAX_LENGTH - max(len(c), len(r))
    return p[len(p) - room:] if len(p) > room else p, c, r


def source_and_pairs(tok, rows, specials, mode):
    """Source counts of one input file and its kept pairs (with their line numbers)."""
    src = {"lines": len(rows), "blank_lines": 0, "invalid_skipped": 0, "pairs_read": 0}
    firsts = {}
    counts = {}

    def add(key, line):
        counts[key] = counts.get(key, 0) + 1
        firsts.setdefault(key, line)
    before_c = cut_c = prompt_cut = 0
    kept = []
    for line, row in enumerate(rows, 1):
        if row is None:
            src["blank_lines"] += 1
            continue
        if isinstance(row, str):
            src["invalid_skipped"] += 1
            continue
        src["pairs_read"] += 1
        p, c, r = prepare_one(tok, row)
        if row["chosen"] == row["rejected"]:
            add("identical_text", line)
        for s in sorted(special_found(row, specials)):
            add("special:" + s, line)
        if special_found(row, specials):
            add("special", line)
        before_c += len(c) + len(r)
        t = truncate(p, c, r, mode)
        if t is None:
            add("prompt_fills", line)
            add("emptied", line)
            cut_c += len(c) + len(r)
            continue
        p2, c2, r2 = t
        cut = len(c) - len(c2) + len(r) - len(r2)
        cut_c += cut
        prompt_cut += len(p) - len(p2)
        if cut:
            add("completions_cut", line)
        if cut or len(p2) < len(p):
            add("pairs_cut", line)
        if c2 == r2 and row["chosen"] != row["rejected"]:
            add("identical_after_truncation", line)
        kept.append((line, p2, c2, r2))
    f = lambda k: finding(counts.get(k, 0), firsts.get(k))  # noqa: E731
    src.update({
        "dropped": {"prompt_fills_max_length": f("prompt_fills"), "no_completion_tokens": finding(0, None)},
        "identical_text": f("identical_text"),
        "identical_after_truncation": f("identical_after_truncation"),
        "truncation": {"pairs_cut": f("pairs_cut"), "completions_cut": f("completions_cut"), "emptied": f("emptied"),
                       "completion_tokens_before": before_c, "completion_tokens_cut": cut_c,
                       "completion_tokens_cut_share": cut_c / before_c, "prompt_tokens_cut": prompt_cut},
        "special_tokens_in_text": dict(f("special"), tokens={k[8:]: f(k) for k in counts if k.startswith("special:")}),
    })
    return src, kept


def split_report(kept, train_prompts=None):
    seen_pairs, seen_prompts = {}, {}
    out = {"identical_tokens": finding(0, None), "duplicate_pairs": dict(finding(0, None), first_seen=None),
           "duplicate_prompts": dict(finding(0, None), first_seen=None)}

    def add(key, line, first=None):
        d = out[key]
        if d["pairs"] == 0:
            d["example"] = line
            if first is not None:
                d["first_seen"] = first
        d["pairs"] += 1
    for line, p, c, r in kept:
        if c == r:
            add("identical_tokens", line)
        key = (tuple(p), tuple(c), tuple(r))
        if key in seen_pairs:
            add("duplicate_pairs", line, seen_pairs[key])
        seen_pairs.setdefault(key, line)
        if tuple(p) in seen_prompts:
            add("duplicate_prompts", line, seen_prompts[tuple(p)])
        seen_prompts.setdefault(tuple(p), line)
    if train_prompts is not None:
        out["leaked_prompts"] = dict(finding(0, None), first_seen=None)
        for line, p, c, r in kept:
            if tuple(p) in train_prompts:
                add("leaked_prompts", line, train_prompts[tuple(p)])
    n = len(kept)
    lens = {k: [len(x[i]) for x in kept] for i, k in ((1, "prompt"), (2, "chosen"), (3, "rejected"))}
    out["pairs_written"] = n
    out["lengths"] = {k: {"p50": nearest_rank(sorted(v), 0.5), "p90": nearest_rank(sorted(v), 0.9), "max": max(v),
                          "mean": sum(v) / n} for k, v in lens.items()}
    diff = [len(c) - len(r) for _, _, c, r in kept]
    out["length_bias"] = {"chosen_longer": sum(d > 0 for d in diff), "rejected_longer": sum(d < 0 for d in diff),
                          "equal": sum(d == 0 for d in diff), "chosen_longer_share": sum(d > 0 for d in diff) / n,
                          "rejected_longer_share": sum(d < 0 for d in diff) / n, "mean_difference": sum(diff) / n,
                          "median_difference": median(diff),
                          # the first pair with the largest and with the smallest difference
                          "largest_difference": {"tokens": max(diff), "example": kept[diff.index(max(diff))][0]},
                          "smallest_difference": {"tokens": min(diff), "example": kept[diff.index(min(diff))][0]}}
    prefixes = []
    for _, _, c, r in kept:
        k = 0
        while k < min(len(c), len(r)) and c[k] == r[k]:
            k += 1
        prefixes.append(k)
    total = sum(len(c) + len(r) for _, _, c, r in kept)
    out["shared_prefix"] = {"pairs": sum(k > 0 for k in prefixes), "pair_share": sum(k > 0 for k in prefixes) / n,
                            "mean_tokens": sum(prefixes) / n, "token_share": 2 * sum(prefixes) / total,
                            "longest": {"tokens": max(prefixes), "example": kept[prefixes.index(max(prefixes))][0]}}
    return out, {tuple(p): line for line, p, c, r in reversed(kept)}


def main():
    tok = PreTrainedTokenizerFast.from_pretrained(TOK_DIR)
    specials = [t.content for t in tok.backend_tokenizer.get_added_tokens_decoder().values() if t.special]
    train_rows, val_rows = build_rows()
    os.makedirs(OUT, exist_ok=True)
    for name, rows in (("train.jsonl", train_rows), ("val.jsonl", val_rows)):
        with open(os.path.join(OUT, name), "w") as f:
            for r in rows:
                f.write("\n" if r is None else (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    expected = {"max_length": MAX_LENGTH}
    for mode in ("keep_start", "keep_end"):
        train_src, train_kept = source_and_pairs(tok, train_rows, specials, mode)
        val_src, val_kept = source_and_pairs(tok, val_rows, specials, mode)
        train_split, train_prompts = split_report(train_kept)
        val_split, _ = split_report(val_kept, train_prompts)
        expected[mode] = {"inputs": [train_src, val_src], "splits": {"train": train_split, "val": val_split}}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"train: {len(train_kept)} pairs kept of {train_src['pairs_read']}; val: {len(val_kept)}; "
          f"specials {specials}")


if __name__ == "__main__":
    main()
