// jsonl_runner.hpp: the loop both data-preparation tools run: read a JSONL
// file (or stdin) in blocks, convert the lines of a block on all cores, keep
// the input order, and stop at the first bad line with FILE:LINE: reason --
// or, with skip_invalid, count it and go on. Progress (lines, lines/s) goes
// to stderr.
#pragma once

#include <omp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/text_escape.hpp"

namespace align::data {

struct JsonlCounts {
  size_t lines = 0, blank = 0, invalid_skipped = 0;
};

// convert(json, line_number, thread) -> a record or nullopt (dropped; the converter counts why);
// it throws InputError for a malformed line. The json is the converter's to take strings from
// (moved, not copied): the line's text is freed once parsed, so a long line is held once as text,
// not three times (line, DOM, fields). emit(line_number, record) receives records in input order.
template <typename Record>
JsonlCounts run_jsonl(const std::string& path, bool skip_invalid,
                      const std::function<std::optional<Record>(nlohmann::json&, size_t, int)>& convert,
                      const std::function<void(size_t, Record&&)>& emit) {
  std::ifstream file;
  std::istream* in = &open_input(path, file);
  JsonlCounts counts;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> lines;
  auto flush = [&] {
    const size_t first = counts.lines - lines.size() + 1;
    std::vector<std::optional<Record>> out(lines.size());
    std::vector<std::string> errors(lines.size());
    std::vector<char> blank(lines.size(), 0);
#pragma omp parallel for schedule(dynamic, 64)
    for (size_t k = 0; k < lines.size(); k++) {
      if (lines[k].find_first_not_of(" \t\r") == std::string::npos) {
        blank[k] = 1;
        continue;
      }
      try {
        nlohmann::json j = nlohmann::json::parse(lines[k]);
        std::string().swap(lines[k]);  // parsed: the text's memory goes back before the conversion
        out[k] = convert(j, first + k, omp_get_thread_num());
      } catch (const nlohmann::json::exception& e) {
        errors[k] = json_error(e, lines[k]);
      } catch (const InputError& e) {
        errors[k] = e.what();
      }
    }
    for (size_t k = 0; k < lines.size(); k++) {
      counts.blank += blank[k];
      if (!errors[k].empty()) {
        ALIGN_REQUIRE(skip_invalid, path, ":", first + k, ": ", errors[k], " (use --skip-invalid to skip such lines)");
        counts.invalid_skipped++;
      } else if (out[k]) {
        emit(first + k, std::move(*out[k]));
      }
    }
    lines.clear();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "\r%s: %zu lines, %.0f lines/s", path.c_str(), counts.lines, counts.lines / std::max(dt, 1e-9));
  };
  for (std::string line; std::getline(*in, line);) {
    counts.lines++;
    lines.push_back(std::move(line));
    if (lines.size() == 16384) flush();
  }
  flush();
  std::fprintf(stderr, "\n");
  return counts;
}

// OUTPUT.bin -> OUTPUT.val.bin (or OUTPUT -> OUTPUT.val.bin): the default validation file.
inline std::string default_val_path(const std::string& out) {
  const size_t dot = out.rfind(".bin");
  return (dot != std::string::npos && dot + 4 == out.size() ? out.substr(0, dot) : out) + ".val.bin";
}

// A stable hash of (seed, line) mapped to [0, 1): the validation split.
inline double split_hash(uint64_t seed, uint64_t line) {
  auto mix = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  return (mix(seed ^ mix(line)) >> 11) * 0x1.0p-53;
}

}  // namespace align::data
