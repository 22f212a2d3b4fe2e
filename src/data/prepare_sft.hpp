// prepare_sft.hpp: SFT JSONL and plain text -> sft.bin records with a loss mask.
//
// Line forms (TRL's SFT dataset types):
//   {"prompt": str, "completion": str}      loss on the completion (EOS appended, as TRL)
//   {"prompt": [msg], "completion": [msg]}  loss on the completion turns, through the chat template
//   {"messages": [msg]}                     loss on every assistant turn (the span each adds to the
//                                           rendering after the generation prompt), nothing else
//   {"text": str}                           language modelling: loss on every token, EOS appended
// Plain text (prepare_sft --text): documents separated by blank lines, each
// encoded with its special tokens and EOS, every token trained (a stream the
// trainer packs). --max-length keeps the start or the end of a long example;
// examples left with no trained token are dropped and counted.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/prepare_pairs.hpp"
#include "data/sft_file.hpp"

namespace align::data {

struct SftOptions {
  int max_length = 1024;  // 0: no limit
  Truncation truncation = Truncation::KeepStart;
  std::shared_ptr<const ChatTemplate> chat_template;  // overrides the tokenizer directory's template
  ChatDate chat_date = today_local();                 // what the template's strftime_now reports
};

struct SftStats {
  size_t written = 0, conversational = 0, dropped_no_trained_tokens = 0, boundary_mismatches = 0;
  size_t eos_appended = 0, bos_deduplicated = 0, truncated = 0;
  uint64_t tokens = 0, trained_tokens = 0;
  std::vector<uint32_t> lengths;
  void add(const SftStats& o);
};

std::optional<SftRecord> tokenize_sft(const nlohmann::json& j, const TokenizerDir& td, const SftOptions& opt,
                                      SftStats& st);
// One plain-text document of a pre-training stream (every token trained).
std::optional<SftRecord> tokenize_document(const std::string& text, const TokenizerDir& td, const SftOptions& opt,
                                           SftStats& st);

}  // namespace align::data
