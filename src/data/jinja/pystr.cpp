// pystr.cpp: Python str operations on UTF-8 (pystr.hpp).
#include "data/jinja/pystr.hpp"

#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include <cstdio>

#include "common/error.hpp"

namespace align::data::jinja::pystr {

std::u32string decode(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) {  // not UTF-8: keep the byte as a code point
      out.push_back(c);
      i++;
      continue;
    }
    char32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (int k = 1; k < n; k++) cp = (cp << 6) | (s[i + k] & 0x3f);
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string encode(const std::u32string& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps) {
    if (c < 0x80) {
      out += (char)c;
    } else if (c < 0x800) {
      out += (char)(0xc0 | (c >> 6)), out += (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      out += (char)(0xe0 | (c >> 12)), out += (char)(0x80 | ((c >> 6) & 0x3f)), out += (char)(0x80 | (c & 0x3f));
    } else {
      out += (char)(0xf0 | (c >> 18)), out += (char)(0x80 | ((c >> 12) & 0x3f));
      out += (char)(0x80 | ((c >> 6) & 0x3f)), out += (char)(0x80 | (c & 0x3f));
    }
  }
  return out;
}

size_t length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

// Python's Py_UNICODE_ISSPACE: bidirectional class WS, B or S, or category Zs (a fixed list).
bool is_space(char32_t c) {
  switch (c) {
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x1c:
    case 0x1d:
    case 0x1e:
    case 0x1f:
    case 0x20:
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200a;
  }
}

std::string strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  const std::u32string cps = decode(s);
  const std::u32string set = chars ? decode(*chars) : std::u32string();
  auto drop = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_space(c); };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && drop(cps[b])) b++;
  if (right)
    while (e > b && drop(cps[e - 1])) e--;
  return encode(cps.substr(b, e - b));
}

std::vector<std::string> split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    ALIGN_REQUIRE(!sep->empty(), "split: empty separator");
    size_t from = 0;
    while (maxsplit < 0 || (int64_t)out.size() < maxsplit) {
      const size_t at = s.find(*sep, from);
      if (at == std::string::npos) break;
      out.push_back(s.substr(from, at - from));
      from = at + sep->size();
    }
    out.push_back(s.substr(from));
    return out;
  }
  const std::u32string cps = decode(s);
  size_t i = 0;
  while (true) {
    while (i < cps.size() && is_space(cps[i])) i++;
    if (i == cps.size()) break;
    if (maxsplit >= 0 && (int64_t)out.size() == maxsplit) {  // the rest, trailing whitespace stripped
      size_t e = cps.size();
      while (e > i && is_space(cps[e - 1])) e--;
      out.push_back(encode(cps.substr(i, e - i)));
      break;
    }
    size_t j = i;
    while (j < cps.size() && !is_space(cps[j])) j++;
    out.push_back(encode(cps.substr(i, j - i)));
    i = j;
  }
  return out;
}

namespace {

std::u16string to_u16(const std::u32string& cps) {
  std::u16string out;
  for (char32_t c : cps) {
    if (c >= 0x10000) {
      out += (char16_t)(0xd800 + ((c - 0x10000) >> 10));
      out += (char16_t)(0xdc00 + ((c - 0x10000) & 0x3ff));
    } else {
      out += (char16_t)c;
    }
  }
  return out;
}

std::u32string from_u16(const std::u16string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size(); i++) {
    char32_t c = s[i];
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.size()) c = 0x10000 + ((c - 0xd800) << 10) + (s[++i] - 0xdc00);
    out += c;
  }
  return out;
}

enum class Case { Upper, Lower, Title };

// ICU's full case mapping of a whole string (root locale: no Turkish/Lithuanian rules, as Python).
std::u32string map_case(const std::u32string& cps, Case which) {
  const std::u16string in = to_u16(cps);
  std::u16string out(in.size() * 3 + 4, u'\0');
  UErrorCode err = U_ZERO_ERROR;
  int32_t n = 0;
  auto* dst = reinterpret_cast<UChar*>(out.data());
  const auto* src = reinterpret_cast<const UChar*>(in.data());
  if (which == Case::Upper)
    n = u_strToUpper(dst, (int32_t)out.size(), src, (int32_t)in.size(), "", &err);
  else if (which == Case::Lower)
    n = u_strToLower(dst, (int32_t)out.size(), src, (int32_t)in.size(), "", &err);
  else
    n = u_strToTitle(dst, (int32_t)out.size(), src, (int32_t)in.size(), nullptr, "", &err);
  ALIGN_ASSERT(U_SUCCESS(err), "ICU case mapping failed: ", u_errorName(err));
  out.resize(n);
  return from_u16(out);
}

bool is_cased(char32_t c) {
  return u_hasBinaryProperty((UChar32)c, UCHAR_CASED);
}
bool is_case_ignorable(char32_t c) {
  return u_hasBinaryProperty((UChar32)c, UCHAR_CASE_IGNORABLE);
}

}  // namespace

std::string upper(const std::string& s) {
  return encode(map_case(decode(s), Case::Upper));
}
std::string lower(const std::string& s) {
  return encode(map_case(decode(s), Case::Lower));
}

// Python: a cased character after an uncased one starts a word (titlecased), others are lowercased.
// Python looks only at "cased", not at case-ignorable characters: "they're" -> "They'Re".
std::string title(const std::string& s) {
  const std::u32string cps = decode(s);
  std::u32string out;
  bool previous_cased = false;
  for (size_t i = 0; i < cps.size();) {
    // One run of characters that are all cased or all not.
    const bool cased = is_cased(cps[i]);
    if (!cased) {
      out += cps[i++];
      previous_cased = false;
      continue;
    }
    size_t j = i + 1;
    while (j < cps.size() && is_cased(cps[j])) j++;
    std::u32string word = cps.substr(i, j - i);
    if (!previous_cased) {
      out += map_case(word.substr(0, 1), Case::Title);
      if (word.size() > 1) out += map_case(word.substr(1), Case::Lower);
    } else {
      out += map_case(word, Case::Lower);
    }
    previous_cased = true;
    i = j;
  }
  (void)is_case_ignorable;
  return encode(out);
}

std::string capitalize(const std::string& s) {
  const std::u32string cps = decode(s);
  if (cps.empty()) return s;
  return encode(map_case(cps.substr(0, 1), Case::Title) + map_case(cps.substr(1), Case::Lower));
}

std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (from.empty()) {  // Python inserts `to` between every code point and at both ends
    const std::u32string cps = decode(s);
    std::string out;
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); i++) {
      if (count < 0 || done < count) out += to, done++;
      if (i < cps.size()) out += encode(std::u32string(1, cps[i]));
    }
    return out;
  }
  std::string out;
  size_t from_pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(from, from_pos);
    if (at == std::string::npos) break;
    out += s.substr(from_pos, at - from_pos) + to;
    from_pos = at + from.size();
    done++;
  }
  return out + s.substr(from_pos);
}

int64_t count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return (int64_t)length(s) + 1;
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) n++;
  return n;
}

int64_t find(const std::string& s, const std::string& sub) {
  const size_t at = s.find(sub);
  return at == std::string::npos ? -1 : (int64_t)length(s.substr(0, at));
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0 && s.size() >= p.size();
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string repr(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char32_t c : decode(s)) {
    char buf[16];
    if (c == (char32_t)q || c == '\\')
      out += '\\', out += (char)c;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f)
      std::snprintf(buf, sizeof buf, "\\x%02x", (unsigned)c), out += buf;
    else if (c >= 0x80 && c < 0xa0)
      std::snprintf(buf, sizeof buf, "\\x%02x", (unsigned)c), out += buf;
    else
      out += encode(std::u32string(1, c));
  }
  return out + q;
}

std::string json_quote(const std::string& s, bool ensure_ascii) {
  std::string out = "\"";
  for (char32_t c : decode(s)) {
    char buf[16];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || (ensure_ascii && c > 0x7e && c < 0x10000)) {
          std::snprintf(buf, sizeof buf, "\\u%04x", (unsigned)c);
          out += buf;
        } else if (ensure_ascii && c >= 0x10000) {
          const unsigned v = c - 0x10000;
          std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
          out += buf;
        } else {
          out += encode(std::u32string(1, c));
        }
    }
  }
  return out + "\"";
}

}  // namespace align::data::jinja::pystr
