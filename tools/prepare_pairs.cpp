// prepare_pairs: preference JSONL (TRL's standard, conversational and
// implicit-prompt forms) -> pairs.bin (+ a validation split), tokenized as
// TRL's DPOTrainer does (src/data/prepare_pairs.hpp). Lines are tokenized on
// all cores; the output order is the input order. The data report
// (src/data/pair_report.hpp) is printed and written to OUTPUT.report.json;
// --drop-identical, --dedupe and --drop-leaked-val drop what it finds, by
// choice only, so that the defaults keep every pair TRL keeps.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "data/jsonl_runner.hpp"
#include "data/pair_report.hpp"
#include "data/prepare_pairs.hpp"

namespace {

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
    std::string chat_date = "today";
    int max_length = 1024, max_prompt_length = 0;
    double val_fraction = 0;
    uint64_t seed = 1234;
    bool skip_invalid = false;
    align::data::ReportChoices choices;
    app.add_option("-i,--input", input, "JSONL with prompt/chosen/rejected (strings or message lists), '-' for stdin")
        ->required();
    app.add_option("-o,--output", output, "pairs.bin to write")->required();
    app.add_option("-t,--tokenizer", tokenizer, "tokenizer directory (tokenizer.json, tokenizer_config.json) or file")
        ->required();
    app.add_option("--max-length", max_length, "tokens of prompt + completion kept (0: no limit)")
        ->capture_default_str()->transform(align::in_domain(align::domains::token_limit()));
    app.add_option("--max-prompt-length", max_prompt_length, "tokens of the prompt kept, from its end (0: no limit)")
        ->transform(align::in_domain(align::domains::token_limit()));
    app.add_option("--truncation", truncation, "keep_start or keep_end: which end of a long sequence to keep")
        ->capture_default_str();
    app.add_option("--chat-template", chat_template,
                   "a Jinja chat template file, or a built-in: chatml, llama3, zephyr, plain (default: the tokenizer "
                   "directory's)");
    app.add_option("--chat-date", chat_date,
                   "the date strftime_now gives the template, YYYY-MM-DD or today (recorded in the output header)")
        ->capture_default_str();
    app.add_option("--val-fraction", val_fraction, "fraction of pairs (by a seeded hash of the line) sent to the "
                   "validation file")->capture_default_str()->transform(align::in_domain(align::domains::fraction_open()));
    app.add_option("--val-input", val_input, "a separate validation JSONL (instead of --val-fraction)");
    app.add_option("--val-output", val_output, "validation pairs file (default: OUTPUT with .val.bin)");
    app.add_option("--seed", seed, "seed of the validation split")->capture_default_str()->transform(align::in_domain(align::domains::seed()));
    app.add_flag("--skip-invalid", skip_invalid, "skip malformed lines (counted) instead of stopping at the first");
    app.add_flag("--drop-identical", choices.drop_identical,
                 "drop pairs whose chosen and rejected tokens are identical (no signal; kept by default, as TRL does)");
    app.add_flag("--dedupe", choices.dedupe, "drop pairs that repeat an earlier pair of the same split exactly");
    app.add_flag("--drop-leaked-val", choices.drop_leaked_val,
                 "drop validation pairs whose prompt also occurs in the training split");
    app.footer(
        "The data report (identical answers, truncation, duplicates, leaked validation prompts, length bias, "
        "shared prefixes, special-token strings in the text) is printed, with a warning per finding above its "
        "threshold, and written to OUTPUT.report.json (docs/formats.md); dev/plot_pair_report.py draws it.");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;

    ALIGN_REQUIRE(truncation == "keep_start" || truncation == "keep_end", "--truncation '", truncation,
                  "' is not known, expected keep_start or keep_end");
    ALIGN_REQUIRE(max_length >= 0 && max_prompt_length >= 0, "--max-length and --max-prompt-length must be >= 0");
    ALIGN_REQUIRE(val_fraction >= 0 && val_fraction < 1, "--val-fraction ", val_fraction, ", expected 0 <= f < 1");
    ALIGN_REQUIRE(val_fraction == 0 || val_input.empty(), "--val-fraction and --val-input exclude each other");
    ALIGN_REQUIRE(!choices.drop_leaked_val || val_fraction > 0 || !val_input.empty(),
                  "--drop-leaked-val needs a validation split (--val-fraction or --val-input)");
    align::data::PrepareOptions opt;
    opt.max_length = max_length;
    if (max_prompt_length > 0) opt.max_prompt_length = max_prompt_length;
    opt.truncation = truncation == "keep_end" ? align::data::Truncation::KeepEnd : align::data::Truncation::KeepStart;
    if (!chat_template.empty()) opt.chat_template = align::data::load_chat_template(chat_template);
    opt.chat_date = align::data::parse_chat_date(chat_date, "--chat-date");
    if (val_output.empty() && (val_fraction > 0 || !val_input.empty())) val_output = align::data::default_val_path(output);
    // An output over an input would destroy the input before it is read.
    for (const std::string& in : {input, val_input, tokenizer})
      for (const std::string& out : {output, val_output})
        ALIGN_REQUIRE(in.empty() || out.empty() || !align::same_file(in, out), out, ": is also an input (", in,
                      "); write to another file");

    // One tokenizer per thread (its BPE cache is not shared).
    const int threads = omp_get_max_threads();
    std::vector<std::unique_ptr<align::data::TokenizerDir>> toks(threads);
    for (auto& t : toks) t = std::make_unique<align::data::TokenizerDir>(align::data::load_tokenizer_dir(tokenizer));
    const align::data::PairsMeta meta{(uint32_t)toks[0]->tokenizer.vocab_size(),
                                      toks[0]->eos_id ? *toks[0]->eos_id : -1, toks[0]->tokenizer.fingerprint(),
                                      opt.chat_date.yyyymmdd()};

    const align::data::SpecialTokenScanner scanner(*toks[0]);
    align::data::PairReport rep;
    rep.tool = "prepare_pairs", rep.where = "line", rep.choices = choices;
    rep.splits.emplace_back("train", output, choices);
    if (!val_output.empty()) rep.splits.emplace_back("val", val_output, choices);
    rep.splits[0].examples_in = input;  // examples are input lines
    if (!val_output.empty()) rep.splits[1].examples_in = val_input.empty() ? input : val_input;

    struct Result {
      align::data::PrepareStats stats;
      align::data::JsonlCounts counts;
    };
    // A line's pair (if preparation kept it) and what the report needs to know about it.
    struct Line {
      std::optional<align::data::PairRecord> pair;
      align::data::LineFacts facts;
    };
    std::vector<int64_t> train_lines, val_lines;  // input line of each pair, for the report's examples
    auto prepare = [&](const std::string& path, bool split, bool all_val, std::vector<align::data::PairRecord>& train,
                       std::vector<align::data::PairRecord>& val) {
      std::vector<align::data::PrepareStats> per_thread(threads);
      align::data::SourceCounts source;
      source.file = path;
      source.special_token_strings = scanner.tokens();
      Result r;
      r.counts = align::data::run_jsonl<Line>(
          path, skip_invalid,
          [&](nlohmann::json& j, size_t, int tid) -> std::optional<Line> {
            const align::data::ParsedExample ex = align::data::parse_preference(std::move(j));
            align::data::PrepareStats& st = per_thread[tid];
            st.implicit_prompt += ex.implicit_prompt;
            const size_t fills = st.dropped_prompt_fills_max_length, empty = st.dropped_no_completion_tokens;
            align::data::PairTrace before;
            Line l{align::data::tokenize_preference(ex, *toks[tid], opt, st, &before), {}};
            using Outcome = align::data::PrepareOutcome;  // a drop is told by the counter it raised
            const Outcome outcome = st.dropped_prompt_fills_max_length > fills ? Outcome::PromptFillsMaxLength
                                    : st.dropped_no_completion_tokens > empty  ? Outcome::NoCompletionTokens
                                                                               : Outcome::Kept;
            l.facts = align::data::line_facts(ex, before, l.pair, outcome, scanner);
            return l;
          },
          [&](size_t line, Line&& l) {
            source.add(line, l.facts);
            if (!l.pair) return;
            const bool to_val = all_val || (split && align::data::split_hash(seed, line) < val_fraction);
            align::data::SplitReport& sp = rep.splits[to_val ? 1 : 0];
            sp.pairs_in++;
            if (!sp.findings.add((int64_t)line, {l.pair->prompt, l.pair->chosen, l.pair->rejected})) return;
            (to_val ? val_lines : train_lines).push_back((int64_t)line);
            (to_val ? val : train).push_back(std::move(*l.pair));
          });
      for (const auto& s : per_thread) r.stats.add(s);
      source.lines = r.counts.lines, source.blank = r.counts.blank, source.invalid_skipped = r.counts.invalid_skipped;
      source.conversational = r.stats.conversational, source.implicit_prompt = r.stats.implicit_prompt;
      source.eos_appended = r.stats.eos_appended, source.bos_deduplicated = r.stats.bos_deduplicated;
      source.boundary_mismatches = r.stats.boundary_mismatches;
      rep.inputs.push_back(std::move(source));
      return r;
    };

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<align::data::PairRecord> train, val;
    const Result main_run = prepare(input, val_fraction > 0, false, train, val);
    Result val_run;
    if (!val_input.empty()) val_run = prepare(val_input, false, true, train, val);
    // Leakage: validation prompts that also occur in the (kept) training split.
    if (rep.splits.size() > 1) {
      align::data::SplitReport& vs = rep.splits[1];
      vs.has_leak_check = true;
      size_t kept = 0;
      for (size_t i = 0; i < val.size(); i++)
        if (vs.findings.check_leak(val_lines[i], {val[i].prompt, val[i].chosen, val[i].rejected},
                                   rep.splits[0].findings))
          if (kept++ != i) val[kept - 1] = std::move(val[i]), val_lines[kept - 1] = val_lines[i];
      val.resize(kept), val_lines.resize(kept);
    }
    ALIGN_REQUIRE(!train.empty(), input, ": no pairs left to write (", main_run.counts.lines, " lines read)");
    align::data::write_pairs(output, meta, train);
    if (!val_output.empty()) align::data::write_pairs(val_output, meta, val);
    auto views = [](const std::vector<align::data::PairRecord>& v) {
      std::vector<align::data::PairsFile::View> out;
      for (const auto& p : v) out.push_back({p.prompt, p.chosen, p.rejected});
      return out;
    };
    rep.splits[0].stats = align::data::pair_stats(views(train), train_lines);
    if (rep.splits.size() > 1) rep.splits[1].stats = align::data::pair_stats(views(val), val_lines);
    align::data::write_report_json(align::data::report_path(output), rep);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    auto report = [](const std::string& what, const Result& r) {
      const align::data::PrepareStats& s = r.stats;
      std::printf("%s: %zu lines, %zu pairs tokenized (%zu conversational, %zu with an implicit prompt)\n", what.c_str(),
                  r.counts.lines - r.counts.blank, s.written, s.conversational, s.implicit_prompt);
      std::printf("  dropped: %zu whose prompt fills --max-length, %zu with no completion tokens left, %zu invalid "
                  "lines skipped, %zu blank lines\n",
                  s.dropped_prompt_fills_max_length, s.dropped_no_completion_tokens, r.counts.invalid_skipped,
                  r.counts.blank);
      std::printf("  %zu prompts whose tokens are not a prefix of prompt+completion (the completion starts where "
                  "they diverge), %zu EOS appended, %zu doubled BOS removed\n",
                  s.boundary_mismatches, s.eos_appended, s.bos_deduplicated);
      std::printf("  tokens %llu; sequence length %s\n", (unsigned long long)s.tokens, percentiles(s.lengths).c_str());
    };
    report(input, main_run);
    if (!val_input.empty()) report(val_input, val_run);
    std::printf("wrote %s (%zu pairs)", output.c_str(), train.size());
    if (!val_output.empty()) std::printf(" and %s (%zu pairs)", val_output.c_str(), val.size());
    std::printf(" in %.2f s (%.0f pairs/s, %d threads)\n", dt, (main_run.counts.lines + val_run.counts.lines) / dt,
                threads);
    align::data::print_report(stdout, rep);
    std::printf("report written to %s\n", align::data::report_path(output).c_str());
    std::fflush(stdout);
    for (const std::string& w : align::data::report_warnings(rep)) std::fprintf(stderr, "warning: %s\n", w.c_str());
    return 0;
  });
}
