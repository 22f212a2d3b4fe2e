// error.cpp: out-of-line part of the error family (error.hpp).
#include "common/error.hpp"

namespace align {

std::string printable(std::string_view bytes, size_t max_bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max_bytes; i++) {
    const unsigned char c = bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') out += (char)c;
    else out += cat("\\x", hex[c >> 4], hex[c & 15]);
  }
  if (bytes.size() > max_bytes) out += "...";
  return out;
}

void throw_assert(const char* file, int line, const char* expr, const std::string& msg) {
  throw Error(cat(file, ":", line, ": check failed: ", expr, msg.empty() ? "" : " (", msg, msg.empty() ? "" : ")"));
}

}  // namespace align
