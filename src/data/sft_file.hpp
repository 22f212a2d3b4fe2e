// sft_file.hpp: sft.bin, tokenized supervised data (docs/formats.md).
//
//   header (128 bytes): magic "ALIGNSFT", version, vocab size, EOS id,
//                       tokenizer fingerprint, kind, counts, section offsets
//   index:  (num_records + 1) u64 record offsets into the data section
//   record: u32 n, n u32 ids, n u8 loss mask (1: the token is trained on), padded to 4 bytes
// kind 0 (examples): prompt/completion or conversations, mask on completions;
// kind 1 (stream): documents for continued pre-training, every token trained,
// each ending with EOS; the trainer packs them into rows.
// The reader validates everything before use and names the first bad record.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/mapped_file.hpp"

namespace align::data {

inline constexpr char kSftMagic[8] = {'A', 'L', 'I', 'G', 'N', 'S', 'F', 'T'};
inline constexpr uint32_t kSftVersion = 1;
inline constexpr uint32_t kSftHeaderBytes = 128;

enum class SftKind : uint32_t { Examples = 0, Stream = 1 };

struct SftRecord {
  std::vector<uint32_t> ids;
  std::vector<uint8_t> loss_mask;  // same length as ids, 0 or 1
};

struct SftMeta {
  uint32_t vocab_size = 0;
  int32_t eos_id = -1;
  uint64_t tokenizer_fingerprint = 0;
  SftKind kind = SftKind::Examples;
  uint32_t chat_date = 0;  // YYYYMMDD the chat template's strftime_now reported; 0: not recorded (older files)
};

void write_sft(const std::string& path, const SftMeta& meta, const std::vector<SftRecord>& records);

class SftFile {
 public:
  explicit SftFile(const std::string& path);
  ~SftFile();
  SftFile(const SftFile&) = delete;
  SftFile& operator=(const SftFile&) = delete;
  const SftMeta& meta() const { return meta_; }
  size_t size() const { return num_records_; }
  uint64_t num_tokens() const { return num_tokens_; }
  // Checksum of the records (index and token sections, and the header's vocabulary and EOS): what
  // a checkpoint records to know it resumes on the same data. Stored reference log-probs are not part of it.
  uint64_t content_fingerprint() const;
  uint64_t num_trained_tokens() const { return num_trained_; }
  struct View {
    std::span<const uint32_t> ids;
    std::span<const uint8_t> loss_mask;
  };
  View get(size_t i) const;

 private:
  std::unique_ptr<MappedFile> file_;
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t size_ = 0;
  SftMeta meta_;
  uint64_t num_records_ = 0, num_tokens_ = 0, num_trained_ = 0;
  const uint64_t* index_ = nullptr;
  const uint8_t* data_ = nullptr;
};

}  // namespace align::data
