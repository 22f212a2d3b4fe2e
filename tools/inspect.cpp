// inspect: validates any align.cu file (model.bin, pairs.bin) and prints its
// header and a summary; the file kind comes from its magic. Exit 0 when the
// file is sound, 2 with one line naming the problem otherwise. For pairs
// files, --report gives prepare_pairs' data report of the tokens as written
// (src/data/pair_report.hpp), without the source JSONL.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "data/jsonl_runner.hpp"
#include "data/pair_report.hpp"
#include "data/pairs_file.hpp"
#include "data/sft_file.hpp"
#include "model/checkpoint.hpp"
#include "model/tensor_table.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

int inspect_model(const std::string& path, bool tensors, bool allow_bad) {
  const align::LoadedModel m =
      align::load_model(path, allow_bad ? align::BadWeights::Allow : align::BadWeights::Refuse);
  const align::TensorTable table(m.info.config);
  std::printf("%s: align.cu model v%u, %s, %s\n", path.c_str(), align::kModelVersion, align::dtype_name(m.info.dtype),
              m.info.config.summary().c_str());
  std::printf("parameters: %zu in %zu tensors (flat buffer %zu), checksum %016llx\n", table.num_parameters(),
              table.tensors().size(), table.total_size(), (unsigned long long)m.info.checksum);
  const std::string bad = align::find_bad_weight(m.info.config, m.params.data());
  if (!bad.empty()) std::printf("bad weights: %s\n", bad.c_str());
  if (tensors) {
    for (const align::TensorSpec& t : table.tensors()) {
      double ss = 0;
      for (size_t i = 0; i < t.numel; i++) ss += (double)m.params[t.offset + i] * m.params[t.offset + i];
      std::string shape;
      for (size_t d = 0; d < t.shape.size(); d++) shape += (d ? ", " : "") + std::to_string(t.shape[d]);
      std::printf("  %-32s [%s] offset %zu%s rms %.6g\n", t.name.c_str(), shape.c_str(), t.offset,
                  t.decay ? " decay" : "", std::sqrt(ss / t.numel));
    }
  }
  return 0;
}

int inspect_pairs(const std::string& path, const std::string& tokenizer, int show) {
  const align::data::PairsFile f(path);
  std::printf("%s: align.cu pairs v%u, %zu pairs, %llu tokens, vocab %u, eos %d, tokenizer %016llx\n", path.c_str(),
              align::data::kPairsVersion, f.size(), (unsigned long long)f.num_tokens(), f.meta().vocab_size,
              f.meta().eos_id, (unsigned long long)f.meta().tokenizer_fingerprint);
  if (f.meta().chat_date) std::printf("  chat template date (strftime_now): %u\n", f.meta().chat_date);
  std::vector<size_t> prompt, completion;
  size_t with_ref = 0;
  for (size_t i = 0; i < f.size(); i++) {
    const auto v = f.get(i);
    prompt.push_back(v.prompt.size());
    completion.push_back(std::max(v.chosen.size(), v.rejected.size()));
    with_ref += f.reference(i).has_value();
  }
  auto pct = [](std::vector<size_t> v) {
    if (v.empty()) return std::string("-");
    std::sort(v.begin(), v.end());
    return align::cat("p50 ", v[v.size() / 2], ", p90 ", v[v.size() * 9 / 10], ", max ", v.back());
  };
  std::printf("prompt tokens: %s; completion tokens (longer of the two): %s\n", pct(prompt).c_str(),
              pct(completion).c_str());
  if (f.reference_fingerprint())
    std::printf("reference log-probs: %zu pairs, from model %016llx\n", with_ref,
                (unsigned long long)f.reference_fingerprint());
  else
    std::printf("reference log-probs: none stored\n");
  if (show > 0) {
    std::optional<align::tok::Tokenizer> tok;
    if (!tokenizer.empty()) tok.emplace(align::tok::Tokenizer::from_file(tokenizer));
    if (tok && tok->fingerprint() != f.meta().tokenizer_fingerprint)
      std::printf("warning: %s is not the tokenizer this file was made with\n", tokenizer.c_str());
    for (size_t i = 0; i < f.size() && (int)i < show; i++) {
      const auto v = f.get(i);
      auto text = [&](std::span<const uint32_t> ids) {
        std::vector<int32_t> x(ids.begin(), ids.end());
        if (tok) return tok->decode(x);
        std::string s;
        for (int32_t id : x) s += (s.empty() ? "" : " ") + std::to_string(id);
        return s;
      };
      std::printf("pair %zu\n  prompt:   %s\n  chosen:   %s\n  rejected: %s\n", i, text(v.prompt).c_str(),
                  text(v.chosen).c_str(), text(v.rejected).c_str());
    }
  }
  return 0;
}

// The data report of a pairs file and its validation file: printed, warnings on stderr, JSON on request.
int report_pairs(const std::string& path, std::string val, const std::string& json_out) {
  if (val.empty() && std::filesystem::exists(align::data::default_val_path(path)))
    val = align::data::default_val_path(path);
  if (val == "none") val.clear();
  const align::data::PairReport r = align::data::report_from_files(path, val);
  align::data::print_report(stdout, r);
  if (!json_out.empty()) {
    align::data::write_report_json(json_out, r);
    std::printf("report written to %s\n", json_out.c_str());
  }
  std::fflush(stdout);
  for (const std::string& w : align::data::report_warnings(r)) std::fprintf(stderr, "warning: %s\n", w.c_str());
  return 0;
}

int inspect_sft(const std::string& path) {
  const align::data::SftFile f(path);
  std::printf("%s: align.cu SFT data v%u (%s), %zu records, %llu tokens of which %llu trained, vocab %u, eos %d, "
              "tokenizer %016llx\n",
              path.c_str(), align::data::kSftVersion,
              f.meta().kind == align::data::SftKind::Stream ? "pre-training stream" : "examples", f.size(),
              (unsigned long long)f.num_tokens(), (unsigned long long)f.num_trained_tokens(), f.meta().vocab_size,
              f.meta().eos_id, (unsigned long long)f.meta().tokenizer_fingerprint);
  if (f.meta().chat_date) std::printf("  chat template date (strftime_now): %u\n", f.meta().chat_date);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("inspect", [&]() -> int {
    CLI::App app{"validate an align.cu file (model.bin, pairs.bin, sft.bin) and print its header and summary", "inspect"};
    std::string path, tokenizer;
    bool tensors = false, allow_bad = false;
    int show = 0;
    app.add_option("file", path, "model.bin, pairs.bin or sft.bin")->required();
    app.add_flag("-t,--tensors", tensors, "model files: list every tensor with its shape, offset and RMS");
    app.add_option("--show", show, "pairs files: print the first N pairs (ids, or text with --tokenizer)")
        ->transform(align::in_domain(align::domains::steps()));
    app.add_flag("--allow-bad-weights", allow_bad, "model files: load weights that are not finite or padded vocabulary "
                 "rows that are not zero (refused everywhere else), and report them");
    app.add_option("--tokenizer", tokenizer, "pairs files: tokenizer.json to decode --show with");
    bool report = false;
    std::string val, report_json;
    app.add_flag("--report", report,
                 "pairs files: the data report of prepare_pairs for the tokens as written (identical answers, "
                 "duplicates, leaked validation prompts, lengths, length bias, shared prefixes)");
    app.add_option("--val", val,
                   "pairs files, --report: the validation file to check for leaked prompts (default: "
                   "FILE's .val.bin when it exists; 'none' for no check)");
    app.add_option("--report-json", report_json,
                   "pairs files: write the report as JSON to this path (implies --report)");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    report = report || !report_json.empty();
    ALIGN_REQUIRE(report || val.empty(), "--val applies to --report only");
    char magic[8] = {};
    std::ifstream in(path, std::ios::binary);
    ALIGN_REQUIRE(in.is_open(), path, ": cannot open");
    in.read(magic, 8);
    if (std::memcmp(magic, align::data::kPairsMagic, 8) == 0) {
      const int rc = inspect_pairs(path, tokenizer, show);
      return report && rc == 0 ? report_pairs(path, val, report_json) : rc;
    }
    ALIGN_REQUIRE(!report, path, ": --report applies to pairs files, this is not one");
    if (std::memcmp(magic, align::data::kSftMagic, 8) == 0) return inspect_sft(path);
    if (std::memcmp(magic, align::kModelMagic, 8) == 0 || in.gcount() < 8) return inspect_model(path, tensors, allow_bad);
    throw align::InputError(align::cat(path, ": magic is '", align::printable(std::string_view(magic, in.gcount())),
                                       "', expected 'ALIGNMDL' (model), 'ALIGNPRS' (pairs) or 'ALIGNSFT' (SFT data)"));
  });
}
