// data_header.hpp: the header fields pairs.bin and sft.bin share, at the same
// offsets in both: magic (0), version (8), header_bytes (12), vocab_size (16),
// eos_id (20), tokenizer fingerprint (24), and zero reserved bytes at the end.
// One writer and one validating reader for them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace align::data {

struct DataHeader {
  uint32_t vocab_size = 0;
  int32_t eos_id = -1;  // -1: none
  uint64_t tokenizer_fingerprint = 0;
};

struct HeaderFormat {
  const char* magic;     // 8 characters
  uint32_t version;
  uint32_t header_bytes;
  size_t reserved_from;  // bytes [reserved_from, header_bytes) must be zero
  const char* kind;      // "pairs", "SFT": for messages
};

void write_data_header(uint8_t* header, const HeaderFormat& f, const DataHeader& d);
// Validates the shared fields of a mapped file of `size` bytes; InputError naming path and field.
DataHeader read_data_header(const uint8_t* file, size_t size, const HeaderFormat& f, const std::string& path);
// The u32 at `offset`: the YYYYMMDD the chat template's strftime_now reported when the file was
// prepared, 0 when not recorded (files written before the field, or no template used); InputError otherwise.
uint32_t read_chat_date(const uint8_t* header, size_t offset, const std::string& path);

}  // namespace align::data
