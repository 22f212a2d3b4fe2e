// tokenizer.cpp: single-thread encode throughput of align.cu's tokenizer.
//
// Encodes every line of a corpus (default dev/bench/tokenizer_corpus.txt,
// written by dev/reference/make_tokenizer_golden.py) with each tokenizer.json
// given, --repeat times, and prints MB/s (of UTF-8 input) and tokens/s.
// dev/bench/tokenizer_vs_hf.py runs this and Hugging Face tokenizers on one
// thread over the same lines in the same run.
// Last line per file: `result file=... mb_per_s=... tokens=...`.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/cli.hpp"
#include "tokenizer/tokenizer.hpp"

int main(int argc, char** argv) {
  return align::run_main("bench_tokenizer", [&]() -> int {
    CLI::App app{"single-thread encode throughput of tokenizer.json files", "bench_tokenizer"};
    std::vector<std::string> files;
    std::string corpus = "dev/bench/tokenizer_corpus.txt";
    int repeat = 3;
    app.add_option("tokenizers", files, "tokenizer.json files")->required();
    app.add_option("--corpus", corpus, "text file, one document per line")->capture_default_str();
    app.add_option("--repeat", repeat, "passes over the corpus (the best is reported)")->capture_default_str();
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    std::ifstream in(corpus);
    ALIGN_REQUIRE(in, corpus, ": cannot open");
    std::vector<std::string> lines;
    size_t bytes = 0;
    for (std::string line; std::getline(in, line);) bytes += line.size(), lines.push_back(std::move(line));
    for (const std::string& f : files) {
      double best = 1e30;
      size_t tokens = 0;
      for (int r = 0; r < repeat; r++) {
        const align::tok::Tokenizer tok = align::tok::Tokenizer::from_file(f);  // fresh cache each pass
        const auto t0 = std::chrono::steady_clock::now();
        tokens = 0;
        for (const std::string& l : lines) tokens += tok.encode(l).size();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::printf("result file=%s mb_per_s=%.2f tokens=%zu tokens_per_s=%.0f lines=%zu\n", f.c_str(),
                  bytes / best / 1e6, tokens, tokens / best, lines.size());
    }
    return 0;
  });
}
