// prepare_pairs: preference JSONL (TRL's standard, conversational and
// implicit-prompt forms) -> pairs.bin (+ a validation split), tokenized as
// TRL's DPOTrainer does (src/data/prepare_pairs.hpp). Lines are tokenized on
// all cores; the output order is the input order.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/error.hpp"
#include "data/prepare_pairs.hpp"

namespace {

struct LineResult {
  std::optional<align::data::PairRecord> pair;
  std::string error;  // non-empty: the line is invalid
};

std::string default_val_path(const std::string& out) {
  const size_t dot = out.rfind(".bin");
  return (dot != std::string::npos && dot + 4 == out.size() ? out.substr(0, dot) : out) + ".val.bin";
}

uint64_t mix(uint64_t x) {  // SplitMix64 finaliser: a stable hash of (seed, line)
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string percentiles(std::vector<uint32_t> v) {
  if (v.empty()) return "none";
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, (size_t)(q * (v.size() - 1) + 0.5))]; };
  return align::cat("p50 ", at(0.5), ", p90 ", at(0.9), ", p99 ", at(0.99), ", max ", v.back());
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("prepare_pairs", [&]() -> int {
    CLI::App app{"tokenize preference JSONL into pairs.bin, as TRL's DPOTrainer prepares it", "prepare_pairs"};
    std::string input, output, tokenizer, val_input, val_output, truncation = "keep_start", chat_template;
    int max_length = 1024, max_prompt_length = 0;
    double val_fraction = 0;
    uint64_t seed = 1234;
    bool skip_invalid = false;
    app.add_option("-i,--input", input, "JSONL with prompt/chosen/rejected (strings or message lists), '-' for stdin")
        ->required();
    app.add_option("-o,--output", output, "pairs.bin to write")->required();
    app.add_option("-t,--tokenizer", tokenizer, "tokenizer directory (tokenizer.json, tokenizer_config.json) or file")
        ->required();
    app.add_option("--max-length", max_length, "tokens of prompt + completion kept (0: no limit)")->capture_default_str();
    app.add_option("--max-prompt-length", max_prompt_length, "tokens of the prompt kept, from its end (0: no limit)");
    app.add_option("--truncation", truncation, "keep_start or keep_end: which end of a long sequence to keep")
        ->capture_default_str();
    app.add_option("--chat-template", chat_template,
                   "chatml, llama3, zephyr or plain (default: detected from tokenizer_config.json)");
    app.add_option("--val-fraction", val_fraction, "fraction of pairs (by a seeded hash of the line) sent to the "
                   "validation file")->capture_default_str();
    app.add_option("--val-input", val_input, "a separate validation JSONL (instead of --val-fraction)");
    app.add_option("--val-output", val_output, "validation pairs file (default: OUTPUT with .val.bin)");
    app.add_option("--seed", seed, "seed of the validation split")->capture_default_str();
    app.add_flag("--skip-invalid", skip_invalid, "skip malformed lines (counted) instead of stopping at the first");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;

    ALIGN_REQUIRE(truncation == "keep_start" || truncation == "keep_end", "--truncation '", truncation,
                  "' is not known, expected keep_start or keep_end");
    ALIGN_REQUIRE(max_length >= 0 && max_prompt_length >= 0, "--max-length and --max-prompt-length must be >= 0");
    ALIGN_REQUIRE(val_fraction >= 0 && val_fraction < 1, "--val-fraction ", val_fraction, ", expected 0 <= f < 1");
    ALIGN_REQUIRE(val_fraction == 0 || val_input.empty(), "--val-fraction and --val-input exclude each other");
    align::data::PrepareOptions opt;
    opt.max_length = max_length;
    if (max_prompt_length > 0) opt.max_prompt_length = max_prompt_length;
    opt.truncation = truncation == "keep_end" ? align::data::Truncation::KeepEnd : align::data::Truncation::KeepStart;
    if (!chat_template.empty()) opt.chat_template = align::data::parse_chat_template(chat_template);
    if (val_output.empty() && (val_fraction > 0 || !val_input.empty())) val_output = default_val_path(output);

    const int threads = omp_get_max_threads();
    std::vector<std::unique_ptr<align::data::TokenizerDir>> toks(threads);
    for (auto& t : toks) t = std::make_unique<align::data::TokenizerDir>(align::data::load_tokenizer_dir(tokenizer));
    const align::data::PairsMeta meta{(uint32_t)toks[0]->tokenizer.vocab_size(),
                                      toks[0]->eos_id ? *toks[0]->eos_id : -1, toks[0]->tokenizer.fingerprint()};

    // Tokenizes one JSONL file into (train, val) pairs; stops at the first bad line unless skip_invalid.
    auto run = [&](const std::string& path, bool split, std::vector<align::data::PairRecord>& train,
                   std::vector<align::data::PairRecord>& val, align::data::PrepareStats& total) {
      std::ifstream file;
      std::istream* in = &std::cin;
      if (path != "-") {
        file.open(path);
        ALIGN_REQUIRE(file.is_open(), path, ": cannot open");
        in = &file;
      }
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<std::string> lines;
      size_t line_no = 0;
      auto flush = [&] {
        std::vector<LineResult> res(lines.size());
        std::vector<align::data::PrepareStats> stats(threads);
#pragma omp parallel for schedule(dynamic, 64)
        for (size_t k = 0; k < lines.size(); k++) {
          const int tid = omp_get_thread_num();
          align::data::PrepareStats& st = stats[tid];
          st.lines++;
          if (lines[k].find_first_not_of(" \t\r") == std::string::npos) {
            st.blank_lines++;
            continue;
          }
          try {
            const nlohmann::json j = nlohmann::json::parse(lines[k]);
            const align::data::ParsedExample ex = align::data::parse_preference(j);
            st.implicit_prompt += ex.implicit_prompt;
            res[k].pair = align::data::tokenize_preference(ex, *toks[tid], opt, st);
          } catch (const nlohmann::json::exception& e) {
            res[k].error = align::cat("not valid JSON: ", e.what());
          } catch (const align::InputError& e) {
            res[k].error = e.what();
          }
        }
        const size_t first = line_no - lines.size() + 1;
        for (size_t k = 0; k < res.size(); k++) {
          if (!res[k].error.empty()) {
            ALIGN_REQUIRE(skip_invalid, path, ":", first + k, ": ", res[k].error, " (use --skip-invalid to skip such lines)");
            total.invalid_skipped++;
            continue;
          }
          if (!res[k].pair) continue;
          const bool to_val = split && (mix(seed ^ mix(first + k)) >> 11) * 0x1.0p-53 < val_fraction;
          (to_val ? val : train).push_back(std::move(*res[k].pair));
        }
        for (const auto& s : stats) total.add(s);
        lines.clear();
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "\r%s: %zu lines, %.0f lines/s", path.c_str(), line_no, line_no / std::max(dt, 1e-9));
      };
      for (std::string line; std::getline(*in, line);) {
        line_no++;
        lines.push_back(std::move(line));
        if (lines.size() == 16384) flush();
      }
      flush();
      std::fprintf(stderr, "\n");
    };

    align::data::PrepareStats stats, val_stats;
    std::vector<align::data::PairRecord> train, val;
    const auto t0 = std::chrono::steady_clock::now();
    run(input, val_fraction > 0, train, val, stats);
    if (!val_input.empty()) {
      std::vector<align::data::PairRecord> unused;
      run(val_input, false, val, unused, val_stats);
    }
    ALIGN_REQUIRE(!train.empty(), input, ": no pairs left to write (", stats.lines, " lines read)");
    align::data::write_pairs(output, meta, train);
    if (!val_output.empty()) align::data::write_pairs(val_output, meta, val);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    auto report = [](const char* what, const align::data::PrepareStats& s) {
      std::printf("%s: %zu lines, %zu pairs tokenized (%zu conversational, %zu with an implicit prompt)\n", what,
                  s.lines - s.blank_lines, s.written, s.conversational, s.implicit_prompt);
      std::printf("  dropped: %zu whose prompt fills --max-length, %zu with no completion tokens left, %zu invalid "
                  "lines skipped, %zu blank lines\n",
                  s.dropped_prompt_fills_max_length, s.dropped_no_completion_tokens, s.invalid_skipped, s.blank_lines);
      std::printf("  %zu prompts whose tokens are not a prefix of prompt+completion (the completion starts where "
                  "they diverge), %zu EOS appended, %zu doubled BOS removed\n",
                  s.boundary_mismatches, s.eos_appended, s.bos_deduplicated);
      std::printf("  tokens %llu; sequence length %s\n", (unsigned long long)s.tokens, percentiles(s.lengths).c_str());
    };
    report(input.c_str(), stats);
    if (!val_input.empty()) report(val_input.c_str(), val_stats);
    std::printf("wrote %s (%zu pairs)", output.c_str(), train.size());
    if (!val_output.empty()) std::printf(" and %s (%zu pairs)", val_output.c_str(), val.size());
    std::printf(" in %.2f s (%.0f pairs/s, %d threads)\n", dt, (stats.lines + val_stats.lines) / dt, threads);
    return 0;
  });
}
