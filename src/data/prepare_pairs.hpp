// prepare_pairs.hpp: preference JSONL -> tokenized pairs, as TRL's DPOTrainer
// prepares them (trl/trainer/dpo_trainer.py, _prepare_dataset and the collator).
//
// Accepted line forms:
//   standard        {"prompt": str, "chosen": str, "rejected": str}
//   conversational  {"prompt": [msg], "chosen": [msg], "rejected": [msg]}, msg = {"role", "content"}
//   implicit prompt {"chosen": ..., "rejected": ...}: the prompt is their longest common prefix
//                   (characters or messages, with TRL's extract_prompt rules)
// Tokenization:
//   standard:       EOS text appended to each completion unless it already ends with it;
//                   prompt, prompt+chosen, prompt+rejected encoded with the tokenizer's
//                   special tokens (BOS); a doubled leading BOS is reduced to one
//   conversational: rendered by executing the chat template (prompt with the generation prompt),
//                   encoded without the tokenizer's special tokens
//   the completion starts where the prompt's ids and each prompt+completion's ids stop
//   agreeing (min over both); when that is before the prompt's end it is counted as a
//   prompt/completion boundary mismatch.
// Truncation: --max-prompt-length keeps the prompt's end; --max-length keep_start keeps
// the prompt and cuts the completions (a prompt that fills max_length drops the pair),
// keep_end keeps the completions' ends and as much of the prompt's end as fits the longer
// one. Pairs left without completion tokens are dropped and counted.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/chat_template.hpp"
#include "data/pairs_file.hpp"
#include "data/tokenizer_dir.hpp"

namespace align::data {

enum class Truncation { KeepStart, KeepEnd };

struct PrepareOptions {
  int max_length = 1024;                 // 0: no limit
  std::optional<int> max_prompt_length;  // TRL <= 0.27's max_prompt_length
  Truncation truncation = Truncation::KeepStart;
  std::shared_ptr<const ChatTemplate> chat_template;  // overrides the tokenizer directory's template
  ChatDate chat_date = today_local();                 // what the template's strftime_now reports
};

// Why a pair did not make it into the output, counted per reason.
struct PrepareStats {
  size_t written = 0;
  size_t dropped_prompt_fills_max_length = 0, dropped_no_completion_tokens = 0;
  size_t boundary_mismatches = 0, bos_deduplicated = 0, eos_appended = 0;
  size_t conversational = 0, implicit_prompt = 0;
  uint64_t tokens = 0;
  std::vector<uint32_t> lengths;  // per written pair, max(|prompt + chosen|, |prompt + rejected|)
  void add(const PrepareStats& o);
};

struct ParsedExample {
  bool conversational = false, implicit_prompt = false;
  std::string prompt, chosen, rejected;                     // standard
  std::vector<Message> prompt_m, chosen_m, rejected_m;      // conversational
};

// One JSONL object -> example; InputError with the reason (the caller adds file:line).
ParsedExample parse_preference(const nlohmann::json& j);
// The same, taking the strings out of `j` (moved, not copied: a long line's text is held once).
ParsedExample parse_preference(nlohmann::json&& j);

// Token counts of a pair before truncation, for the data report (pair_report.hpp).
struct PairTrace {
  size_t prompt = 0, chosen = 0, rejected = 0;
};

// One example -> a pair, or nullopt when it is dropped (the reason is counted in stats);
// before_truncation, when given, receives the token counts before truncation.
std::optional<PairRecord> tokenize_preference(const ParsedExample& ex, const TokenizerDir& tok,
                                              const PrepareOptions& opt, PrepareStats& stats,
                                              PairTrace* before_truncation = nullptr);

}  // namespace align::data
