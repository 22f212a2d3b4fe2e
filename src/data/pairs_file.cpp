// pairs_file.cpp: pairs.bin writer, validating reader, reference log-prob store (pairs_file.hpp).
#include "data/pairs_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/binary_fields.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/mapped_file.hpp"
#include "data/data_header.hpp"

namespace align::data {

namespace {
const HeaderFormat kFormat{kPairsMagic, kPairsVersion, kPairsHeaderBytes, 84, "a pairs"};
constexpr size_t kOffNumPairs = 32, kOffNumTokens = 40, kOffIndex = 48, kOffData = 56, kOffRef = 64, kOffRefFp = 72,
                 kOffChatDate = 80;
}  // namespace

void write_pairs(const std::string& path, const PairsMeta& meta, const std::vector<PairRecord>& pairs) {
  const uint64_t n = pairs.size();
  std::vector<uint64_t> index(n + 1, 0);
  uint64_t tokens = 0;
  for (uint64_t i = 0; i < n; i++) {
    const PairRecord& p = pairs[i];
    const uint64_t ids = p.prompt.size() + p.chosen.size() + p.rejected.size();
    for (const auto* v : {&p.prompt, &p.chosen, &p.rejected})
      for (uint32_t id : *v)
        ALIGN_ASSERT(id < meta.vocab_size, "pair ", i, ": token id ", id, " >= vocab ", meta.vocab_size);
    index[i + 1] = index[i] + 12 + 4 * ids;
    tokens += ids;
  }
  uint8_t h[kPairsHeaderBytes];
  write_data_header(h, kFormat, DataHeader{meta.vocab_size, meta.eos_id, meta.tokenizer_fingerprint});
  put_field<uint64_t>(h, kOffNumPairs, n);
  put_field<uint64_t>(h, kOffNumTokens, tokens);
  const uint64_t index_off = kPairsHeaderBytes, data_off = index_off + 8 * (n + 1), ref_off = data_off + index[n];
  put_field<uint64_t>(h, kOffIndex, index_off);
  put_field<uint64_t>(h, kOffData, data_off);
  put_field<uint64_t>(h, kOffRef, ref_off);
  put_field<uint64_t>(h, kOffRefFp, 0);
  put_field<uint32_t>(h, kOffChatDate, meta.chat_date);
  write_file_atomic(path, [&](std::FILE* fp) {
    write_all(fp, h, sizeof(h), path);
    write_all(fp, index.data(), 8 * index.size(), path);
    for (const PairRecord& p : pairs) {
      const uint32_t lens[3] = {(uint32_t)p.prompt.size(), (uint32_t)p.chosen.size(), (uint32_t)p.rejected.size()};
      write_all(fp, lens, 12, path);
      for (const auto* v : {&p.prompt, &p.chosen, &p.rejected}) write_all(fp, v->data(), 4 * v->size(), path);
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<double> ref(2 * n, nan);
    write_all(fp, ref.data(), 8 * ref.size(), path);
  });
}

PairsFile::PairsFile(const std::string& path) : file_(std::make_unique<MappedFile>(path)), path_(path) {
  map_ = file_->data();
  size_ = file_->size();
  const uint8_t* h = map_;
  const DataHeader d = read_data_header(h, size_, kFormat, path);
  meta_ = PairsMeta{d.vocab_size, d.eos_id, d.tokenizer_fingerprint, read_chat_date(h, kOffChatDate, path)};
  num_pairs_ = read_field<uint64_t>(h, kOffNumPairs);
  num_tokens_ = read_field<uint64_t>(h, kOffNumTokens);
  ref_fingerprint_ = read_field<uint64_t>(h, kOffRefFp);
  const uint64_t index_off = read_field<uint64_t>(h, kOffIndex), data_off = read_field<uint64_t>(h, kOffData),
                 ref_off = read_field<uint64_t>(h, kOffRef);
  // Every size is checked against the file before it is used to address anything.
  ALIGN_REQUIRE(num_pairs_ <= size_ / 28, path, ": file is ", size_, " bytes, too short for the ", num_pairs_,
                " pairs of its header (truncated)");
  ALIGN_REQUIRE(index_off == kPairsHeaderBytes && data_off == index_off + 8 * (num_pairs_ + 1) && ref_off >= data_off &&
                    ref_off <= size_,
                path, ": section offsets (index ", index_off, ", data ", data_off, ", ref ", ref_off,
                ") are inconsistent with ", num_pairs_, " pairs in ", size_, " bytes");
  const uint64_t expected = ref_off + 16 * num_pairs_;
  ALIGN_REQUIRE(size_ == expected, path, ": file is ", size_, " bytes, the header describes ", expected,
                size_ < expected ? " (truncated)" : " (trailing bytes)");
  index_ = reinterpret_cast<const uint64_t*>(map_ + index_off);
  data_ = map_ + data_off;
  ref_ = map_ + ref_off;
  const uint64_t data_bytes = ref_off - data_off;
  ALIGN_REQUIRE(index_[0] == 0 && index_[num_pairs_] == data_bytes, path, ": index spans [", index_[0], ", ",
                index_[num_pairs_], "], expected [0, ", data_bytes, "]");
  uint64_t tokens = 0;
  for (uint64_t i = 0; i < num_pairs_; i++) {
    const uint64_t b = index_[i], e = index_[i + 1];
    ALIGN_REQUIRE(e >= b + 12 && e <= data_bytes, path, ": record ", i, ": offsets [", b, ", ", e,
                  ") are not a record");
    const uint32_t* rec = reinterpret_cast<const uint32_t*>(data_ + b);
    const uint64_t ids = (uint64_t)rec[0] + rec[1] + rec[2];
    ALIGN_REQUIRE(12 + 4 * ids == e - b, path, ": record ", i, ": lengths ", rec[0], "+", rec[1], "+", rec[2],
                  " do not fill its ", e - b, " bytes");
    ALIGN_REQUIRE(rec[1] >= 1 && rec[2] >= 1, path, ": record ", i, ": a completion is empty (chosen ", rec[1],
                  ", rejected ", rec[2], " tokens)");
    for (uint64_t k = 0; k < ids; k++) {
      const uint32_t id = rec[3 + k];
      if (id >= meta_.vocab_size) {
        const char* part = k < rec[0] ? "prompt" : k < (uint64_t)rec[0] + rec[1] ? "chosen" : "rejected";
        throw InputError(cat(path, ": record ", i, ": token id ", id, " in the ", part, ", expected < ",
                             meta_.vocab_size, " (vocab_size)"));
      }
    }
    tokens += ids;
  }
  ALIGN_REQUIRE(tokens == num_tokens_, path, ": records hold ", tokens, " tokens, header says ", num_tokens_);
}

PairsFile::~PairsFile() = default;

uint64_t PairsFile::content_fingerprint() const {
  const uint64_t meta[2] = {meta_.vocab_size, (uint64_t)(int64_t)meta_.eos_id};
  const uint8_t* records = reinterpret_cast<const uint8_t*>(index_);
  return bytes_checksum(records, ref_ - records, bytes_checksum(meta, sizeof meta));
}

PairsFile::View PairsFile::get(size_t i) const {
  ALIGN_ASSERT(i < num_pairs_, "pair ", i, " of ", num_pairs_);
  const uint32_t* rec = reinterpret_cast<const uint32_t*>(data_ + index_[i]);
  const uint32_t* ids = rec + 3;
  return {{ids, rec[0]}, {ids + rec[0], rec[1]}, {ids + rec[0] + rec[1], rec[2]}};
}

std::optional<std::pair<double, double>> PairsFile::reference(size_t i) const {
  ALIGN_ASSERT(i < num_pairs_, "pair ", i, " of ", num_pairs_);
  const double chosen = ref_at(2 * i), rejected = ref_at(2 * i + 1);
  if (ref_fingerprint_ == 0 || std::isnan(chosen) || std::isnan(rejected)) return std::nullopt;
  return std::make_pair(chosen, rejected);
}

// The reference section starts after the uint32 token ids, so a double there may sit at 4 mod 8:
// copied out rather than loaded through a double pointer (undefined behaviour, slow on some CPUs).
double PairsFile::ref_at(size_t k) const {
  double x;
  std::memcpy(&x, ref_ + 8 * k, sizeof x);
  return x;
}

void PairsFile::store_reference(const std::string& path, uint64_t model_fingerprint,
                                const std::vector<std::pair<double, double>>& sums) {
  ALIGN_ASSERT(model_fingerprint != 0, "a model fingerprint of 0 means 'none'");
  uint64_t ref_off, n;
  {
    const PairsFile f(path);  // validates before writing into it
    n = f.size();
    ref_off = static_cast<uint64_t>(f.ref_ - f.map_);
  }
  ALIGN_REQUIRE(sums.size() == n, path, ": ", sums.size(), " reference sums for ", n, " pairs");
  const int fd = ::open(path.c_str(), O_WRONLY);
  ALIGN_REQUIRE(fd >= 0, path, ": cannot open for writing: ", std::strerror(errno));
  // Clear the tag, write the values, then set the tag: a crash in between leaves no tag, so values
  // from a half-finished store are never taken for a model's.
  const uint64_t zero = 0;
  bool ok = ::pwrite(fd, &zero, 8, kOffRefFp) == 8;
  std::vector<double> flat(2 * n);
  for (uint64_t i = 0; i < n; i++) flat[2 * i] = sums[i].first, flat[2 * i + 1] = sums[i].second;
  ok = ok && ::pwrite(fd, flat.data(), 8 * flat.size(), (off_t)ref_off) == (ssize_t)(8 * flat.size()) &&
       ::fsync(fd) == 0;
  ok = ok && ::pwrite(fd, &model_fingerprint, 8, kOffRefFp) == 8 && ::fsync(fd) == 0;
  ::close(fd);
  ALIGN_REQUIRE(ok, path, ": cannot store reference log-probs: ", std::strerror(errno));
}

}  // namespace align::data
