// byte_level.cpp: GPT-2's bytes_to_unicode (byte_level.hpp).
#include "tokenizer/byte_level.hpp"

#include "tokenizer/utf8.hpp"

namespace align::tok {

ByteLevelMap::ByteLevelMap() {
  uint32_t next = 256;
  for (int b = 0; b < 256; b++) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? (uint32_t)b : next++;
    append_code_point(byte_to_utf8_[b], cp);
    code_point_to_byte_[cp] = (uint8_t)b;
  }
}

const ByteLevelMap& ByteLevelMap::get() {
  static const ByteLevelMap map;
  return map;
}

std::string ByteLevelMap::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_to_utf8_[(uint8_t)c];
  return out;
}

bool ByteLevelMap::decode(std::string_view text, std::string& out) const {
  std::string bytes;
  for (size_t i = 0; i < text.size();) {
    const int n = utf8_sequence_length(text, i);
    if (n == 0) return false;
    int len;
    const uint32_t cp = decode_code_point(text, i, &len);
    auto it = code_point_to_byte_.find(cp);
    if (it == code_point_to_byte_.end()) return false;
    bytes += (char)it->second;
    i += n;
  }
  out += bytes;
  return true;
}

}  // namespace align::tok
