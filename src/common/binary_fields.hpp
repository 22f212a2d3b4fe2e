// binary_fields.hpp: little-endian fixed-offset fields of our file headers
// (model.bin, pairs.bin, sft.bin), copied with memcpy so alignment never matters.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

static_assert(std::endian::native == std::endian::little, "align.cu's binary formats assume a little-endian host");

namespace align {

template <typename V>
void put_field(uint8_t* header, size_t offset, V value) {
  std::memcpy(header + offset, &value, sizeof(V));
}

template <typename V>
V read_field(const uint8_t* header, size_t offset) {
  V v;
  std::memcpy(&v, header + offset, sizeof(V));
  return v;
}

}  // namespace align
