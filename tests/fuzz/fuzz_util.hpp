// fuzz_util.hpp: what every libFuzzer target (tests/fuzz/fuzz_*.cpp) shares.
//
// The targets feed bytes to the same public entry points the tools use, most
// of which read files: the bytes are written to a private scratch folder
// first. The contract under test: a parser of outside input either accepts it
// or throws align::InputError (one line for the user). Any other exception
// (it would print "internal error"), a crash, or a sanitizer report is a
// finding: expect_input_errors_only aborts so libFuzzer saves the input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace align::fuzz {

// A scratch folder of this process, removed at exit. Never freed: the exit handler that removes
// the folder runs after static destructors registered later.
inline const std::string& scratch_dir() {
  static const std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    auto* d = new std::string(std::string(base && *base ? base : "/tmp") + "/align_fuzz." + std::to_string(::getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

inline std::string write_scratch(const std::string& name, const void* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::FILE* fp = std::fopen(path.c_str(), "wb");
  if (!fp || (size && std::fwrite(data, 1, size, fp) != size)) std::abort();
  std::fclose(fp);
  return path;
}
inline std::string write_scratch(const std::string& name, std::string_view text) {
  return write_scratch(name, text.data(), text.size());
}

// Splits the input at each occurrence of a separator line, so one input can hold several files.
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, size_t parts) {
  static constexpr std::string_view kSep = "\n--8<--\n";
  std::vector<std::string> out;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (out.size() + 1 < parts) {
    const size_t at = rest.find(kSep);
    if (at == std::string_view::npos) break;
    out.emplace_back(rest.substr(0, at));
    rest.remove_prefix(at + kSep.size());
  }
  out.emplace_back(rest);
  out.resize(parts);
  return out;
}

template <typename Body>
void expect_input_errors_only(Body&& body) {
  try {
    body();
  } catch (const InputError&) {
    // the expected way to refuse
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FINDING: an exception other than InputError: %s\n", e.what());
    std::abort();
  }
}

inline std::string test_data(const std::string& rel) {
  return std::string(ALIGN_TEST_DATA) + "/" + rel;
}

}  // namespace align::fuzz
