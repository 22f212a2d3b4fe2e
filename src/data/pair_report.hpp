// pair_report.hpp: the preference-data report: the known ways DPO data goes
// wrong, counted, with the input line of an example for each (docs/training.md
// says what each means for training, docs/formats.md the JSON fields).
//
// Three kinds of facts, gathered at three moments:
//   source facts   need the JSONL text (prepare_pairs only): answers identical
//                  as text, special-token strings typed inside message text,
//                  completions cut or emptied by truncation, drops by reason.
//                  Computed per line on any thread (line_facts), added in
//                  input order (SourceCounts::add).
//   pair findings  need the tokens in input order (prepare_pairs and
//                  `inspect --report` alike): answers identical as tokens,
//                  exact duplicate pairs, repeated prompts, and the pairs the
//                  user chose to drop (--drop-identical, --dedupe).
//   statistics     need the pairs as written: length percentiles, the length
//                  bias (chosen longer than rejected), the shared prefix of
//                  chosen and rejected, histograms for dev/plot_pair_report.py;
//                  and the leakage of training prompts into validation
//                  (--drop-leaked-val removes those validation pairs).
// The pair findings and statistics depend on the written tokens only, so
// `inspect pairs.bin --report` reproduces them exactly for a file made with
// the default flags; the source facts are left out there.
//
// Duplicates and leakage compare token sequences by a 128-bit hash (two
// independent 64-bit hashes): a false match among n pairs has probability
// about n^2 / 2^129, below 1e-20 for a billion pairs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/pairs_file.hpp"
#include "data/prepare_pairs.hpp"
#include "data/tokenizer_dir.hpp"

namespace align::data {

// When a finding becomes a warning (docs/training.md explains each choice). Counts: more than the
// value; shares: more than the value, of the pairs written.
struct ReportThresholds {
  static constexpr size_t identical = 0, duplicate_pairs = 0, leaked_val = 0, special_tokens = 0;
  static constexpr size_t emptied_by_truncation = 0;
  static constexpr double cut_by_truncation_share = 0.01;   // pairs with a completion cut
  static constexpr double duplicate_prompt_share = 0.5;     // several pairs per prompt is often by design
  static constexpr double longer_share = 0.6;               // chosen (or rejected) longer in this share of pairs
  static constexpr size_t longer_min_pairs = 20;            // ... of at least this many (fewer say little)
  static constexpr double shared_prefix_token_share = 0.5;  // completion tokens inside a shared prefix
};

// The drops the user chose, on top of what preparation drops as TRL does.
struct ReportChoices {
  bool drop_identical = false, dedupe = false, drop_leaked_val = false;
};

// The strings of the tokenizer's special added tokens (e.g. <|eot_id|>, <|im_end|>), which the
// tokenizer cuts out of raw text as control tokens wherever they are typed.
class SpecialTokenScanner {
 public:
  explicit SpecialTokenScanner(const TokenizerDir& td);
  const std::vector<std::string>& tokens() const { return tokens_; }
  // Indices into tokens() of those found in the example's texts (each once, ascending). Not counted:
  // the BOS text at the start of a plain prompt (preparation keeps one BOS) and the EOS text at the end
  // of a plain completion (preparation then appends none), both of which TRL expects.
  std::vector<uint16_t> find(const ParsedExample& ex) const;

 private:
  void scan(const std::string& text, size_t from, size_t to, std::vector<char>& found) const;
  std::vector<std::string> tokens_;
  std::vector<std::vector<uint16_t>> by_first_byte_;  // (256) indices into tokens_
  std::string bos_, eos_;
};

enum class PrepareOutcome : uint8_t { Kept, PromptFillsMaxLength, NoCompletionTokens };

// What one input line tells that its tokens do not.
struct LineFacts {
  PrepareOutcome outcome = PrepareOutcome::Kept;
  bool identical_text = false;                  // chosen == rejected as text (or as messages)
  bool identical_tokens = false;                // chosen == rejected as tokens after truncation (kept pairs)
  std::vector<uint16_t> special_tokens;         // indices into SpecialTokenScanner::tokens()
  PairTrace before;                             // token counts before truncation
  size_t prompt = 0, chosen = 0, rejected = 0;  // after truncation (0 when dropped)
};

LineFacts line_facts(const ParsedExample& ex, const PairTrace& before, const std::optional<PairRecord>& pair,
                     PrepareOutcome outcome, const SpecialTokenScanner& scanner);

// An example: where a finding was first seen (input line, or pair index for inspect), -1 when none.
struct Finding {
  uint64_t count = 0;
  int64_t example = -1;
  void add(int64_t where) {
    if (count++ == 0) example = where;
  }
};

// Source facts of one input file, added in input order.
struct SourceCounts {
  std::string file;
  size_t lines = 0, blank = 0, invalid_skipped = 0, parsed = 0;
  size_t conversational = 0, implicit_prompt = 0, eos_appended = 0, bos_deduplicated = 0, boundary_mismatches = 0;
  Finding dropped_prompt_fills_max_length, dropped_no_completion_tokens;
  Finding identical_text;
  Finding identical_after_truncation;  // identical as tokens after truncation, not as text
  Finding pairs_cut;                   // a kept pair that lost prompt or completion tokens
  Finding completion_cut;              // a kept pair that lost completion tokens
  Finding emptied;                     // a pair dropped because truncation left a completion with no tokens
  uint64_t completion_tokens_before = 0, completion_tokens_cut = 0, prompt_tokens_cut = 0;
  Finding special_token_pairs;
  std::vector<Finding> special_token_by_string;  // per SpecialTokenScanner::tokens()
  std::vector<std::string> special_token_strings;

  void add(size_t line, const LineFacts& f);
};

struct Hash128 {
  uint64_t a = 0, b = 0;
  bool operator==(const Hash128&) const = default;
};
struct Hash128Hasher {
  size_t operator()(const Hash128& h) const { return h.a; }
};
Hash128 hash_tokens(std::span<const uint32_t> ids, uint64_t salt = 0);

// Pair findings of one split, fed in order; decides the drops chosen by the user.
class PairFindings {
 public:
  explicit PairFindings(const ReportChoices& choices) : choices_(choices) {}
  // Returns false when a choice drops the pair (counted). where: input line or pair index.
  bool add(int64_t where, const PairsFile::View& p);
  // Leakage, for the validation split: whether this pair's prompt occurs among the training split's
  // kept prompts; returns false when --drop-leaked-val drops it (counted).
  bool check_leak(int64_t where, const PairsFile::View& p, const PairFindings& train);

  Finding identical_tokens;
  Finding duplicate_pairs, duplicate_prompts, leaked;
  int64_t duplicate_of = -1, duplicate_prompt_of = -1, leaked_from = -1;  // the earlier occurrence of each example
  uint64_t dropped_identical = 0, dropped_duplicate = 0, dropped_leaked = 0;

 private:
  ReportChoices choices_;
  std::unordered_map<Hash128, int64_t, Hash128Hasher> seen_pairs_, seen_prompts_, kept_prompts_;
};

struct LengthSummary {
  uint64_t p50 = 0, p90 = 0, max = 0;
  double mean = 0;
};

// Statistics of the pairs as written.
struct PairStats {
  uint64_t pairs = 0;
  LengthSummary prompt, chosen, rejected;
  uint64_t chosen_longer = 0, rejected_longer = 0, equal_length = 0;
  double mean_difference = 0, median_difference = 0;        // |chosen| - |rejected| in tokens
  int64_t largest_difference = 0, smallest_difference = 0;  // and where: the first pair with each
  int64_t largest_difference_at = -1, smallest_difference_at = -1;
  uint64_t shared_prefix_pairs = 0;  // pairs whose answers share at least their first token
  double shared_prefix_mean_tokens = 0, shared_prefix_token_share = 0;
  uint64_t longest_shared_prefix = 0;
  int64_t longest_shared_prefix_at = -1;
  // Histograms: bin i counts lengths in [i*width, (i+1)*width), differences in [lo + i*width, ...).
  uint64_t length_bin_width = 1;
  std::vector<uint64_t> chosen_hist, rejected_hist;
  int64_t difference_lo = 0;
  uint64_t difference_bin_width = 1;
  std::vector<uint64_t> difference_hist;
};

// pairs: the written pairs; where: each one's input line or index (empty: the index), for the examples.
PairStats pair_stats(const std::vector<PairsFile::View>& pairs, const std::vector<int64_t>& where = {});
// The nearest-rank percentile of sorted values: v[round(q (n - 1))] (0 when empty).
uint64_t percentile(const std::vector<uint64_t>& sorted, double q);

// The report of one split (training or validation).
struct SplitReport {
  SplitReport(std::string split_name, std::string file, const ReportChoices& choices = {})
      : name(std::move(split_name)), written_to(std::move(file)), examples_in(written_to), findings(choices) {}
  std::string name;         // "train" or "val"
  std::string written_to;   // the pairs file
  std::string examples_in;  // the file the examples' line or pair numbers refer to
  uint64_t pairs_in = 0;    // tokenized pairs that reached this split, before the chosen drops
  PairFindings findings;
  bool has_leak_check = false;  // validation split with a training split to compare against
  PairStats stats;
};

struct PairReport {
  std::string tool;   // "prepare_pairs" or "inspect"
  std::string where;  // "line" (input lines) or "pair" (indices in the file)
  ReportChoices choices;
  std::vector<SourceCounts> inputs;  // prepare_pairs: one per input file
  std::vector<SplitReport> splits;
};

nlohmann::json report_json(const PairReport& r);
void write_report_json(const std::string& path, const PairReport& r);  // atomically (temporary name, rename)
// The short table, and one warning line per finding above its threshold.
void print_report(std::FILE* out, const PairReport& r);
std::vector<std::string> report_warnings(const PairReport& r);

// prepare_pairs writes the report of OUTPUT to OUTPUT.report.json.
inline std::string report_path(const std::string& output) {
  return output + ".report.json";
}

// inspect --report: the pair findings and statistics of a prepared file (and its validation file).
PairReport report_from_files(const std::string& train_path, const std::string& val_path);

}  // namespace align::data
