// byte_level.hpp: GPT-2's reversible map from bytes to printable code points.
//
// Byte-level BPE works on bytes, but its vocabulary is text; GPT-2 maps each
// byte to a visible character so that no token holds whitespace or control
// codes: the printable ranges '!'..'~', '¡'..'¬', '®'..'ÿ' map to themselves
// and the other 68 bytes to U+0100.. in byte order (so ' ' is 'Ġ', '\n' 'Ċ').
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace align::tok {

class ByteLevelMap {
 public:
  static const ByteLevelMap& get();
  const std::string& encode(uint8_t b) const { return byte_to_utf8_[b]; }  // UTF-8 of the mapped character
  std::string encode(std::string_view bytes) const;
  // Maps a token's characters back to bytes; false when a character is not in the map.
  bool decode(std::string_view text, std::string& out) const;

 private:
  ByteLevelMap();
  std::array<std::string, 256> byte_to_utf8_;
  std::unordered_map<uint32_t, uint8_t> code_point_to_byte_;
};

}  // namespace align::tok
