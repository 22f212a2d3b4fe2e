// prepare_sft: SFT JSONL ({prompt, completion}, {messages}, {text}) or, with
// --text, plain text (documents separated by blank lines) -> sft.bin with a
// loss mask per token (src/data/prepare_sft.hpp).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "data/jsonl_runner.hpp"
#include "data/prepare_sft.hpp"

namespace {

// Plain text split into documents at blank lines (paragraph breaks inside a document stay).
std::vector<std::string> documents(const std::string& path) {
  std::ifstream file;
  std::istream* in = &align::open_input(path, file);
  std::vector<std::string> docs;
  std::string cur;
  for (std::string line; std::getline(*in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      if (!cur.empty()) docs.push_back(std::move(cur)), cur.clear();
      continue;
    }
    if (!cur.empty()) cur += "\n";
    cur += line;
  }
  if (!cur.empty()) docs.push_back(std::move(cur));
  return docs;
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("prepare_sft", [&]() -> int {
    CLI::App app{"tokenize SFT data (JSONL) or plain text into sft.bin with a loss mask", "prepare_sft"};
    std::string input, output, tokenizer, truncation = "keep_start", chat_template, val_output, chat_date = "today";
    int max_length = 1024;
    double val_fraction = 0;
    uint64_t seed = 1234;
    bool skip_invalid = false, text = false;
    app.add_option("-i,--input", input, "JSONL ({prompt, completion}, {messages} or {text} per line), or plain text "
                   "with --text; '-' for stdin")->required();
    app.add_option("-o,--output", output, "sft.bin to write")->required();
    app.add_option("-t,--tokenizer", tokenizer, "tokenizer directory (tokenizer.json, tokenizer_config.json) or file")
        ->required();
    app.add_flag("--text", text, "the input is plain text: documents separated by blank lines, every token trained");
    app.add_option("--max-length", max_length, "tokens kept per example (0: no limit)")
        ->capture_default_str()->transform(align::in_domain(align::domains::token_limit()));
    app.add_option("--truncation", truncation, "keep_start or keep_end")->capture_default_str();
    app.add_option("--chat-template", chat_template,
                   "a Jinja chat template file, or a built-in: chatml, llama3, zephyr, plain (default: the tokenizer "
                   "directory's)");
    app.add_option("--chat-date", chat_date,
                   "the date strftime_now gives the template, YYYY-MM-DD or today (recorded in the output header)")
        ->capture_default_str();
    app.add_option("--val-fraction", val_fraction, "fraction of examples sent to the validation file")
        ->capture_default_str()->transform(align::in_domain(align::domains::fraction_open()));
    app.add_option("--val-output", val_output, "validation file (default: OUTPUT with .val.bin)");
    app.add_option("--seed", seed, "seed of the validation split")->capture_default_str()->transform(align::in_domain(align::domains::seed()));
    app.add_flag("--skip-invalid", skip_invalid, "skip malformed lines (counted) instead of stopping at the first");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    ALIGN_REQUIRE(truncation == "keep_start" || truncation == "keep_end", "--truncation '", truncation,
                  "' is not known, expected keep_start or keep_end");
    ALIGN_REQUIRE(max_length >= 0, "--max-length must be >= 0");
    ALIGN_REQUIRE(val_fraction >= 0 && val_fraction < 1, "--val-fraction ", val_fraction, ", expected 0 <= f < 1");
    align::data::SftOptions opt;
    opt.max_length = max_length;
    opt.truncation = truncation == "keep_end" ? align::data::Truncation::KeepEnd : align::data::Truncation::KeepStart;
    if (!chat_template.empty()) opt.chat_template = align::data::load_chat_template(chat_template);
    opt.chat_date = align::data::parse_chat_date(chat_date, "--chat-date");
    if (val_output.empty() && val_fraction > 0) val_output = align::data::default_val_path(output);
    // An output over an input would destroy the input before it is read.
    for (const std::string& in : {input, tokenizer})
      for (const std::string& out : {output, val_output})
        ALIGN_REQUIRE(out.empty() || !align::same_file(in, out), out, ": is also an input (", in,
                      "); write to another file");

    const int threads = omp_get_max_threads();
    std::vector<std::unique_ptr<align::data::TokenizerDir>> toks(threads);
    for (auto& t : toks) t = std::make_unique<align::data::TokenizerDir>(align::data::load_tokenizer_dir(tokenizer));
    const align::data::SftMeta meta{(uint32_t)toks[0]->tokenizer.vocab_size(), toks[0]->eos_id ? *toks[0]->eos_id : -1,
                                    toks[0]->tokenizer.fingerprint(),
                                    text ? align::data::SftKind::Stream : align::data::SftKind::Examples,
                                    opt.chat_date.yyyymmdd()};
    std::vector<align::data::SftStats> per_thread(threads);
    std::vector<align::data::SftRecord> train, val;
    auto emit = [&](size_t item, align::data::SftRecord&& r) {
      const bool to_val = val_fraction > 0 && align::data::split_hash(seed, item) < val_fraction;
      (to_val ? val : train).push_back(std::move(r));
    };
    const auto t0 = std::chrono::steady_clock::now();
    align::data::JsonlCounts counts;
    if (text) {
      const std::vector<std::string> docs = documents(input);
      std::vector<std::optional<align::data::SftRecord>> out(docs.size());
#pragma omp parallel for schedule(dynamic, 16)
      for (size_t k = 0; k < docs.size(); k++) {
        const int tid = omp_get_thread_num();
        out[k] = align::data::tokenize_document(docs[k], *toks[tid], opt, per_thread[tid]);
      }
      for (size_t k = 0; k < out.size(); k++)
        if (out[k]) emit(k + 1, std::move(*out[k]));
      counts.lines = docs.size();
    } else {
      counts = align::data::run_jsonl<align::data::SftRecord>(
          input, skip_invalid,
          [&](const nlohmann::json& j, size_t, int tid) {
            return align::data::tokenize_sft(j, *toks[tid], opt, per_thread[tid]);
          },
          emit);
    }
    align::data::SftStats s;
    for (const auto& p : per_thread) s.add(p);
    ALIGN_REQUIRE(!train.empty(), input, ": no examples left to write (", counts.lines, " read)");
    align::data::write_sft(output, meta, train);
    if (!val_output.empty()) align::data::write_sft(val_output, meta, val);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::sort(s.lengths.begin(), s.lengths.end());
    std::printf("%s: %zu %s, %zu examples (%zu conversational)\n", input.c_str(), counts.lines - counts.blank,
                text ? "documents" : "lines", s.written, s.conversational);
    std::printf("  dropped: %zu with no trained token left, %zu invalid lines skipped, %zu blank lines; %zu truncated\n",
                s.dropped_no_trained_tokens, counts.invalid_skipped, counts.blank, s.truncated);
    std::printf("  %zu prompt/completion boundary mismatches, %zu EOS appended, %zu doubled BOS removed\n",
                s.boundary_mismatches, s.eos_appended, s.bos_deduplicated);
    std::printf("  tokens %llu, trained %llu; length p50 %u, max %u\n", (unsigned long long)s.tokens,
                (unsigned long long)s.trained_tokens, s.lengths.empty() ? 0 : s.lengths[s.lengths.size() / 2],
                s.lengths.empty() ? 0 : s.lengths.back());
    std::printf("wrote %s (%zu examples)", output.c_str(), train.size());
    if (!val_output.empty()) std::printf(" and %s (%zu examples)", val_output.c_str(), val.size());
    std::printf(" in %.2f s\n", dt);
    return 0;
  });
}
