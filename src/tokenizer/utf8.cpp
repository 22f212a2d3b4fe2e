// utf8.cpp: UTF-8 validation, U+FFFD substitution and code points (utf8.hpp).
//
// Well-formed sequences (Unicode Table 3-7):
//   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC,EE..EF (80..BF)² |
//   ED 80..9F 80..BF | F0 90..BF (80..BF)² | F1..F3 (80..BF)³ | F4 80..8F (80..BF)²
// A sequence that breaks off is replaced by one U+FFFD for the bytes it did
// accept (its maximal subpart), and decoding resumes at the byte that broke it.
#include "tokenizer/utf8.hpp"

namespace align::tok {

namespace {
// Accepted range of the second byte for a lead byte, and the sequence length (0: invalid lead).
struct Lead {
  int length;
  uint8_t lo, hi;
};
Lead lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}
}  // namespace

int utf8_sequence_length(std::string_view s, size_t i) {
  const Lead l = lead_info((uint8_t)s[i]);
  if (l.length <= 1) return l.length;
  if (i + 1 >= s.size() || (uint8_t)s[i + 1] < l.lo || (uint8_t)s[i + 1] > l.hi) return 0;
  for (int k = 2; k < l.length; k++)
    if (i + k >= s.size() || ((uint8_t)s[i + k] & 0xC0) != 0x80) return 0;
  return l.length;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const int n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const int n = utf8_sequence_length(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // Consume the maximal subpart: the lead byte and the continuation bytes it accepted.
    const Lead l = lead_info((uint8_t)s[i]);
    size_t j = i + 1;
    if (l.length > 1 && j < s.size() && (uint8_t)s[j] >= l.lo && (uint8_t)s[j] <= l.hi) {
      j++;
      while (j < s.size() && (int)(j - i) < l.length && ((uint8_t)s[j] & 0xC0) == 0x80) j++;
    }
    out.append(kReplacement);
    i = j;
  }
  return out;
}

uint32_t decode_code_point(std::string_view s, size_t i, int* length) {
  const uint8_t b = (uint8_t)s[i];
  if (b < 0x80) return *length = 1, b;
  if (b < 0xE0) return *length = 2, ((b & 0x1Fu) << 6) | ((uint8_t)s[i + 1] & 0x3Fu);
  if (b < 0xF0)
    return *length = 3, ((b & 0x0Fu) << 12) | (((uint8_t)s[i + 1] & 0x3Fu) << 6) | ((uint8_t)s[i + 2] & 0x3Fu);
  return *length = 4, ((b & 0x07u) << 18) | (((uint8_t)s[i + 1] & 0x3Fu) << 12) | (((uint8_t)s[i + 2] & 0x3Fu) << 6) |
                          ((uint8_t)s[i + 3] & 0x3Fu);
}

void append_code_point(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | (cp >> 6));
    out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | (cp >> 12));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | (cp >> 18));
    out += (char)(0x80 | ((cp >> 12) & 0x3F));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  }
}

}  // namespace align::tok
