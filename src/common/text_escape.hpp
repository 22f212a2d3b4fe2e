// text_escape.hpp: showing user text inside one-line error messages. Bytes
// that are not valid UTF-8 are never echoed raw (a terminal or log would
// garble them): they appear as \xNN, control characters as \n, \t, \xNN, and
// messages about a line give the byte offset and a short escaped excerpt.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace align {

// Valid UTF-8 kept; each byte of an invalid sequence as \xNN; control characters escaped.
std::string escape_text(std::string_view s);
// Byte offset of the first byte that does not start or continue a valid UTF-8 sequence; npos if none.
size_t first_invalid_utf8(std::string_view s);
// About `radius` bytes each side of `at`, escaped, with "..." where cut (cuts fall on character starts).
std::string excerpt(std::string_view s, size_t at, size_t radius = 24);
// Why `text` is not valid JSON: invalid UTF-8 first ("invalid UTF-8 at byte N: 'excerpt'"), else the
// parser's message and its byte offset, escaped.
std::string json_error(const std::exception& e, std::string_view text);

}  // namespace align
