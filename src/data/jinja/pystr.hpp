// pystr.hpp: Python's str semantics on UTF-8 text, as a Jinja template sees
// strings (jinja2 runs on Python strings): lengths, indices and slices count
// code points; strip/split use Python's whitespace set (str.isspace, which
// includes U+00A0, U+2003, U+3000 ...); upper/lower/title/capitalize follow
// Unicode full case mapping (through ICU, as Python's own tables do). Text
// that is not valid UTF-8 is decoded byte-for-byte as U+FFFD-free Latin-1 so
// that nothing is lost (the data readers validate UTF-8 before it gets here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace align::data::jinja::pystr {

std::u32string decode(const std::string& utf8);
std::string encode(const std::u32string& cps);
size_t length(const std::string& utf8);  // code points

bool is_space(char32_t c);  // Python's str.isspace for one code point
std::string strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right);
// str.split(sep=None, maxsplit=-1)
std::vector<std::string> split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit = -1);
std::string upper(const std::string& s);
std::string lower(const std::string& s);
std::string title(const std::string& s);       // str.title
std::string capitalize(const std::string& s);  // str.capitalize (Python >= 3.8: first code point titlecased)
std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count = -1);
int64_t count(const std::string& s, const std::string& sub);
int64_t find(const std::string& s, const std::string& sub);  // in code points, -1 when absent
bool starts_with(const std::string& s, const std::string& p);
bool ends_with(const std::string& s, const std::string& p);
// Python's repr() of a str (quotes chosen as Python does).
std::string repr(const std::string& s);
// json.dumps of a str with ensure_ascii as given.
std::string json_quote(const std::string& s, bool ensure_ascii);

}  // namespace align::data::jinja::pystr
