// data_header.cpp: shared header fields of pairs.bin and sft.bin (data_header.hpp).
#include "data/data_header.hpp"

#include <cstring>

#include "common/binary_fields.hpp"
#include "common/error.hpp"

namespace align::data {

void write_data_header(uint8_t* h, const HeaderFormat& f, const DataHeader& d) {
  std::memset(h, 0, f.header_bytes);
  std::memcpy(h, f.magic, 8);
  put_field<uint32_t>(h, 8, f.version);
  put_field<uint32_t>(h, 12, f.header_bytes);
  put_field<uint32_t>(h, 16, d.vocab_size);
  put_field<int32_t>(h, 20, d.eos_id);
  put_field<uint64_t>(h, 24, d.tokenizer_fingerprint);
}

DataHeader read_data_header(const uint8_t* h, size_t size, const HeaderFormat& f, const std::string& path) {
  ALIGN_REQUIRE(size >= f.header_bytes, path, ": file is ", size, " bytes, shorter than the ", f.header_bytes,
                "-byte header (truncated, or not ", f.kind, " file)");
  ALIGN_REQUIRE(std::memcmp(h, f.magic, 8) == 0, path, ": magic is '", printable(std::string_view((const char*)h, 8)), "', expected '",
                std::string(f.magic, 8), "' (not an align.cu ", f.kind, " file)");
  const uint32_t version = read_field<uint32_t>(h, 8);
  ALIGN_REQUIRE(version == f.version, path, ": format version ", version, ", this build reads version ", f.version);
  ALIGN_REQUIRE(read_field<uint32_t>(h, 12) == f.header_bytes, path, ": field header_bytes = ",
                read_field<uint32_t>(h, 12), ", expected ", f.header_bytes);
  for (size_t i = f.reserved_from; i < f.header_bytes; i++)
    ALIGN_REQUIRE(h[i] == 0, path, ": reserved header byte ", i, " = ", (int)h[i], ", expected 0");
  DataHeader d;
  d.vocab_size = read_field<uint32_t>(h, 16);
  d.eos_id = read_field<int32_t>(h, 20);
  d.tokenizer_fingerprint = read_field<uint64_t>(h, 24);
  ALIGN_REQUIRE(d.vocab_size >= 1 && d.vocab_size <= (1u << 24), path, ": field vocab_size = ", d.vocab_size,
                ", expected 1..16777216");
  ALIGN_REQUIRE(d.eos_id >= -1 && d.eos_id < (int64_t)d.vocab_size, path, ": field eos_id = ", d.eos_id,
                ", expected -1..", d.vocab_size - 1);
  return d;
}

uint32_t read_chat_date(const uint8_t* h, size_t offset, const std::string& path) {
  const uint32_t d = read_field<uint32_t>(h, offset);
  const uint32_t month = d / 100 % 100, day = d % 100;
  ALIGN_REQUIRE(d == 0 || (d / 10000 >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= 31), path,
                ": field chat_date = ", d, ", expected 0 (not recorded) or a date as YYYYMMDD");
  return d;
}

}  // namespace align::data
