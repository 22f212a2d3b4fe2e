// bpe.hpp: the BPE model of a tokenizer.json: vocabulary, merges by rank, and
// the encoding of one pre-tokenized piece into ids.
//
// Encoding a piece: split it into symbols (one per character; a character not
// in the vocabulary becomes its UTF-8 bytes as <0xNN> tokens with
// byte_fallback, or the unknown token), then repeatedly merge the adjacent
// pair of lowest merge rank, the leftmost first among equals, until no pair
// has a rank: the same order as the tokenizers library. With ignore_merges
// (Llama 3) a piece that is itself in the vocabulary is emitted whole.
// Results are cached per piece (most text repeats its words).
// Not thread-safe (the cache): use one instance per thread.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace align::tok {

class BpeModel {
 public:
  BpeModel(const nlohmann::json& model, const std::string& where);  // the "model" object of tokenizer.json
  // Appends the piece's ids to `out` (int32_t or uint32_t ids: a record's ids need no converted copy).
  template <typename Id>
  void encode(std::string_view piece, std::vector<Id>& out) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when the id is not in the vocabulary
  int32_t max_id() const { return max_id_; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  template <typename Id>
  void encode_uncached(std::string_view piece, std::vector<Id>& out) const;
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<int32_t, std::string> tokens_;
  struct Merge {
    int32_t rank, merged;
  };
  std::unordered_map<uint64_t, Merge> merges_;  // key (left id << 32 | right id)
  std::optional<int32_t> unk_;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];  // <0xNN> ids, -1 where absent
  int32_t max_id_ = -1;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace align::tok
