// pairs_file.hpp: pairs.bin, the tokenized preference dataset (docs/formats.md).
//
//   header (128 bytes): magic "ALIGNPRS", version, vocab size, EOS id,
//                       tokenizer fingerprint, counts, section offsets,
//                       fingerprint of the model whose reference log-probs
//                       are stored (0: none yet)
//   index:   (num_pairs + 1) u64 record offsets into the data section
//   data:    per pair u32 prompt_len, chosen_len, rejected_len, then the ids (u32)
//   ref:     per pair f64 reference log-prob sums (chosen, rejected); NaN until computed
// The reader maps the file and validates everything before use: magic,
// version, sizes against the file length, the index, every record's lengths
// and every id against the vocabulary; the first bad record is named.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/mapped_file.hpp"

namespace align::data {

inline constexpr char kPairsMagic[8] = {'A', 'L', 'I', 'G', 'N', 'P', 'R', 'S'};
inline constexpr uint32_t kPairsVersion = 1;
inline constexpr uint32_t kPairsHeaderBytes = 128;

struct PairRecord {
  std::vector<uint32_t> prompt, chosen, rejected;
};

struct PairsMeta {
  uint32_t vocab_size = 0;
  int32_t eos_id = -1;  // -1: none
  uint64_t tokenizer_fingerprint = 0;
  uint32_t chat_date = 0;  // YYYYMMDD the chat template's strftime_now reported; 0: not recorded (older files)
};

void write_pairs(const std::string& path, const PairsMeta& meta, const std::vector<PairRecord>& pairs);

class PairsFile {
 public:
  explicit PairsFile(const std::string& path);  // validates the whole file; InputError naming the first problem
  ~PairsFile();
  PairsFile(const PairsFile&) = delete;
  PairsFile& operator=(const PairsFile&) = delete;

  const PairsMeta& meta() const { return meta_; }
  size_t size() const { return num_pairs_; }
  uint64_t num_tokens() const { return num_tokens_; }
  // Checksum of the records (index and token sections, and the header's vocabulary and EOS): what
  // a checkpoint records to know it resumes on the same data. Stored reference log-probs are not part of it.
  uint64_t content_fingerprint() const;
  // Views into the mapped file, valid while the PairsFile lives.
  struct View {
    std::span<const uint32_t> prompt, chosen, rejected;
  };
  View get(size_t i) const;
  // Reference log-prob sums, when stored by the model with this fingerprint.
  uint64_t reference_fingerprint() const { return ref_fingerprint_; }
  std::optional<std::pair<double, double>> reference(size_t i) const;
  // Stores the reference sums (chosen, rejected per pair) in place and tags them with the model's fingerprint.
  static void store_reference(const std::string& path, uint64_t model_fingerprint,
                              const std::vector<std::pair<double, double>>& sums);

 private:
  std::unique_ptr<MappedFile> file_;
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t size_ = 0;
  PairsMeta meta_;
  uint64_t num_pairs_ = 0, num_tokens_ = 0, ref_fingerprint_ = 0;
  const uint64_t* index_ = nullptr;
  const uint8_t* data_ = nullptr;
  const uint8_t* ref_ = nullptr;  // (num_pairs, 2) float64, only 4-byte aligned: read with ref_at
  double ref_at(size_t k) const;
};

}  // namespace align::data
