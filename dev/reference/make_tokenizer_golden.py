#!/usr/bin/env python3
"""make_tokenizer_golden.py: three tokenizer.json files and their golden encodings.

Trains, with PyPI `tokenizers`, three small BPE tokenizers of the three kinds
align.cu must read, on a built-in multilingual corpus:
  qwen2_style   NFC normaliser, Split(Qwen2's regex: single digits) + ByteLevel,
                ChatML special tokens
  gpt2_style    ByteLevel pre-tokenizer (GPT-2's regex), ByteLevel decoder,
                special <|endoftext|>
  llama3_style  Split(Llama 3's regex, Isolated) + ByteLevel(use_regex=false),
                ignore_merges, BOS added by a TemplateProcessing post-processor,
                several special tokens
  spm_style     SentencePiece-style: Prepend("▁") + Replace(" ", "▁")
                normaliser, BPE with byte_fallback and <0xNN> tokens, unk,
                decoder Replace/ByteFallback/Fuse/Strip, BOS via template
and writes, for every line of the golden corpus (ASCII, accents, CJK, emoji,
whitespace runs, digits, contractions, code, special tokens inside text,
invalid UTF-8 given as bytes), the ids with and without special tokens and
the decoded text. Invalid UTF-8 is passed to `tokenizers` decoded with
errors="replace" (U+FFFD for each maximal invalid subpart), the rule the C++
tokenizer applies to raw bytes.
Outputs tests/data/tokenizers/<name>/tokenizer.json and golden.json, and
dev/bench/tokenizer_corpus.txt for the speed benchmark.

Needs: pip install tokenizers   (dev tooling only)
"""
import base64
import json
import os
import random

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "data", "tokenizers")

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")

TRAIN = [
    "The quick brown fox jumps over the lazy dog. It's 2026, and we're training models they'll like.",
    "Preference optimisation: DPO, IPO, ORPO and SimPO compare chosen and rejected completions.",
    "Café, naïve, façade, Zürich, São Paulo, Ærøskøbing, Kraków, İstanbul — accents everywhere.",
    "日本語のテキストと中文文本，还有한국어 문장도 있습니다。",
    "Emoji: 😀 🚀 👩‍💻 🇫🇷 ❤️ and symbols ∑ ∫ ≤ ≥ → ∞.",
    "def train(model, data):\n    for step, batch in enumerate(data):\n        loss = model(batch)\n        loss.backward()\n",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }   // C code\t\twith tabs",
    "Numbers: 3.14159, 1234567890, 007, 1e-6, 65,536 and 2^32.",
    "   leading spaces, trailing spaces   \n\n\nnew lines\r\nwindows lines",
    "I can't, you won't, she'd, they've, we'll, I'm, it's — CONTRACTIONS IN CAPS: DON'T, I'LL.",
] * 20

GOLDEN = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "It's can't won't they'll I'd we've you're I'M DON'T",
    "Café naïve façade Zürich São Paulo Ærøskøbing İstanbul ß ǅ",
    "日本語のテキスト 中文文本 한국어",
    "😀🚀 👩‍💻 🇫🇷❤️ ∑∫≤≥→∞ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "    four leading spaces",
    "trailing spaces    ",
    "a  b   c    d     e",
    "line one\nline two\n\n\nline five\r\nwindows\ttab",
    "\n\n\n",
    " ",
    "",
    "1234567890 3.14159 007 1e-6 65,536 2^32 12345678",
    "def f(x):\n    return x ** 2  # square\n",
    "if (a != b && c <= d) { x += 1; } else { y -= 2; }",
    "<|endoftext|>",
    "text before<|endoftext|>text after",
    "<|begin_of_text|>Hello<|eot_id|> and <s>sentence</s>",
    "special <|endoftext|> in the <|endoftext|><|endoftext|> middle",
    "mixed: ünïcödé + emoji 😀 + CJK 中文 + code `x=1`",
    "URL: https://example.com/path?q=1&r=two#frag",
    "tabs\t\tand\tspaces \t mixed",
    "ÀÁÂÃÄÅàáâãäå",
    "ﬁ ﬂ ｆｕｌｌｗｉｄｔｈ ①②③",
    "decomposed: Cafe\u0301 A\u030a n\u0303 \u1100\u1161\u11a8 (NFC composes these)",
    "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
    "'s 're 'VE starting with a contraction",
    "1 12 123 1234 12345 123456 1234567 digits in groups",
    "          ten spaces then x",
    "\t\t\ttabs\t",
    "non\u00a0breaking\u3000ideographic\u2003em spaces",
    "e\u0301 combining acute, a\u0308 diaeresis, \u1100\u1161 jamo",
    "control \x00 \x01 \x7f chars",
    "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 1️⃣ keycap",
    "   <|endoftext|>   spaces around a special token",
    "<|eot_id|><|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi",
    "<s> </s> <unk> <0x41> look like specials",
    "Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬…æ œ∑´®†¥¨ˆøπ“‘",
    "Приветствую, мир! Ελληνικά κείμενα. עברית מימין לשמאל. العربية",
    "x" * 300,
    "the the the the the the the the the the the the",
    "MiXeD CaSe WoRdS aNd CAPS LOCK TEXT",
    "email@example.com #hashtag @mention $100 50% a+b=c",
    "```python\nprint('hi')\n```",
    "line\r\n\r\nwindows paragraphs\r\n",
]
INVALID_UTF8 = [b"bad \xff byte", b"\xc3\x28 broken pair", b"trunc \xe2\x82", b"\xed\xa0\x80 surrogate", b"\xf0\x9f\x98"]


def gpt2_style():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    return tok


def llama3_style():
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                                       pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                                       special_tokens=[("<|begin_of_text|>", bos)])
    return tok


def qwen2_style():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=650, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    return tok


def spm_style():
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=specials, show_progress=False,
                                  limit_alphabet=120)
    tok.train_from_iterator(TRAIN, trainer)
    # <0xNN> are ordinary vocabulary entries in SentencePiece conversions, not added tokens.
    data = json.loads(tok.to_str())
    data["added_tokens"] = [t for t in data["added_tokens"] if not t["content"].startswith("<0x")]
    tok = Tokenizer.from_str(json.dumps(data))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def main():
    random.seed(0)
    golden = GOLDEN + random.sample(TRAIN[:10], 10)
    corpus = golden + [b.decode("utf-8", errors="replace") for b in INVALID_UTF8]
    raw = [s.encode("utf-8") for s in golden] + INVALID_UTF8
    for name, make in (("gpt2_style", gpt2_style), ("llama3_style", llama3_style), ("qwen2_style", qwen2_style),
                       ("spm_style", spm_style)):
        tok = make()
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # what the C++ side reads
        cases = []
        for text, b in zip(corpus, raw):
            plain = tok.encode(text, add_special_tokens=False).ids
            special = tok.encode(text, add_special_tokens=True).ids
            cases.append({"bytes_b64": base64.b64encode(b).decode(), "ids": plain, "ids_special": special,
                          "decoded": tok.decode(plain, skip_special_tokens=False),
                          "decoded_skip": tok.decode(special, skip_special_tokens=True)})
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump({"vocab_size": tok.get_vocab_size(), "cases": cases}, f, ensure_ascii=False, indent=0)
        print(f"{name}: vocab {tok.get_vocab_size()}, {len(cases)} golden lines")
    # Benchmark corpus: the training text shuffled and repeated to ~2 MB.
    lines = TRAIN + GOLDEN
    bench = []
    while sum(len(x) for x in bench) < 2_000_000:
        bench.append(random.choice(lines))
    with open(os.path.join(HERE, "..", "bench", "tokenizer_corpus.txt"), "w") as f:
        f.write("\n".join(bench))


if __name__ == "__main__":
    main()
