// utf8.hpp: the UTF-8 the tokenizer needs: making any byte string valid UTF-8
// (each maximal invalid subpart becomes U+FFFD, the rule of Python's
// errors="replace", Rust's from_utf8_lossy and the WHATWG decoder), walking
// code points, and encoding them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace align::tok {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is not one.
int utf8_sequence_length(std::string_view s, size_t i);
std::string sanitize_utf8(std::string_view bytes);  // valid UTF-8, U+FFFD for each maximal invalid subpart
bool is_valid_utf8(std::string_view s);
uint32_t decode_code_point(std::string_view s, size_t i, int* length);  // s must be valid at i
void append_code_point(std::string& out, uint32_t cp);

}  // namespace align::tok
