#!/usr/bin/env bash
# cli_bad_files.sh INSPECT MAKE_MODEL IMPORT_HF EXPORT_HF DATA PREPARE_PAIRS TOKENIZE PREPARE_SFT TRAIN_DPO TRAIN_SFT:
# the tools on good and bad
# model files. A bad file must give exactly one line on stderr naming the file
# and the problem, exit code 2 (never a crash: no signal, no core), and leave
# no partial or temporary file behind. Run by ctest (CMakeLists.txt).
set -u
inspect=$1
make_model=$2
import_hf=$3
export_hf=$4
data=$5
prepare_pairs=$6
tokenize=$7
prepare_sft=$8
train_dpo=$9
train_sft=${10}
sample=${11}
eval_pairs=${12}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
passes=0

check() {  # check NAME EXPECTED_EXIT EXPECTED_STDERR_SUBSTRING CMD...
  local name=$1 want=$2 text=$3
  shift 3
  "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$dir/err")
  if [ "$rc" -ne "$want" ] || { [ -n "$text" ] && ! grep -qF -- "$text" "$dir/err"; } ||
     { [ "$want" -ne 0 ] && [ "$lines" -ne 1 ]; }; then
    echo "FAIL $name: exit $rc (want $want), stderr ($lines lines):"; cat "$dir/err"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

good=$dir/good.bin
"$make_model" -o "$good" --arch llama --vocab 300 --layers 2 --heads 4 --kv-heads 2 --embd 32 --max-seq 16 >/dev/null || {
  echo "FAIL make_model could not write a model"; exit 1; }
check "good file" 0 "" "$inspect" "$good"
grep -q "llama V=300 (padded 384) L=2 NH=4 NKV=2 C=32" "$dir/out" || { echo "FAIL inspect output: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "tensor listing" 0 "" "$inspect" --tensors "$good"
grep -q "layers.1.attn.qkv.weight" "$dir/out" || { echo "FAIL --tensors lists no qkv"; fails=$((fails + 1)); }

size=$(stat -c %s "$good")
head -c $((size - 10)) "$good" >"$dir/truncated.bin"
check "truncated" 2 "truncated.bin: file is $((size - 10)) bytes, the header describes $size (truncated)" "$inspect" "$dir/truncated.bin"
head -c 100 "$good" >"$dir/short.bin"
check "shorter than header" 2 "shorter than the 256-byte header" "$inspect" "$dir/short.bin"
{ printf 'NOTAMODL'; tail -c +9 "$good"; } >"$dir/magic.bin"
check "wrong magic" 2 "magic is 'NOTAMODL', expected 'ALIGNMDL' (model), 'ALIGNPRS' (pairs) or 'ALIGNSFT' (SFT data)" "$inspect" "$dir/magic.bin"
cp "$good" "$dir/version.bin"; printf '\x09' | dd of="$dir/version.bin" bs=1 seek=8 conv=notrunc status=none
check "wrong version" 2 "format version 9, this build reads version 1" "$inspect" "$dir/version.bin"
cp "$good" "$dir/heads.bin"; printf '\x03' | dd of="$dir/heads.bin" bs=1 seek=32 conv=notrunc status=none
check "inconsistent config" 2 "field n_kv_head = 2 does not divide n_head = 3" "$inspect" "$dir/heads.bin"
cp "$good" "$dir/corrupt.bin"; printf '\x55' | dd of="$dir/corrupt.bin" bs=1 seek=300 conv=notrunc status=none
check "corrupted data" 2 "(corrupted file)" "$inspect" "$dir/corrupt.bin"
check "missing file" 2 "nope.bin: cannot open" "$inspect" "$dir/nope.bin"
check "bad flag value" 2 "arch 'bert' is not known" "$make_model" -o "$dir/x.bin" --arch bert
check "bad config from flags" 2 "field n_kv_head = 3 does not divide n_head = 4" "$make_model" -o "$dir/y.bin" --arch llama --heads 4 --kv-heads 3
check "unwritable output" 2 "cannot create" "$make_model" -o "$dir/no/such/dir/z.bin" --layers 1 --embd 16 --heads 2 --vocab 10
check "missing required flag" 2 "--output is required" "$make_model"
check "unknown flag" 2 "--frobnicate" "$make_model" -o "$dir/w.bin" --frobnicate
check "help" 0 "" "$make_model" --help
grep -q -- "--kv-heads" "$dir/out" || { echo "FAIL --help lists no --kv-heads"; fails=$((fails + 1)); }

# Hugging Face import and export through the tools.
check "import_hf" 0 "" "$import_hf" "$data/hf/qwen2_bias_tied" -o "$dir/qwen.bin"
grep -q "qkv-bias" "$dir/out" || { echo "FAIL import_hf output: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "export_hf" 0 "" "$export_hf" "$dir/qwen.bin" -o "$dir/qwen_hf" --dtype bf16
[ -f "$dir/qwen_hf/model.safetensors" ] && [ -f "$dir/qwen_hf/config.json" ] || { echo "FAIL export_hf wrote no files"; fails=$((fails + 1)); }
check "export into a non-empty directory" 2 "qwen_hf: exists and is not an empty directory" "$export_hf" "$dir/qwen.bin" -o "$dir/qwen_hf"
check "import a file, not a directory" 2 "not a directory" "$import_hf" "$dir/qwen.bin" -o "$dir/x.bin"
check "import with a bad dtype" 2 "dtype 'fp8' is not known" "$import_hf" "$data/hf/gpt2_tiny" -o "$dir/x.bin" --dtype fp8
rm -rf "$dir/qwen_hf" "$dir/qwen.bin"

# Preference data: a good file, a malformed line (named by its number), --skip-invalid, no partial output.
tok="$data/pairs/llama3_tok_llama3"
cp "$tok/input.jsonl" "$dir/in.jsonl"
check "prepare_pairs" 0 "" "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/p.bin" -t "$tok"
grep -q "16 pairs tokenized (6 conversational, 4 with an implicit prompt)" "$dir/out" || { echo "FAIL prepare_pairs summary: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "inspect pairs" 0 "" "$inspect" "$dir/p.bin" --show 1 --tokenizer "$tok/tokenizer.json"
grep -q "16 pairs" "$dir/out" && grep -q "prompt:   <|begin_of_text|>What colour" "$dir/out" || { echo "FAIL inspect pairs: $(cat "$dir/out")"; fails=$((fails + 1)); }
{ head -3 "$dir/in.jsonl"; echo '{"prompt": "p", "chosen": 7, "rejected": "r"}'; tail -2 "$dir/in.jsonl"; } >"$dir/bad.jsonl"
check "malformed line" 2 "bad.jsonl:4: field 'chosen' is a number, expected a string or a list of messages" "$prepare_pairs" -i "$dir/bad.jsonl" -o "$dir/bad.bin" -t "$tok"
[ ! -e "$dir/bad.bin" ] || { echo "FAIL a partial bad.bin was written"; fails=$((fails + 1)); }
check "skip invalid" 0 "" "$prepare_pairs" -i "$dir/bad.jsonl" -o "$dir/bad.bin" -t "$tok" --skip-invalid
grep -q "1 invalid lines skipped" "$dir/out" || { echo "FAIL --skip-invalid count: $(cat "$dir/out")"; fails=$((fails + 1)); }
echo '{"prompt": "p", "chosen": "c"' >"$dir/json.jsonl"
check "broken JSON" 2 "json.jsonl:1: not valid JSON" "$prepare_pairs" -i "$dir/json.jsonl" -o "$dir/j.bin" -t "$tok"
check "val split" 0 "" "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/s.bin" -t "$tok" --val-fraction 0.3
[ -f "$dir/s.val.bin" ] || { echo "FAIL no validation file"; fails=$((fails + 1)); }
check "bad truncation" 2 "--truncation 'middle' is not known" "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/x.bin" -t "$tok" --truncation middle
# The data report: written next to the output, not after a failure; the choices and their misuse.
[ -f "$dir/p.bin.report.json" ] && grep -q '"format": "align.cu pair report"' "$dir/p.bin.report.json" ||
  { echo "FAIL prepare_pairs wrote no p.bin.report.json"; fails=$((fails + 1)); }
[ ! -e "$dir/bad.bin.report.json" ] || [ -e "$dir/bad.bin" ] || { echo "FAIL a report without its pairs"; fails=$((fails + 1)); }
check "val split report" 0 "" "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/s.bin" -t "$tok" --val-fraction 0.3
grep -q "prompts also in training" "$dir/out" || { echo "FAIL no leakage line: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "drop-leaked-val without a split" 2 "--drop-leaked-val needs a validation split (--val-fraction or --val-input)" \
  "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/x.bin" -t "$tok" --drop-leaked-val
[ ! -e "$dir/x.bin" ] && [ ! -e "$dir/x.bin.report.json" ] || { echo "FAIL output after a refused flag"; fails=$((fails + 1)); }
{ head -2 "$dir/in.jsonl"; head -1 "$dir/in.jsonl"; echo '{"prompt": "p", "chosen": " same", "rejected": " same"}'; } >"$dir/dup.jsonl"
check "findings warn" 0 "1 pairs in train that repeat an earlier pair (e.g. line 3 repeats line 1)" \
  "$prepare_pairs" -i "$dir/dup.jsonl" -o "$dir/dup.bin" -t "$tok"
grep -q "dup.jsonl: 1 pairs whose chosen and rejected are the same text (e.g. line 4)" "$dir/err" ||
  { echo "FAIL identical warning: $(cat "$dir/err")"; fails=$((fails + 1)); }
check "--dedupe --drop-identical" 0 "" "$prepare_pairs" -i "$dir/dup.jsonl" -o "$dir/dup.bin" -t "$tok" --dedupe --drop-identical
grep -q "wrote $dir/dup.bin (2 pairs)" "$dir/out" && grep -q "dropped by choice     1 identical, 1 duplicate, 0 leaked" "$dir/out" ||
  { echo "FAIL choices: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "inspect --report" 0 "" "$inspect" "$dir/s.bin" --report
grep -q "report of val ($dir/s.val.bin)" "$dir/out" || { echo "FAIL inspect --report found no val file: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "inspect --report --val none" 0 "" "$inspect" "$dir/s.bin" --report --val none
! grep -q "report of val" "$dir/out" || { echo "FAIL --val none still checked validation"; fails=$((fails + 1)); }
check "inspect --report-json" 0 "" "$inspect" "$dir/p.bin" --report-json "$dir/p_inspect.json"
grep -q '"tool": "inspect"' "$dir/p_inspect.json" || { echo "FAIL inspect --report-json"; fails=$((fails + 1)); }
check "inspect --report on a model" 2 "good.bin: --report applies to pairs files, this is not one" "$inspect" "$good" --report
check "inspect --val without --report" 2 "--val applies to --report only" "$inspect" "$dir/p.bin" --val "$dir/s.val.bin"
check "inspect --val missing" 2 "nope.val.bin: cannot open" "$inspect" "$dir/p.bin" --report --val "$dir/nope.val.bin"
check "prepare_pairs help" 0 "" "$prepare_pairs" --help
grep -q -- "--drop-leaked-val" "$dir/out" && grep -q "OUTPUT.report.json" "$dir/out" ||
  { echo "FAIL --help lists no report flags"; fails=$((fails + 1)); }
head -c 300 "$dir/p.bin" >"$dir/trunc_pairs.bin"
check "truncated pairs.bin" 2 "(truncated)" "$inspect" "$dir/trunc_pairs.bin"
check "tokenize" 0 "" "$tokenize" -t "$tok" --ids-only --special "Hello world"
[ "$(head -c 2 "$dir/out")" = "0 " ] || { echo "FAIL tokenize --special does not start with BOS 0: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "tokenize chat" 0 "" "$tokenize" -t "$tok" --chat "Hi"
grep -q "<|start_header_id|>assistant<|end_header_id|>" "$dir/out" || { echo "FAIL tokenize --chat: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "tokenize decode" 0 "" "$tokenize" -t "$tok" --decode 0
grep -q "<|begin_of_text|>" "$dir/out" || { echo "FAIL tokenize --decode"; fails=$((fails + 1)); }
check "decode bad id" 2 "token id 99999 is not in the tokenizer's vocabulary" "$tokenize" -t "$tok" --decode 99999
printf '%s\n' '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}' >"$dir/sft_conv.jsonl"
# Chat templates: the real Llama 3.2 template with a chosen date, a Jinja file, bad names, dates and constructs.
check "prepare_pairs llama3.2 dated" 0 "" "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/p32.bin" -t "$data/pairs/llama3_tok_llama3.2" --chat-date 2026-03-07
check "tokenize chat file template" 0 "" "$tokenize" -t "$tok" --chat --chat-template "$data/chat_templates/llama3.2.jinja" --chat-date 2024-02-29 "Hi"
grep -q "Today Date: 29 Feb 2024" "$dir/out" || { echo "FAIL tokenize --chat-template FILE: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "unknown chat template" 2 "--chat-template 'vicuna' is neither a built-in template" "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/x.bin" -t "$tok" --chat-template vicuna
check "bad chat date" 2 "--chat-date '2025-02-29' is not a date" "$prepare_pairs" -i "$dir/in.jsonl" -o "$dir/x.bin" -t "$tok" --chat-date 2025-02-29
printf '{%% for m in messages %%}\n{{ m.content | wordwrap }}{%% endfor %%}' >"$dir/bad.jinja"
check "unsupported construct" 2 "bad.jinja line 2: the filter 'wordwrap' is not supported" "$prepare_sft" -i "$dir/sft_conv.jsonl" -o "$dir/x.bin" -t "$tok" --chat-template "$dir/bad.jinja"
[ ! -e "$dir/x.bin" ] || { echo "FAIL a failed run left x.bin behind"; fails=$((fails + 1)); }
printf '{"prompt": "ab\xff\xfecd", "chosen": "x", "rejected": "y"}\n' >"$dir/utf8.jsonl"
check "invalid UTF-8 escaped" 2 "utf8.jsonl:1: invalid UTF-8 at byte 14: '{\"prompt\": \"ab\\xff\\xfecd\"" "$prepare_pairs" -i "$dir/utf8.jsonl" -o "$dir/x.bin" -t "$tok"
iconv -f UTF-8 -t UTF-8 "$dir/err" >/dev/null 2>&1 || { echo "FAIL raw invalid UTF-8 in the message: $(cat -v "$dir/err")"; fails=$((fails + 1)); }
printf '%s\n' 'line one' 'line two' >"$dir/lines.txt"
check "tokenize --lines" 0 "" "$tokenize" -t "$tok" --lines "$dir/lines.txt"
[ "$(wc -l <"$dir/out")" -eq 2 ] || { echo "FAIL tokenize --lines: $(cat "$dir/out")"; fails=$((fails + 1)); }
# Decoding is NUL-safe: id 193 is the byte 0x00 of the byte-level alphabet, 69 is 'a'.
check "tokenize decode NUL" 0 "" "$tokenize" -t "$tok" --decode 193 69
[ "$(od -An -tx1 "$dir/out" | tr -d ' \n')" = "00610a" ] || { echo "FAIL tokenize --decode drops a NUL: $(od -c "$dir/out")"; fails=$((fails + 1)); }
printf '193 69\n69\n' >"$dir/ids.txt"
check "tokenize decode lines" 0 "" "$tokenize" -t "$tok" --decode --lines "$dir/ids.txt"
[ "$(head -1 "$dir/out")" = '"\u0000a"' ] || { echo "FAIL tokenize --decode --lines: $(cat "$dir/out")"; fails=$((fails + 1)); }
# SFT data: JSONL forms, plain text, errors.
printf '%s\n' '{"prompt": "Q?", "completion": " A."}' '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}' '{"text": "doc"}' >"$dir/sft.jsonl"
check "prepare_sft" 0 "" "$prepare_sft" -i "$dir/sft.jsonl" -o "$dir/sft.bin" -t "$tok"
grep -q "3 examples (1 conversational)" "$dir/out" || { echo "FAIL prepare_sft summary: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "inspect sft" 0 "" "$inspect" "$dir/sft.bin"
grep -q "3 records" "$dir/out" || { echo "FAIL inspect sft: $(cat "$dir/out")"; fails=$((fails + 1)); }
printf 'first document\nstill first\n\nsecond document\n' >"$dir/plain.txt"
check "prepare_sft --text" 0 "" "$prepare_sft" -i "$dir/plain.txt" -o "$dir/stream.bin" -t "$tok" --text
grep -q "2 documents" "$dir/out" || { echo "FAIL prepare_sft --text: $(cat "$dir/out")"; fails=$((fails + 1)); }
printf '%s\n' '{"prompt": "Q?", "completion": " A."}' '{"prompt": "Q?"}' >"$dir/sftbad.jsonl"
check "prepare_sft bad line" 2 "sftbad.jsonl:2: expected 'prompt' and 'completion', 'messages', or 'text'" "$prepare_sft" -i "$dir/sftbad.jsonl" -o "$dir/sftbad.bin" -t "$tok"
# Trainers: a short run, a recipe, bad setups, and a clean stop on SIGINT.
"$make_model" -o "$dir/tiny.bin" --arch llama --vocab 697 --layers 1 --heads 2 --kv-heads 1 --embd 32 --max-seq 128 >/dev/null
check "train_dpo" 0 "" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run" --max-steps 2 -b 4
grep -q "step 2/2 | loss" "$dir/out" && [ -f "$dir/run/model.bin" ] && [ "$(wc -l <"$dir/run/metrics.jsonl")" -eq 2 ] ||
  { echo "FAIL train_dpo run: $(cat "$dir/out")"; fails=$((fails + 1)); }
echo '{"max-steps": 1, "batch-size": 2, "beta": 0.5, "loss": "sigmoid,sft", "loss-weights": "1,0.5"}' >"$dir/recipe.json"
check "recipe" 0 "" "$train_dpo" --config "$dir/recipe.json" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run2" --max-steps 3
grep -q "step 3/3" "$dir/out" && grep -q '"nll_loss"' "$dir/run2/metrics.jsonl" ||
  { echo "FAIL recipe (command line must win, sft term on): $(cat "$dir/out")"; fails=$((fails + 1)); }
check "train_dpo precompute" 0 "" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run3" --max-steps 1 -b 4 --precompute-ref
grep -q "stored reference log-probs of 16 pairs" "$dir/out" || { echo "FAIL precompute: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "train_dpo precompute reuse" 0 "" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run3" --max-steps 1 -b 4 --precompute-ref
grep -q "reusing the stored reference log-probs" "$dir/out" || { echo "FAIL precompute reuse: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "orpo without reference" 0 "" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run4" --max-steps 1 -b 4 --loss orpo
check "orpo with --beta" 2 "--beta does not apply to orpo" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run4" --loss orpo --beta 0.2
check "batch too large" 2 "--batch-size 64 is larger than the training set (16 examples)" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run5" -b 64
check "missing pairs" 2 "nope.bin: cannot open" "$train_dpo" -i "$dir/nope.bin" -m "$dir/tiny.bin" -o "$dir/run5"
check "bad dtype" 2 "--dtype 'fp16', expected fp32, bf16 or auto" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run5" --dtype fp16
check "bf16 on the cpu" 2 "--dtype bf16 needs --device cuda" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run5" --device cpu --dtype bf16
check "bad loss" 2 "loss type 'dpo' is not known" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run5" --loss dpo
"$make_model" -o "$dir/small_vocab.bin" --arch llama --vocab 100 --layers 1 --heads 2 --embd 16 --max-seq 64 >/dev/null
check "vocab mismatch" 2 "token ids go up to vocab_size 697, the model has 100 tokens" "$train_dpo" -i "$dir/p.bin" -m "$dir/small_vocab.bin" -o "$dir/run5"
check "bad layout" 2 "--layout 'diagonal', expected padded, packed or shared" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run5" --layout diagonal
check "padding-free with another layout" 2 "--padding-free means --layout packed, but --layout padded was given too" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run5" --padding-free --layout padded
check "train_dpo padding-free" 0 "" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run6" --max-steps 1 -b 4 --padding-free
grep -q "batch layout: packed" "$dir/out" || { echo "FAIL --padding-free: $(cat "$dir/out")"; fails=$((fails + 1)); }
check "sft shared" 2 "--layout shared is for preference pairs" "$train_sft" -i "$dir/sft.bin" -m "$dir/tiny.bin" -o "$dir/sftrun" --layout shared
check "unknown flag" 2 "--bogus" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run5" --bogus
check "train_sft" 0 "" "$train_sft" -i "$dir/sft.bin" -m "$dir/tiny.bin" -o "$dir/sftrun" --max-steps 2 -b 2
grep -q "step 2/2" "$dir/out" || { echo "FAIL train_sft: $(cat "$dir/out")"; fails=$((fails + 1)); }
# Sampling and evaluation of the trained policy against its starting point.
check "sample" 0 "" "$sample" -m "$dir/run/model.bin" -t "$tok" --prompt "Hello" --compare "$dir/tiny.bin" --max-new-tokens 4 -n 2 --seed 3
[ "$(grep -c "policy    \[" "$dir/out")" -eq 2 ] && [ "$(grep -c "reference \[" "$dir/out")" -eq 2 ] ||
  { echo "FAIL sample output: $(cat "$dir/out")"; fails=$((fails + 1)); }
cp "$dir/out" "$dir/sample1"
"$sample" -m "$dir/run/model.bin" -t "$tok" --prompt "Hello" --compare "$dir/tiny.bin" --max-new-tokens 4 -n 2 --seed 3 >"$dir/sample2"
cmp -s "$dir/sample1" "$dir/sample2" || { echo "FAIL sample is not reproducible from its seed"; fails=$((fails + 1)); }
check "sample without prompt" 2 "no prompt" "$sample" -m "$dir/run/model.bin" -t "$tok"
check "eval_pairs" 0 "" "$eval_pairs" -m "$dir/run/model.bin" -r "$dir/tiny.bin" -i "$dir/p.bin" --kl-prompts 2 --kl-max-tokens 4
grep -q "eval_rewards/accuracies" "$dir/out" && grep -q "kl(policy||reference)" "$dir/out" ||
  { echo "FAIL eval_pairs output: $(cat "$dir/out")"; fails=$((fails + 1)); }
rm -f "$dir/sample1" "$dir/sample2"
# SIGINT: the run writes a checkpoint and exits 130; --resume finishes it.
"$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/sig" --epochs 2000 -b 4 >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 50); do [ -s "$dir/sig/metrics.jsonl" ] && break; sleep 0.1; done
kill -INT $pid; wait $pid; rc=$?
if [ "$rc" -ne 130 ] || ! grep -q "checkpoint written" "$dir/out" || [ ! -f "$dir/sig/checkpoint/state.json" ]; then
  echo "FAIL SIGINT: exit $rc, $(tail -2 "$dir/out")"; fails=$((fails + 1))
else
  passes=$((passes + 1))
fi
# Reliability: each of these once crashed, went unnoticed or printed "internal error".
check "eval_pairs -b 0 (was SIGFPE)" 2 "--batch-size: 0 is not in [1, 1048576] (an integer)" "$eval_pairs" -m "$dir/tiny.bin" -r "$dir/tiny.bin" -i "$dir/p.bin" -b 0
check "--threads 100000 (was a segfault)" 2 "--threads: 100000 is not in [1, 1024] (an integer)" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run6" --threads 100000
check "--loss with an empty item" 2 "--loss 'sigmoid,': item 2 is empty" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run6" --loss sigmoid,
check "--loss-weights abc (was 'internal error: stod')" 2 "--loss-weights: abc is not a number" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run6" --loss-weights abc
check "--loss-weights -1" 2 "--loss-weights: -1 is not in [0, 1000000]" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run6" --loss-weights -1
check "--ld-alpha nan" 2 "--ld-alpha: nan is not in [0, 1]" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run6" --ld-alpha nan
check "sample --temperature nan" 2 "--temperature: nan is not in [0, 100]" "$sample" -m "$dir/tiny.bin" -t "$tok" --prompt x --temperature nan
check "inspect --show -1" 2 "--show: -1 is not in [0, " "$inspect" "$dir/p.bin" --show -1
touch "$dir/a_file"
check "-o naming a file (was 'internal error')" 2 "a_file: cannot create the output folder" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/a_file" --max-steps 1 -b 4
rm -f "$dir/a_file"
echo '{"lr": true}' >"$dir/recipe.json"
check "recipe boolean for a value" 2 "recipe.json: key 'lr' is a boolean, but --lr takes a value" "$train_dpo" --config "$dir/recipe.json" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/run6"
cp "$tok/input.jsonl" "$dir/self.jsonl"
check "prepare_pairs over its own input" 2 "self.jsonl: is also an input" "$prepare_pairs" -i "$dir/self.jsonl" -o "$dir/self.jsonl" -t "$tok"
cmp -s "$dir/self.jsonl" "$tok/input.jsonl" || { echo "FAIL the input was overwritten"; fails=$((fails + 1)); }
{ printf 'AB\nC\0DEF'; tail -c +9 "$good"; } >"$dir/rawmagic.bin"
check "magic bytes shown escaped, on one line" 2 "magic is 'AB\x0aC\x00DEF'" "$inspect" "$dir/rawmagic.bin"
rm -f "$dir/rawmagic.bin"
# Checkpoints: an edited or corrupted file is refused by the manifest's checksums; another data file
# is refused by the fingerprint; metrics rows written after the checkpoint are not repeated.
"$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/ck" --max-steps 4 -b 4 --save-every 1 --stop-after-step 2 >/dev/null 2>&1
for edit in 's/"micro_batch": 2/"micro_batch": 1000/' 's/"micro_batch": 2/"micro_batch": -1/' 's/"step": 2/"step": 1000/' '/"epoch"/d'; do
  rm -rf "$dir/ck2"; cp -r "$dir/ck" "$dir/ck2"; sed -i "$edit" "$dir/ck2/checkpoint/state.json"
  check "state.json edited ($edit)" 2 "no complete checkpoint to resume from (checkpoint/: $dir/ck2/checkpoint/state.json: " "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/ck2" --max-steps 4 -b 4 --resume
done
rm -rf "$dir/ck2"; cp -r "$dir/ck" "$dir/ck2"
printf '\x7f' | dd of="$dir/ck2/checkpoint/optimizer.bin" bs=1 seek=100 conv=notrunc status=none
check "optimizer.bin with a flipped byte" 2 "checkpoint/optimizer.bin: checksum" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/ck2" --max-steps 4 -b 4 --resume
rm -rf "$dir/ck2"; cp -r "$dir/ck" "$dir/ck2"
"$prepare_pairs" -i "$tok/input.jsonl" -o "$dir/p_other.bin" -t "$tok" --max-length 40 >/dev/null 2>&1
check "resume on other data" 2 "the checkpoint was trained on data with fingerprint" "$train_dpo" -i "$dir/p_other.bin" -m "$dir/tiny.bin" -o "$dir/ck2" --max-steps 4 -b 4 --resume
check "resume past the end" 2 "the checkpoint is at step 2, past the 1 steps of this run" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/ck2" --max-steps 1 -b 4 --resume
echo '{"step": 3, "loss": 99}' >>"$dir/ck2/metrics.jsonl"  # as if killed after the row of step 3, before its checkpoint
check "resume drops rows after the checkpoint" 0 "" "$train_dpo" -i "$dir/p.bin" -m "$dir/tiny.bin" -o "$dir/ck2" --max-steps 4 -b 4 --resume
steps=$(grep -o '"step":[0-9]*' "$dir/ck2/metrics.jsonl" | tr '\n' ' ')
[ "$steps" = '"step":1 "step":2 "step":3 "step":4 ' ] && ! grep -q '"loss":99' "$dir/ck2/metrics.jsonl" ||
  { echo "FAIL metrics.jsonl after resume: $steps"; fails=$((fails + 1)); }
rm -rf "$dir"/ck "$dir"/ck2 "$dir"/p_other.bin "$dir"/self.jsonl
rm -rf "$dir"/run* "$dir"/sftrun "$dir"/sig "$dir"/tiny.bin "$dir"/small_vocab.bin "$dir"/recipe.json
rm -f "$dir"/sft.bin "$dir"/stream.bin "$dir"/plain.txt
rm -f "$dir"/bad.jinja "$dir"/lines.txt "$dir"/ids.txt "$dir"/p32.bin "$dir"/*.jsonl "$dir"/p.bin "$dir"/bad.bin "$dir"/s.bin "$dir"/s.val.bin "$dir"/trunc_pairs.bin
rm -f "$dir"/*.report.json "$dir"/p_inspect.json "$dir"/dup.bin

leftover=$(ls "$dir" | grep -vE '^(good|truncated|short|magic|version|heads|corrupt)\.bin$|^(out|err)$')
[ -z "$leftover" ] || { echo "FAIL files left behind: $leftover"; fails=$((fails + 1)); }
echo "cli_bad_files: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
