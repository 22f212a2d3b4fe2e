#!/usr/bin/env python3
"""make_pairs_golden.py: expected pairs from TRL's own dataset preparation.

For five tokenizer setups (the golden tokenizer.json files of
tests/data/tokenizers with a tokenizer_config.json naming BOS/EOS and the
canonical Jinja chat template of chatml, llama3, zephyr and a plain
User:/Assistant: template, and the real Llama 3.2 Instruct template of
tests/data/chat_templates/ with its "Cutting Knowledge Date / Today Date"
system block, strftime_now fixed to 2026-03-07), runs trl.DPOTrainer._prepare_dataset (TRL main's
extract_prompt, EOS appending, chat-template rendering through transformers'
apply_chat_template, tokenization and prompt/completion split) on a JSONL
with every input form: standard strings, conversational message lists,
implicit prompts (both), system messages, multi-turn prompts, completions
that already end with EOS, text that starts with the BOS text, Unicode.
Writes tests/data/pairs/<setup>/ (tokenizer files) and
tests/data/pairs/input.jsonl, tests/data/pairs/<setup>/expected.json.

Then, for every real chat template of tests/data/chat_templates/, TRL's ids
of the conversational rows with the llama3_tok_llama3.2 tokenizer directory
and that template (what `prepare_pairs --chat-template FILE` does), in
tests/data/pairs/real_templates.json; a template that rejects a row (Gemma 2
and Mistral v0.2 refuse system messages) records the error.

Also TRL's extract_prompt on string pairs whose implicit prompt ends inside
multi-byte characters, at spaces or nowhere, in tests/data/pairs/extract_prompt.json.

Needs: pip install trl transformers tokenizers datasets   (dev tooling only)
"""
import datetime as real_datetime
import json
import os
import shutil
from types import SimpleNamespace

import transformers.utils.chat_template_utils as ctu

from datasets import Dataset
from transformers import PreTrainedTokenizerFast
from trl.data_utils import extract_prompt
from trl.trainer.dpo_trainer import DPOTrainer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")
CHAT_DATE = real_datetime.datetime(2026, 3, 7)


class FixedDatetime(real_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return CHAT_DATE


ctu.datetime = FixedDatetime  # the templates' strftime_now() reads the module's datetime.now()

TEMPLATES = {
    "chatml": ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}"),
    "llama3": ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
               "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
               "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
               "{{ content }}{% endfor %}{% if add_generation_prompt %}"
               "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"),
    "zephyr": ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + "
               "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + "
               "message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
               "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
               "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"),
    "plain": ("{% for m in messages %}{% if m['role'] == 'user' %}{{ 'User: ' + m['content'] + '\\n\\n' }}"
              "{% elif m['role'] == 'assistant' %}{{ 'Assistant: ' + m['content'] + eos_token + '\\n\\n' }}"
              "{% else %}{{ m['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
              "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"),
}
with open(os.path.join(DATA, "chat_templates", "llama3.2.jinja"), encoding="utf-8") as f:
    TEMPLATES["llama3.2"] = f.read()  # the real Llama 3.2 Instruct template (sources.json says where from)
# setup name: (tokenizer, template, bos, eos)
SETUPS = {
    "llama3_tok_llama3": ("llama3_style", "llama3", "<|begin_of_text|>", "<|eot_id|>"),
    "gpt2_tok_chatml": ("gpt2_style", "chatml", None, "<|endoftext|>"),
    "spm_tok_zephyr": ("spm_style", "zephyr", "<s>", "</s>"),
    "spm_tok_plain": ("spm_style", "plain", "<s>", "</s>"),
    "llama3_tok_llama3.2": ("llama3_style", "llama3.2", "<|begin_of_text|>", "<|eot_id|>"),
}

U = lambda c: {"role": "user", "content": c}  # noqa: E731
A = lambda c: {"role": "assistant", "content": c}  # noqa: E731
S = lambda c: {"role": "system", "content": c}  # noqa: E731

STANDARD = [
    {"prompt": "What colour is the sky?", "chosen": " It is blue.", "rejected": " It is green."},
    {"prompt": "Translate to French: cat", "chosen": " chat", "rejected": " chien"},
    {"prompt": "2 + 2 =", "chosen": " 4", "rejected": " 5 (definitely)"},
    {"prompt": "Write code:", "chosen": "\ndef f(x):\n    return x * 2\n", "rejected": "\nprint('no')"},
    {"prompt": "Café naïve 日本語 😀?", "chosen": " Oui — はい ✅", "rejected": " Non ❌"},
    {"prompt": "Say EOS", "chosen": " done<EOS>", "rejected": " not done"},
    {"prompt": "<BOS>Starts with BOS text.", "chosen": " yes", "rejected": " no"},
    {"prompt": "Trailing space ", "chosen": "word", "rejected": "other word"},
    {"chosen": "The answer is 42 because it is.", "rejected": "The answer is 41 because why not."},
    {"chosen": "Same start and then A", "rejected": "Same start and then B"},
]
CONVERSATIONAL = [
    {"prompt": [U("What colour is the sky?")], "chosen": [A("Blue.")], "rejected": [A("Green.")]},
    {"prompt": [S("You are terse."), U("Capital of France?")], "chosen": [A("Paris.")], "rejected": [A("Lyon.")]},
    {"prompt": [U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")],
     "chosen": [A("Why did the GPU cross the bus? To get to the other SM.")], "rejected": [A("No.")]},
    {"prompt": [U("  spaces around  ")], "chosen": [A("  trimmed?  ")], "rejected": [A("x")]},
    {"chosen": [U("Implicit prompt?"), A("Yes, extracted.")], "rejected": [U("Implicit prompt?"), A("No.")]},
    {"chosen": [S("sys"), U("q"), A("good answer")], "rejected": [S("sys"), U("q"), A("bad answer")]},
]


def main():
    out_dir = os.path.join(DATA, "pairs")
    os.makedirs(out_dir, exist_ok=True)
    for setup, (tok_name, template, bos, eos) in SETUPS.items():
        d = os.path.join(out_dir, setup)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(DATA, "tokenizers", tok_name, "tokenizer.json"),
                                      bos_token=bos, eos_token=eos)
        tok.chat_template = TEMPLATES[template]
        tok.save_pretrained(d)
        for extra in os.listdir(d):  # keep only what align.cu reads
            if extra not in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
                os.remove(os.path.join(d, extra))
        # Placeholders in the shared inputs become this setup's real BOS/EOS text.
        sub = lambda s: s.replace("<EOS>", eos).replace("<BOS>", bos or "")  # noqa: E731
        standard = [{k: sub(v) for k, v in ex.items()} for ex in STANDARD]
        results = []
        for rows in (standard, CONVERSATIONAL):
            trainer = DPOTrainer.__new__(DPOTrainer)
            trainer._tokenizer = tok
            args = SimpleNamespace(dataset_num_proc=None, max_length=None, truncation_mode="keep_start")
            ds = Dataset.from_list([dict(r) for r in rows]) if all("prompt" in r for r in rows) else None
            # Mixed prompt/no-prompt rows: TRL decides per dataset from its first row, so prepare each row alone.
            for r in rows:
                one = trainer._prepare_dataset(Dataset.from_list([dict(r)]), tok, args, "golden")[0]
                results.append({"prompt_ids": one["prompt_ids"], "chosen_ids": one["chosen_ids"],
                                "rejected_ids": one["rejected_ids"]})
            del ds
        with open(os.path.join(d, "input.jsonl"), "w") as f:
            for r in standard + CONVERSATIONAL:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump({"template": template, "chat_date": CHAT_DATE.strftime("%Y-%m-%d"), "pairs": results}, f)
        print(f"{setup}: {len(results)} pairs; files {sorted(os.listdir(d))}")

    # Every real template through TRL, on the llama3_tok_llama3.2 directory (its BOS/EOS).
    d = os.path.join(out_dir, "llama3_tok_llama3.2")
    tdir = os.path.join(DATA, "chat_templates")
    real = {"tokenizer": "llama3_tok_llama3.2", "chat_date": CHAT_DATE.strftime("%Y-%m-%d"), "rows": CONVERSATIONAL,
            "templates": {}}
    for fname in sorted(os.listdir(tdir)):
        if not fname.endswith(".jinja"):
            continue
        tok = PreTrainedTokenizerFast.from_pretrained(d)
        with open(os.path.join(tdir, fname), encoding="utf-8") as f:
            tok.chat_template = f.read()
        trainer = DPOTrainer.__new__(DPOTrainer)
        trainer._tokenizer = tok
        args = SimpleNamespace(dataset_num_proc=None, max_length=None, truncation_mode="keep_start")
        results = []
        for r in CONVERSATIONAL:
            try:
                one = trainer._prepare_dataset(Dataset.from_list([dict(r)]), tok, args, "golden")[0]
                results.append({"prompt_ids": one["prompt_ids"], "chosen_ids": one["chosen_ids"],
                                "rejected_ids": one["rejected_ids"]})
            except Exception as e:  # noqa: BLE001 - the template's own refusal is the expected result
                results.append({"error": f"{type(e).__name__}: {e}"})
        real["templates"][fname] = results
        print(f"{fname}: {sum('error' not in x for x in results)} of {len(results)} rows prepared")
    with open(os.path.join(out_dir, "real_templates.json"), "w") as f:
        json.dump(real, f, ensure_ascii=False)

    # TRL's implicit prompt of string pairs, split by code points (multi-byte characters, spaces).
    edge = [("日本 a", "日本 b"), ("xé", "xè"), ("same", "same"), ("ab  c", "ab  d"), ("😀x", "😀y"), ("a", "b"),
            ("é", "éé"), (" lead", " lean"), ("Ωmega ok", "Ωmega no"), ("x 😀", "x 😁")]
    rows = [{"chosen": c, "rejected": r, **{f"expected_{k}": v for k, v in extract_prompt({"chosen": c,
                                                                                            "rejected": r}).items()}}
            for c, r in edge]
    with open(os.path.join(out_dir, "extract_prompt.json"), "w") as f:
        json.dump(rows, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
