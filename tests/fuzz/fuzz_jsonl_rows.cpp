// fuzz_jsonl_rows: JSONL rows of preference data (parse_preference, tokenize_preference) and of SFT
// data (tokenize_sft) through run_jsonl, as prepare_pairs and prepare_sft read them, with two
// tokenizer directories (chatml and llama3 templates) and a short --max-length so truncation runs.
#include "data/jsonl_runner.hpp"
#include "data/prepare_pairs.hpp"
#include "data/prepare_sft.hpp"
#include "fuzz_util.hpp"

namespace {
const align::data::TokenizerDir& tokenizer(int k) {
  static const align::data::TokenizerDir chatml =
      align::data::load_tokenizer_dir(align::fuzz::test_data("pairs/gpt2_tok_chatml"));
  static const align::data::TokenizerDir llama3 =
      align::data::load_tokenizer_dir(align::fuzz::test_data("pairs/llama3_tok_llama3"));
  return k == 0 ? chatml : llama3;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int which = data[0] & 1, max_length = (data[0] >> 1) & 1 ? 24 : 0;
  const std::string path = align::fuzz::write_scratch("rows.jsonl", data + 1, size - 1);
  const align::data::TokenizerDir& td = tokenizer(which);
  align::fuzz::expect_input_errors_only([&] {
    align::data::PrepareOptions opt;
    opt.max_length = max_length;
    if (data[0] & 4) opt.max_prompt_length = 8;
    if (data[0] & 8) opt.truncation = align::data::Truncation::KeepEnd;
    align::data::PrepareStats stats;
    align::data::run_jsonl<align::data::PairRecord>(
        path, true,
        [&](const nlohmann::json& j, size_t, int) {
          const align::data::ParsedExample ex = align::data::parse_preference(j);
          return align::data::tokenize_preference(ex, td, opt, stats);
        },
        [&](size_t, align::data::PairRecord&&) {});
  });
  align::fuzz::expect_input_errors_only([&] {
    align::data::SftOptions opt;
    opt.max_length = max_length;
    if (data[0] & 8) opt.truncation = align::data::Truncation::KeepEnd;
    align::data::SftStats stats;
    align::data::run_jsonl<align::data::SftRecord>(
        path, true, [&](const nlohmann::json& j, size_t, int) { return align::data::tokenize_sft(j, td, opt, stats); },
        [&](size_t, align::data::SftRecord&&) {});
  });
  return 0;
}
