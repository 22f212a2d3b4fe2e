// regex.hpp: a compiled PCRE2 pattern (UTF, Unicode properties, JIT) that
// finds all non-overlapping matches, as Rust's `regex`/`onig` do for the
// tokenizers library's Split pre-tokenizer. Owns its PCRE2 objects (RAII).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace align::tok {

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws InputError with PCRE2's message and offset
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Byte ranges [begin, end) of all non-overlapping, non-empty matches in `text` (valid UTF-8).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  void* code_ = nullptr;        // pcre2_code*
  void* match_data_ = nullptr;  // pcre2_match_data*
};

}  // namespace align::tok
