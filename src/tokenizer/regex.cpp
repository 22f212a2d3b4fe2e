// regex.cpp: PCRE2 wrapper (regex.hpp).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.hpp"

#include <pcre2.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "common/error.hpp"
#include "tokenizer/unicode_tables.hpp"

namespace align::tok {

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

// The code points of a general category ("Lu") or major class ("L", "L&" = Lu Ll Lt); nullopt otherwise.
std::optional<Ranges> category_ranges(const std::string& name) {
  std::vector<bool> want(kUnicodeCategoryCount, false);
  bool any = false, unassigned = false;
  for (int k = 0; k < kUnicodeCategoryCount; k++) {
    const std::string n = kUnicodeCategoryNames[k];
    const bool hit =
        name == n || (name.size() == 1 && n[0] == name[0]) || (name == "L&" && (n == "Lu" || n == "Ll" || n == "Lt"));
    if (hit) want[k] = any = true, unassigned |= n == "Cn";
  }
  if (!any) return std::nullopt;
  Ranges out;
  uint32_t next = 0;  // first code point not yet covered (for Cn, the gaps between ranges)
  for (size_t i = 0; i < kUnicodeRangeCount; i++) {
    const UnicodeRange& r = kUnicodeRanges[i];
    if (unassigned && r.first > next) out.emplace_back(next, r.first - 1);
    next = r.last + 1;
    if (!want[r.category]) continue;
    if (!out.empty() && out.back().second + 1 == r.first)
      out.back().second = r.last;
    else
      out.emplace_back(r.first, r.last);
  }
  if (unassigned && next <= 0x10FFFF) out.emplace_back(next, 0x10FFFF);
  return out;
}

Ranges complement(const Ranges& r) {
  Ranges out;
  uint32_t next = 0;
  for (auto [a, b] : r) {
    if (a > next) out.emplace_back(next, a - 1);
    next = b + 1;
  }
  if (next <= 0x10FFFF) out.emplace_back(next, 0x10FFFF);
  return out;
}

// PCRE2 class items for the ranges (surrogates, which UTF-8 patterns cannot name, left out).
std::string class_items(const Ranges& ranges) {
  std::string out;
  char buf[48];
  for (auto [a, b] : ranges) {
    for (auto [x, y] :
         {std::make_pair(a, std::min<uint32_t>(b, 0xD7FF)), std::make_pair(std::max<uint32_t>(a, 0xE000), b)}) {
      if (x > y) continue;
      if (x == y)
        std::snprintf(buf, sizeof buf, "\\x{%X}", x);
      else
        std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", x, y);
      out += buf;
    }
  }
  return out;
}

Ranges intersect(const Ranges& a, const Ranges& b) {
  Ranges out;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const uint32_t lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (lo <= hi) out.emplace_back(lo, hi);
    (a[i].second < b[j].second ? i : j)++;
  }
  return out;
}

const Ranges& newer_code_points() {
  static const Ranges r = [] {
    Ranges n;
    for (size_t i = 0; i < kUnicodeNewerRangeCount; i++)
      n.emplace_back(kUnicodeNewerRanges[i].first, kUnicodeNewerRanges[i].last);
    return n;
  }();
  return r;
}

// The replacement of \p{name} (negated: \P{name} or \p{^name}) inside or outside a class, cached;
// "" when `name` is not a general category (then PCRE2's own tables apply).
const std::string& pinned_replacement(const std::string& name, bool negated, bool in_class, UnicodeMode mode) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, bool, bool, UnicodeMode>, std::string> cache;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(name, negated, in_class, mode);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::string text;
  if (std::optional<Ranges> r = category_ranges(name)) {
    // Only major classes (L, N, P, S, M, Z): between Unicode 14 and 16 two code points changed
    // category within their major class (U+0295 Ll -> Lo, U+1171E Mn -> Mc), none across.
    const bool major_assigned_class = name.size() == 1 && name[0] != 'C';
    if (mode == UnicodeMode::AddNewer && major_assigned_class && !(negated && in_class)) {
      // PCRE2's own class plus the code points its Unicode version lacks
      const std::string own = "\\p{" + name + "}";
      const std::string items = own + class_items(intersect(*r, newer_code_points()));
      text = in_class ? items : (negated ? "[^" : "[") + items + "]";
    } else {
      const std::string items = class_items(negated ? complement(*r) : *r);
      text = in_class ? items : "[" + items + "]";
    }
  }
  return cache.emplace(key, text).first->second;
}

}  // namespace

UnicodeMode default_unicode_mode() {
  static const UnicodeMode mode = [] {
    char version[64] = {0};
    pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, version);
    const int major = std::atoi(version);
    // PCRE2 knows every code point of Unicode 14 as the tables do; add what came after, up to 16.
    return major >= kUnicodeNewerBaseMajor && major <= 16 ? UnicodeMode::AddNewer : UnicodeMode::Explicit;
  }();
  return mode;
}

std::string pin_unicode_classes(const std::string& pattern, UnicodeMode mode) {
  std::string out;
  bool in_class = false;
  size_t class_start = 0;
  for (size_t i = 0; i < pattern.size(); i++) {
    const char c = pattern[i];
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      class_start = i + 1;
      if (class_start < pattern.size() && pattern[class_start] == '^') out += pattern[++i], class_start++;
      if (class_start < pattern.size() && pattern[class_start] == ']') out += pattern[++i];  // a literal ']'
      continue;
    }
    if (c == '[' && in_class && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // [:posix:]
      const size_t end = pattern.find(":]", i + 2);
      if (end != std::string::npos) {
        out += pattern.substr(i, end + 2 - i);
        i = end + 1;
        continue;
      }
    }
    if (c == ']' && in_class) {
      in_class = false;
      out += c;
      continue;
    }
    if (c != '\\' || i + 1 >= pattern.size()) {
      out += c;
      continue;
    }
    const char e = pattern[i + 1];
    std::string name;
    bool negated = false;
    size_t end = i + 2;  // one past the escape
    if (e == 'p' || e == 'P') {
      negated = e == 'P';
      if (i + 2 < pattern.size() && pattern[i + 2] == '{') {
        const size_t close = pattern.find('}', i + 3);
        if (close != std::string::npos) {
          name = pattern.substr(i + 3, close - i - 3);
          end = close + 1;
          if (!name.empty() && name[0] == '^') negated = !negated, name.erase(0, 1);
        }
      } else if (i + 2 < pattern.size()) {
        name = pattern.substr(i + 2, 1);
        end = i + 3;
      }
    } else if (e == 'd' || e == 'D') {  // with PCRE2_UCP, \d is \p{Nd}
      name = "Nd";
      negated = e == 'D';
    }
    static const std::string none;
    const std::string& text = name.empty() ? none : pinned_replacement(name, negated, in_class, mode);
    if (text.empty()) {  // not a general category (a script, say): PCRE2's own tables
      out += pattern.substr(i, 2);
      i++;
      continue;
    }
    out += text;
    i = end - 1;
  }
  return out;
}

Regex::Regex(const std::string& original) {
  // Unicode classes pinned to the tables tokenizers uses, not the system PCRE2's (unicode_tables.hpp).
  const std::string pattern = pin_unicode_classes(original, default_unicode_mode());
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw InputError(cat("regex '", original, "' does not compile (at offset ", offset,
                         " of its pinned form): ", reinterpret_cast<char*>(msg)));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter where JIT is unavailable
  code_ = code;
  match_data_ = pcre2_match_data_create_from_pattern(code, nullptr);
}

Regex::~Regex() {
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  for_each_match(text, [&](size_t b, size_t e) { out.emplace_back(b, e); });
  return out;
}

void Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& f) const {
  auto* code = static_cast<pcre2_code*>(code_);
  auto* md = static_cast<pcre2_match_data*>(match_data_);
  size_t start = 0;
  while (start <= text.size()) {
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                               PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    ALIGN_ASSERT(rc >= 0, "pcre2_match failed with code ", rc);
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      f(b, e);
      start = e;
    } else {  // empty match: step over one code point
      size_t next = b + 1;
      while (next < text.size() && ((uint8_t)text[next] & 0xC0) == 0x80) next++;
      start = next;
    }
  }
}

}  // namespace align::tok
