// sft_file.cpp: sft.bin writer and validating reader (sft_file.hpp).
#include "data/sft_file.hpp"

#include <cerrno>
#include <cstring>

#include "common/binary_fields.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/mapped_file.hpp"
#include "data/data_header.hpp"

namespace align::data {

namespace {
const HeaderFormat kFormat{kSftMagic, kSftVersion, kSftHeaderBytes, 76, "an SFT"};
constexpr size_t kOffKind = 32, kOffNum = 40, kOffTokens = 48, kOffIndex = 56, kOffData = 64, kOffChatDate = 72;
uint64_t record_bytes(uint64_t n) {
  return 4 + 4 * n + (n + 3) / 4 * 4;
}
}  // namespace

void write_sft(const std::string& path, const SftMeta& meta, const std::vector<SftRecord>& records) {
  const uint64_t n = records.size();
  std::vector<uint64_t> index(n + 1, 0);
  uint64_t tokens = 0;
  for (uint64_t i = 0; i < n; i++) {
    ALIGN_ASSERT(records[i].ids.size() == records[i].loss_mask.size(), "record ", i, ": ids and mask differ in length");
    for (uint32_t id : records[i].ids) ALIGN_ASSERT(id < meta.vocab_size, "record ", i, ": id ", id);
    index[i + 1] = index[i] + record_bytes(records[i].ids.size());
    tokens += records[i].ids.size();
  }
  uint8_t h[kSftHeaderBytes];
  write_data_header(h, kFormat, DataHeader{meta.vocab_size, meta.eos_id, meta.tokenizer_fingerprint});
  put_field<uint32_t>(h, kOffKind, static_cast<uint32_t>(meta.kind));
  put_field<uint64_t>(h, kOffNum, n);
  put_field<uint64_t>(h, kOffTokens, tokens);
  put_field<uint64_t>(h, kOffIndex, kSftHeaderBytes);
  put_field<uint64_t>(h, kOffData, kSftHeaderBytes + 8 * (n + 1));
  put_field<uint32_t>(h, kOffChatDate, meta.chat_date);
  write_file_atomic(path, [&](std::FILE* fp) {
    write_all(fp, h, sizeof(h), path);
    write_all(fp, index.data(), 8 * index.size(), path);
    for (const SftRecord& r : records) {
      const uint32_t len = (uint32_t)r.ids.size();
      write_all(fp, &len, 4, path);
      write_all(fp, r.ids.data(), 4 * r.ids.size(), path);
      std::vector<uint8_t> mask = r.loss_mask;
      mask.resize((mask.size() + 3) / 4 * 4, 0);
      write_all(fp, mask.data(), mask.size(), path);
    }
  });
}

SftFile::SftFile(const std::string& path) : file_(std::make_unique<MappedFile>(path)), path_(path) {
  map_ = file_->data();
  size_ = file_->size();
  const uint8_t* h = map_;
  const DataHeader d = read_data_header(h, size_, kFormat, path);
  meta_.vocab_size = d.vocab_size, meta_.eos_id = d.eos_id, meta_.tokenizer_fingerprint = d.tokenizer_fingerprint;
  const uint32_t kind = read_field<uint32_t>(h, kOffKind);
  ALIGN_REQUIRE(kind <= 1, path, ": field kind = ", kind, ", expected 0 (examples) or 1 (stream)");
  meta_.kind = static_cast<SftKind>(kind);
  meta_.chat_date = read_chat_date(h, kOffChatDate, path);
  num_records_ = read_field<uint64_t>(h, kOffNum);
  num_tokens_ = read_field<uint64_t>(h, kOffTokens);
  ALIGN_REQUIRE(num_records_ <= size_ / 12, path, ": file is ", size_, " bytes, too short for the ", num_records_,
                " records of its header (truncated)");
  const uint64_t index_off = read_field<uint64_t>(h, kOffIndex), data_off = read_field<uint64_t>(h, kOffData);
  ALIGN_REQUIRE(index_off == kSftHeaderBytes && data_off == index_off + 8 * (num_records_ + 1) && data_off <= size_,
                path, ": section offsets (index ", index_off, ", data ", data_off, ") are inconsistent with ",
                num_records_, " records in ", size_, " bytes");
  index_ = reinterpret_cast<const uint64_t*>(map_ + index_off);
  data_ = map_ + data_off;
  const uint64_t data_bytes = size_ - data_off;
  ALIGN_REQUIRE(index_[0] == 0 && index_[num_records_] == data_bytes, path, ": file is ", size_,
                " bytes, the index describes ", data_off + index_[num_records_],
                data_off + index_[num_records_] > size_ ? " (truncated)" : "");
  uint64_t tokens = 0;
  for (uint64_t i = 0; i < num_records_; i++) {
    const uint64_t b = index_[i], e = index_[i + 1];
    ALIGN_REQUIRE(e >= b + 4 && e <= data_bytes, path, ": record ", i, ": offsets [", b, ", ", e, ") are not a record");
    const uint32_t n = *reinterpret_cast<const uint32_t*>(data_ + b);
    ALIGN_REQUIRE(record_bytes(n) == e - b, path, ": record ", i, ": length ", n, " does not fill its ", e - b,
                  " bytes");
    const uint32_t* ids = reinterpret_cast<const uint32_t*>(data_ + b + 4);
    const uint8_t* mask = data_ + b + 4 + 4 * (uint64_t)n;
    for (uint32_t k = 0; k < n; k++) {
      ALIGN_REQUIRE(ids[k] < meta_.vocab_size, path, ": record ", i, ": token id ", ids[k], " at position ", k,
                    ", expected < ", meta_.vocab_size, " (vocab_size)");
      ALIGN_REQUIRE(mask[k] <= 1, path, ": record ", i, ": loss mask ", (int)mask[k], " at position ", k,
                    ", expected 0 or 1");
      num_trained_ += mask[k];
    }
    tokens += n;
  }
  ALIGN_REQUIRE(tokens == num_tokens_, path, ": records hold ", tokens, " tokens, header says ", num_tokens_);
}

SftFile::~SftFile() = default;

uint64_t SftFile::content_fingerprint() const {
  const uint64_t meta[3] = {meta_.vocab_size, (uint64_t)(int64_t)meta_.eos_id, (uint64_t)meta_.kind};
  const uint8_t* records = reinterpret_cast<const uint8_t*>(index_);
  return bytes_checksum(records, map_ + size_ - records, bytes_checksum(meta, sizeof meta));
}

SftFile::View SftFile::get(size_t i) const {
  ALIGN_ASSERT(i < num_records_, "record ", i, " of ", num_records_);
  const uint32_t n = *reinterpret_cast<const uint32_t*>(data_ + index_[i]);
  const uint32_t* ids = reinterpret_cast<const uint32_t*>(data_ + index_[i] + 4);
  return {{ids, n}, {data_ + index_[i] + 4 + 4 * (uint64_t)n, n}};
}

}  // namespace align::data
