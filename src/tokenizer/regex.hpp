// regex.hpp: a compiled PCRE2 pattern (UTF, Unicode properties, JIT) that
// finds all non-overlapping matches, as Rust's `regex`/`onig` do for the
// tokenizers library's Split pre-tokenizer. Owns its PCRE2 objects (RAII).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace align::tok {

// How \p{X} is pinned to unicode_tables.hpp: Explicit lists every range (any PCRE2); AddNewer keeps
// PCRE2's own \p{X} for the major classes L, N, P, S, M, Z and adds the code points assigned after
// Unicode 14 (exact when PCRE2's Unicode is 14 to 16; the explicit form tokenizes about 45% slower).
enum class UnicodeMode { Explicit, AddNewer };
UnicodeMode default_unicode_mode();  // AddNewer when the linked PCRE2's Unicode is 14..16
// The pattern with every \p{X}, \P{X}, \pX (X a general category or major class) and \d, \D
// replaced by pinned classes, inside or outside brackets; script names and the rest left as they are.
std::string pin_unicode_classes(const std::string& pattern, UnicodeMode mode);

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws InputError with PCRE2's message and offset
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Byte ranges [begin, end) of all non-overlapping, non-empty matches in `text` (valid UTF-8).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  // The same matches handed to `f(begin, end)` one by one, in order, without collecting them.
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& f) const;

 private:
  void* code_ = nullptr;        // pcre2_code*
  void* match_data_ = nullptr;  // pcre2_match_data*
};

}  // namespace align::tok
