// text_escape.cpp: user text in error messages (text_escape.hpp).
#include "common/text_escape.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace align {

namespace {

// Length of the valid UTF-8 sequence at s[i] (shortest form, no surrogates, <= U+10FFFF), 0 if invalid.
size_t valid_sequence(std::string_view s, size_t i) {
  const unsigned char c = s[i];
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c == 0xE0)
    n = 3, lo = 0xA0;
  else if (c == 0xED)
    n = 3, hi = 0x9F;
  else if (c >= 0xE1 && c <= 0xEF)
    n = 3;
  else if (c == 0xF0)
    n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3)
    n = 4;
  else if (c == 0xF4)
    n = 4, hi = 0x8F;
  else
    return 0;
  if (i + n > s.size()) return 0;
  const unsigned char c1 = s[i + 1];
  if (c1 < lo || c1 > hi) return 0;
  for (size_t k = 2; k < n; k++)
    if (((unsigned char)s[i + k] & 0xC0) != 0x80) return 0;
  return n;
}

void hex_byte(std::string& out, unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", b);
  out += buf;
}

}  // namespace

std::string escape_text(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = valid_sequence(s, i);
    const unsigned char c = s[i];
    if (n == 0) {
      hex_byte(out, c);
      i++;
    } else if (n == 1 && (c < 0x20 || c == 0x7F)) {
      if (c == '\n')
        out += "\\n";
      else if (c == '\r')
        out += "\\r";
      else if (c == '\t')
        out += "\\t";
      else
        hex_byte(out, c);
      i++;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

size_t first_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = valid_sequence(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string excerpt(std::string_view s, size_t at, size_t radius) {
  size_t b = at > radius ? at - radius : 0, e = std::min(s.size(), at + radius);
  while (b > 0 && b < s.size() && ((unsigned char)s[b] & 0xC0) == 0x80 && at - b < radius + 3) b--;
  while (e < s.size() && ((unsigned char)s[e] & 0xC0) == 0x80 && e - at < radius + 3) e++;
  return (b > 0 ? "..." : "") + escape_text(s.substr(b, e - b)) + (e < s.size() ? "..." : "");
}

std::string json_error(const std::exception& e, std::string_view text) {
  if (const size_t bad = first_invalid_utf8(text); bad != std::string_view::npos)
    return "invalid UTF-8 at byte " + std::to_string(bad) + ": '" + excerpt(text, bad) + "'";
  std::string what = e.what();
  // nlohmann's parse errors end with "; last read: '...'": the excerpt below says it, escaped.
  if (const size_t lr = what.find("; last read:"); lr != std::string::npos) what.resize(lr);
  if (const auto* pe = dynamic_cast<const nlohmann::json::parse_error*>(&e)) {
    const size_t at = pe->byte > 0 ? pe->byte - 1 : 0;
    return "not valid JSON at byte " + std::to_string(at) + " (" + escape_text(what) + "): '" +
           excerpt(text, std::min(at, text.size())) + "'";
  }
  return "not valid JSON (" + escape_text(what) + ")";
}

}  // namespace align
